"""boto3 plumbing for the runbooks: a client factory with retry/timeout config, and error classification."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

from hakit.errors import HakitError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53_recovery_cluster import Route53RecoveryClusterClient
    from mypy_boto3_route53_recovery_control_config import Route53RecoveryControlConfigClient

T = TypeVar("T")

# Everything a botocore call raises for a refusal, no answer or an answer that is not AWS's. Catch this tuple,
# never (ClientError, BotoCoreError): an HTML error page (a proxy's 502, an emulator's 500) raises
# ResponseParserError, which derives from Exception, not BotoCoreError.
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError, ResponseParserError)

# Exit code of a mutating call whose outcome is unknown (docs/failover.md).
EXIT_OUTCOME_UNKNOWN = 6

# The ARC control plane (describe_cluster, routing-control config) only exists in us-west-2.
ARC_CONTROL_PLANE_REGION = "us-west-2"
# Route 53 is a global service whose API lives in us-east-1.
ROUTE53_REGION = "us-east-1"

# Error codes AWS services use for "slow down"; all are safe to retry (the request was not executed).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "PriorRequestNotComplete",
        "Throttled",
    }
)
# Server-side trouble worth retrying elsewhere or later.
TRANSIENT_CODES = frozenset(
    {
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailable",
        "EndpointTemporarilyUnavailableException",
    }
)


class ClientFactory(Protocol):
    """Hands out boto3 clients per service and region; tests pass one that returns stubbed clients."""

    def rds(self, region: str) -> RDSClient:
        """RDS client in `region`."""
        ...

    def cloudwatch(self, region: str) -> CloudWatchClient:
        """CloudWatch client in `region`."""
        ...

    def route53(self) -> Route53Client:
        """Route 53 client (global service)."""
        ...

    def dynamodb(self, region: str) -> DynamoDBClient:
        """DynamoDB client in `region`."""
        ...

    def arc_config(self) -> Route53RecoveryControlConfigClient:
        """ARC control-plane client (describe_cluster)."""
        ...

    def arc_cluster(self, endpoint: str, region: str) -> Route53RecoveryClusterClient:
        """ARC data-plane client bound to one cluster endpoint."""
        ...


@dataclass
class Boto3ClientFactory:
    """Real boto3 clients with botocore retries (standard/adaptive) and bounded timeouts, cached per key."""

    profile: str | None = None
    endpoint_url: str | None = None  # a local emulator for every service except the ARC data plane
    retry_mode: Literal["standard", "adaptive", "legacy"] = "adaptive"
    max_attempts: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    # ARC endpoints are tried in turn: fail fast on one and move on to the next.
    arc_max_attempts: int = 2
    arc_connect_timeout: float = 2.0
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    _cache: dict[tuple[str, str, str | None], Any] = field(default_factory=dict, init=False, repr=False)

    def _client(self, service: str, region: str, endpoint_url: str | None, arc: bool = False) -> Any:
        key = (service, region, endpoint_url)
        if key not in self._cache:
            import boto3
            from botocore.config import Config

            if self._session is None:
                self._session = boto3.Session(profile_name=self.profile)
            config = Config(
                retries={
                    "mode": self.retry_mode,
                    "total_max_attempts": self.arc_max_attempts if arc else self.max_attempts,
                },
                connect_timeout=self.arc_connect_timeout if arc else self.connect_timeout,
                read_timeout=self.read_timeout,
            )
            self._cache[key] = self._session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=endpoint_url,
                config=config,
            )
        return self._cache[key]

    def client(self, service: str, region: str) -> Any:
        """Any other service's client with the same retry/timeout config (for other runbooks)."""
        return self._client(service, region, self.endpoint_url)

    def rds(self, region: str) -> RDSClient:
        """RDS client in `region`."""
        return self._client("rds", region, self.endpoint_url)

    def cloudwatch(self, region: str) -> CloudWatchClient:
        """CloudWatch client in `region`."""
        return self._client("cloudwatch", region, self.endpoint_url)

    def route53(self) -> Route53Client:
        """Route 53 client (global service)."""
        return self._client("route53", ROUTE53_REGION, self.endpoint_url)

    def dynamodb(self, region: str) -> DynamoDBClient:
        """DynamoDB client in `region`."""
        return self._client("dynamodb", region, self.endpoint_url)

    def arc_config(self) -> Route53RecoveryControlConfigClient:
        """ARC control-plane client (always us-west-2)."""
        client = self._client("route53-recovery-control-config", ARC_CONTROL_PLANE_REGION, self.endpoint_url)
        return client

    def arc_cluster(self, endpoint: str, region: str) -> Route53RecoveryClusterClient:
        """ARC data-plane client for one cluster endpoint (AWS requires these, not the default endpoint)."""
        return self._client("route53-recovery-cluster", region, endpoint, arc=True)


@dataclass
class Clock:
    """Time as the runbooks see it: injectable so tests never really sleep."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def error_code(err: BaseException) -> str:
    """The AWS error code of a ClientError, or the exception class name."""
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code") or "Unknown")
    return type(err).__name__


def is_throttling(err: BaseException) -> bool:
    """True for a throttling ClientError (the call was not executed and may be retried)."""
    return isinstance(err, ClientError) and error_code(err) in THROTTLING_CODES


def is_transient(err: BaseException) -> bool:
    """True for errors another try (later, or at another endpoint) may cure: throttling, 5xx, network."""
    if isinstance(err, ClientError):
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return is_throttling(err) or error_code(err) in TRANSIENT_CODES or status >= 500
    # Connection refused/timeouts, dropped connections, and HTML error pages from proxies.
    return isinstance(err, BotoConnectionError | HTTPClientError | ResponseParserError)


def _one_line(text: str, limit: int = 300) -> str:
    """Control characters become spaces, runs of spaces one, and the text is cut at `limit`."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _html_title(response: Any, message: str) -> str:
    """The <title> of an HTML error page, wherever botocore's parser left it ('' when there is none)."""
    head = response.get("head")
    if isinstance(head, dict) and head.get("title"):
        return _one_line(str(head["title"]), 80)
    found = re.search(r"<title>(.*?)</title>", message, re.IGNORECASE | re.DOTALL)
    if found:
        return _one_line(found.group(1), 80)
    return "" if message.lstrip().startswith("<") else _one_line(message, 80)


def describe_error(err: BaseException) -> str:
    """One line for a botocore error: `Code: message` (no traceback, no request ids, no HTML bodies)."""
    if isinstance(err, ClientError):
        raw = str(err.response.get("Error", {}).get("Message", ""))
        code = error_code(err)
        if code == "Unknown" or code.isdigit() or raw.lstrip().startswith("<"):
            # No AWS error code, or an HTML page as the message: a proxy, gateway or emulator answered.
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            title = _html_title(err.response, raw)
            what = f"HTTP {status}, not an AWS answer (a proxy or gateway page?)"
            return f"{what}: {title}" if title else what
        message = _one_line(raw)
        return f"{code}: {message}" if message else code
    if isinstance(err, ResponseParserError):
        # botocore appends the whole body (an HTML page) after the first line: keep the first line only.
        first = str(err).split("\n", 1)[0]
        return f"unparsable answer, not an AWS response (an HTML error page?): {_one_line(first, 160)}"
    return _one_line(f"{type(err).__name__}: {err}")


def outcome_unknown(err: BaseException) -> bool:
    """True when a failed call may still have been executed by AWS (so a mutating step may have happened).

    Known outcomes: a parsed 4xx answer to the first attempt (AWS refused it) and errors raised before the
    request left (connection refused, connect timeout, parameter validation). Unknown: a read timeout or a
    dropped connection after sending, a 5xx, an answer that is not AWS's, and any answer after botocore
    retried (an earlier attempt may have been executed; the retry is then refused as a conflict). A 503 or a
    throttling error is AWS saying the request was not processed.
    """
    if isinstance(err, ClientError):
        meta = err.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode", 0) or 0)
        # 503 (and throttling) is AWS's "not processed, try again/elsewhere"; other 5xx may follow execution.
        refused_unprocessed = status == 503 or is_throttling(err)
        return (status >= 500 and not refused_unprocessed) or int(meta.get("RetryAttempts", 0) or 0) > 0
    return isinstance(err, HTTPClientError | ResponseParserError)


class OutcomeUnknownError(HakitError):
    """A mutating call failed in a way that does not tell whether AWS executed it."""

    exit_code = EXIT_OUTCOME_UNKNOWN


def mutation_error(what: str, err: BaseException) -> HakitError:
    """The one-line truth about a failed mutating call: refused (nothing changed) or outcome unknown."""
    if outcome_unknown(err):
        return OutcomeUnknownError(
            f"{what}: outcome unknown ({describe_error(err)}); it may have taken effect: "
            "run `hakit failover status` before anything else"
        )
    return HakitError(f"{what} refused: {describe_error(err)}; nothing was changed by this call")


def retry_throttled(
    call: Callable[[], T],
    clock: Clock,
    *,
    attempts: int = 6,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """Run `call`, retrying throttling errors with exponential backoff (on top of botocore's own retries)."""
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as err:
            if not is_throttling(err) or attempt == attempts - 1:
                raise
            delay = min(base_delay * 2**attempt, max_delay)
            if on_retry is not None:
                on_retry(err, delay)
            clock.sleep(delay)
    raise AssertionError("unreachable")  # the loop either returns or raises


def region_of_arn(arn: str) -> str:
    """The region field of an ARN (`arn:aws:rds:REGION:ACCOUNT:cluster:ID`)."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[3]


def resource_of_arn(arn: str) -> str:
    """The last resource field of an ARN (the cluster identifier of an RDS cluster ARN)."""
    return arn.split(":")[-1].split("/")[-1]

"""boto3 plumbing for the runbooks: a client factory with retry/timeout config, and error classification."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53_recovery_cluster import Route53RecoveryClusterClient
    from mypy_boto3_route53_recovery_control_config import Route53RecoveryControlConfigClient

T = TypeVar("T")

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
        return str(err.response.get("Error", {}).get("Code", "Unknown"))
    return type(err).__name__


def is_throttling(err: BaseException) -> bool:
    """True for a throttling ClientError (the call was not executed and may be retried)."""
    return isinstance(err, ClientError) and error_code(err) in THROTTLING_CODES


def is_transient(err: BaseException) -> bool:
    """True for errors another try (later, or at another endpoint) may cure: throttling, 5xx, network."""
    if isinstance(err, ClientError):
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return is_throttling(err) or error_code(err) in TRANSIENT_CODES or status >= 500
    from botocore.parsers import ResponseParserError

    # Connection refused/timeouts, dropped connections, and HTML error pages from proxies.
    return isinstance(err, BotoConnectionError | HTTPClientError | ResponseParserError)


def describe_error(err: BaseException) -> str:
    """One line for a botocore error: `Code: message` (no traceback, no request ids)."""
    if isinstance(err, ClientError):
        message = str(err.response.get("Error", {}).get("Message", "")).strip()
        return f"{error_code(err)}: {message}" if message else error_code(err)
    return f"{type(err).__name__}: {err}".replace("\n", " ")


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

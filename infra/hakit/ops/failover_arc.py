"""ARC routing controls through the cluster's regional endpoints, each tried in turn (as AWS recommends)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from hakit.errors import HakitError
from hakit.ops.aws import ClientFactory, Clock, describe_error, error_code, is_transient, retry_throttled
from hakit.ops.failover_progress import Reporter

if TYPE_CHECKING:
    from mypy_boto3_route53_recovery_cluster import Route53RecoveryClusterClient
    from mypy_boto3_route53_recovery_cluster.type_defs import UpdateRoutingControlStateEntryTypeDef

T = TypeVar("T")

ON = "On"
OFF = "Off"


@dataclass(frozen=True)
class ArcEndpoint:
    """One regional endpoint of an ARC cluster."""

    url: str
    region: str


class ArcDataPlane:
    """Reads and flips routing controls; every call rotates over the cluster endpoints with backoff rounds."""

    def __init__(
        self,
        factory: ClientFactory,
        cluster_arn: str,
        clock: Clock,
        reporter: Reporter,
        *,
        rounds: int = 3,
        backoff_s: float = 1.0,
    ) -> None:
        self._factory = factory
        self.cluster_arn = cluster_arn
        self._clock = clock
        self._reporter = reporter
        self._rounds = max(1, rounds)
        self._backoff_s = backoff_s
        self._endpoints: list[ArcEndpoint] | None = None

    def endpoints(self) -> list[ArcEndpoint]:
        """The cluster endpoints from describe_cluster (control plane), cached."""
        if self._endpoints is None:
            try:
                response = retry_throttled(
                    lambda: self._factory.arc_config().describe_cluster(ClusterArn=self.cluster_arn),
                    self._clock,
                )
            except (ClientError, BotoCoreError) as err:
                raise HakitError(f"ARC describe_cluster {self.cluster_arn}: {describe_error(err)}") from None
            raw = response.get("Cluster", {}).get("ClusterEndpoints", [])
            self._endpoints = [ArcEndpoint(e["Endpoint"], e["Region"]) for e in raw if e.get("Endpoint")]
            if not self._endpoints:
                raise HakitError(
                    f"ARC cluster {self.cluster_arn} has no endpoints (is it still being created?)"
                )
        return self._endpoints

    def _call(self, what: str, call: Callable[[Route53RecoveryClusterClient], T]) -> T:
        """Try each endpoint in turn; after a full round of transient failures back off and go again."""
        endpoints = self.endpoints()
        last = ""
        for round_no in range(self._rounds):
            for endpoint in endpoints:
                client = self._factory.arc_cluster(endpoint.url, endpoint.region)
                try:
                    return call(client)
                except (ClientError, BotoCoreError) as err:
                    if not is_transient(err):
                        hint = (
                            " (a safety rule blocked it: see --override-safety-rule)"
                            if error_code(err) == "ConflictException"
                            else ""
                        )
                        raise HakitError(
                            f"ARC {what} at {endpoint.region}: {describe_error(err)}{hint}"
                        ) from None
                    last = f"{endpoint.region}: {describe_error(err)}"
                    self._reporter.warn(
                        f"ARC endpoint {endpoint.region} failed ({describe_error(err)}); next endpoint"
                    )
            if round_no < self._rounds - 1:
                self._clock.sleep(self._backoff_s * 2**round_no)
        raise HakitError(
            f"ARC {what}: all {len(endpoints)} cluster endpoints failed, {self._rounds} rounds (last {last})"
        )

    def get_state(self, routing_control_arn: str) -> str:
        """`On` or `Off`."""
        response = self._call(
            "get_routing_control_state",
            lambda c: c.get_routing_control_state(RoutingControlArn=routing_control_arn),
        )
        return response["RoutingControlState"]

    def set_states(self, states: dict[str, str], safety_rules_to_override: tuple[str, ...] = ()) -> None:
        """Set several routing controls in one atomic call (so no moment has every region Off)."""
        entries: list[UpdateRoutingControlStateEntryTypeDef] = [
            {"RoutingControlArn": arn, "RoutingControlState": state}  # type: ignore[typeddict-item]
            for arn, state in states.items()
        ]
        # The parameter is left out, not sent empty, when no rule is overridden.
        rules = list(safety_rules_to_override)
        override = {"SafetyRulesToOverride": rules} if rules else {}
        self._call(
            "update_routing_control_states",
            lambda c: c.update_routing_control_states(UpdateRoutingControlStateEntries=entries, **override),
        )

"""ARC routing controls through the cluster's regional endpoints, each tried in turn (as AWS recommends)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from hakit.errors import HakitError
from hakit.ops.aws import (
    AWS_ERRORS,
    ClientFactory,
    Clock,
    OutcomeUnknownError,
    describe_error,
    error_code,
    is_transient,
    mutation_error,
    outcome_unknown,
    retry_throttled,
)
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
            except AWS_ERRORS as err:
                raise HakitError(f"ARC describe_cluster {self.cluster_arn}: {describe_error(err)}") from None
            raw = response.get("Cluster", {}).get("ClusterEndpoints", [])
            self._endpoints = [ArcEndpoint(e["Endpoint"], e["Region"]) for e in raw if e.get("Endpoint")]
            if not self._endpoints:
                raise HakitError(
                    f"ARC cluster {self.cluster_arn} has no endpoints (is it still being created?)"
                )
        return self._endpoints

    def _call(
        self, what: str, call: Callable[[Route53RecoveryClusterClient], T], *, mutating: bool = False
    ) -> T:
        """Try each endpoint in turn; after a full round of transient failures back off and go again.

        A mutating call is only retried because it is idempotent (it sets states); when every try failed
        and one of them may have reached ARC, the error says the outcome is unknown.
        """
        endpoints = self.endpoints()
        last = ""
        unknown = False
        for round_no in range(self._rounds):
            for endpoint in endpoints:
                client = self._factory.arc_cluster(endpoint.url, endpoint.region)
                try:
                    return call(client)
                except AWS_ERRORS as err:
                    if not is_transient(err):
                        hint = (
                            " (a safety rule blocked it: see --override-safety-rule)"
                            if error_code(err) == "ConflictException"
                            else ""
                        )
                        if mutating and (unknown or outcome_unknown(err)):
                            raise mutation_error(f"ARC {what} at {endpoint.region}", err) from None
                        raise HakitError(
                            f"ARC {what} at {endpoint.region}: {describe_error(err)}{hint}"
                        ) from None
                    unknown = unknown or outcome_unknown(err)
                    last = f"{endpoint.region}: {describe_error(err)}"
                    self._reporter.warn(
                        f"ARC endpoint {endpoint.region} failed ({describe_error(err)}); next endpoint"
                    )
            if round_no < self._rounds - 1:
                self._clock.sleep(self._backoff_s * 2**round_no)
        failed = f"all {len(endpoints)} cluster endpoints failed, {self._rounds} rounds (last {last})"
        if mutating and unknown:
            raise OutcomeUnknownError(
                f"ARC {what}: outcome unknown ({failed}); it may have taken effect: "
                "run `hakit failover status` before anything else"
            )
        raise HakitError(f"ARC {what}: {failed}")

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
            mutating=True,
        )

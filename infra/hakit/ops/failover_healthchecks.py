"""Route 53 health checks: read their state, and move traffic by inverting them (fallback without ARC)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from hakit.errors import HakitError
from hakit.ops.aws import AWS_ERRORS, ClientFactory, Clock, describe_error, mutation_error, retry_throttled
from hakit.ops.failover_progress import Reporter

# Route 53 cannot report observer status for these types (GetHealthCheckStatus refuses them).
_NO_OBSERVATIONS = frozenset({"CALCULATED", "CLOUDWATCH_METRIC", "RECOVERY_CONTROL"})


ROUTE53_HEALTHY_SHARE = 0.18
"""Route 53 calls an endpoint healthy when more than 18 % of its checkers report it healthy."""


@dataclass(frozen=True)
class HealthCheckState:
    """A health check's configuration and what its checkers see (before inversion)."""

    region: str
    check_id: str
    type: str
    inverted: bool
    disabled: bool
    observers: int
    observers_ok: int

    @property
    def endpoint_healthy(self) -> bool | None:
        """Raw checker verdict by Route 53's rule (> 18 % of observers), None when none reports."""
        if self.observers == 0:
            return None
        return self.observers_ok > ROUTE53_HEALTHY_SHARE * self.observers

    @property
    def effective_healthy(self) -> bool | None:
        """What Route 53 routing sees: raw verdict flipped when inverted; disabled checks count healthy."""
        if self.disabled:
            return True
        raw = self.endpoint_healthy
        return None if raw is None else raw != self.inverted


@dataclass(frozen=True)
class InversionChange:
    """One planned update_health_check(Inverted=...)."""

    region: str
    check_id: str
    inverted: bool
    reason: str


def read_health_check(factory: ClientFactory, clock: Clock, region: str, check_id: str) -> HealthCheckState:
    """get_health_check, plus get_health_check_status for endpoint checks."""
    route53 = factory.route53()
    try:
        config = retry_throttled(lambda: route53.get_health_check(HealthCheckId=check_id), clock)[
            "HealthCheck"
        ]["HealthCheckConfig"]
        observers = ok = 0
        if config["Type"] not in _NO_OBSERVATIONS:
            status = retry_throttled(lambda: route53.get_health_check_status(HealthCheckId=check_id), clock)
            reports = [
                o.get("StatusReport", {}).get("Status", "") for o in status.get("HealthCheckObservations", [])
            ]
            observers = len(reports)
            ok = sum(1 for r in reports if r.startswith("Success"))
    except AWS_ERRORS as err:
        raise HakitError(f"route53 health check {check_id} ({region}): {describe_error(err)}") from None
    return HealthCheckState(
        region=region,
        check_id=check_id,
        type=config["Type"],
        inverted=bool(config.get("Inverted", False)),
        disabled=bool(config.get("Disabled", False)),
        observers=observers,
        observers_ok=ok,
    )


def plan_inversion(
    states: list[HealthCheckState], target_region: str
) -> tuple[list[InversionChange], list[str]]:
    """Changes (target first, so some region is always routable) and warnings; pure."""
    changes: list[InversionChange] = []
    warnings: list[str] = []
    for state in sorted(states, key=lambda s: s.region != target_region):
        if state.region == target_region:
            if state.inverted:
                changes.append(
                    InversionChange(state.region, state.check_id, False, "un-invert: target takes traffic")
                )
        elif not state.inverted:
            if state.endpoint_healthy is False:
                # Inverting a check whose endpoint already fails would make Route 53 see it healthy again.
                warnings.append(
                    f"health check {state.check_id} ({state.region}) already fails: left as is; invert it "
                    "once the region recovers, or traffic returns there"
                )
                continue
            changes.append(InversionChange(state.region, state.check_id, True, "invert: drain this region"))
    return changes, warnings


def apply_inversion(
    factory: ClientFactory, clock: Clock, changes: list[InversionChange], reporter: Reporter
) -> None:
    """Apply the changes in order, then read each back to verify Route 53 stored it."""
    route53 = factory.route53()
    for change in changes:
        reporter.info(f"route53: health check {change.check_id} ({change.region}) Inverted={change.inverted}")
        try:
            retry_throttled(
                partial(route53.update_health_check, HealthCheckId=change.check_id, Inverted=change.inverted),
                clock,
            )
        except AWS_ERRORS as err:
            raise mutation_error(f"route53 update_health_check {change.check_id}", err) from None
        try:
            stored = retry_throttled(partial(route53.get_health_check, HealthCheckId=change.check_id), clock)
        except AWS_ERRORS as err:
            raise HakitError(
                f"route53 get_health_check {change.check_id} after the update: {describe_error(err)}"
            ) from None
        if bool(stored["HealthCheck"]["HealthCheckConfig"].get("Inverted", False)) != change.inverted:
            raise HakitError(
                f"route53 health check {change.check_id}: Inverted did not change to {change.inverted}"
            )

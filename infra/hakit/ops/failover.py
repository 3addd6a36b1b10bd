"""Aurora Global Database switchover/failover: pre-checks, plan, act, wait for the writer, move traffic."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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
    retry_throttled,
)
from hakit.ops.aws import EXIT_OUTCOME_UNKNOWN as EXIT_OUTCOME_UNKNOWN  # 6: a mutating call may have happened
from hakit.ops.failover_arc import OFF, ON, ArcDataPlane
from hakit.ops.failover_aurora import (
    GlobalClusterView,
    MemberView,
    describe_global_cluster,
    describe_global_cluster_once,
    member_cluster_status,
    replication_lag_ms,
)
from hakit.ops.failover_healthchecks import (
    InversionChange,
    apply_inversion,
    plan_inversion,
    read_health_check,
)
from hakit.ops.failover_progress import NullReporter, Reporter
from hakit.ops.failover_targets import FailoverTargets

# Exit codes (documented in docs/failover.md).
EXIT_OK = 0
EXIT_ERROR = 1  # an AWS call failed; nothing was changed by this run unless the message says so
EXIT_USAGE = 2  # bad options or stack outputs, or a missing confirmation
EXIT_PRECHECK = 3  # a pre-check refused: nothing was changed
EXIT_WRITER_TIMEOUT = 4  # the switchover/failover was requested but the writer did not flip in time
EXIT_TRAFFIC = 5  # the writer moved, but moving traffic failed: rerun with --traffic-only


class Kind(StrEnum):
    """Planned (no data loss) or unplanned (data loss allowed)."""

    SWITCHOVER = "switchover"
    FAILOVER = "failover"


@dataclass(frozen=True)
class RunbookSettings:
    """Thresholds and timings; the CLI exposes each as an option."""

    max_lag_ms: float = 1000.0
    lag_window_s: int = 300
    poll_interval_s: float = 10.0
    writer_timeout_s: float = 900.0
    throttle_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    arc_rounds: int = 3
    arc_backoff_s: float = 1.0
    safety_rules_to_override: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """One pre-check result; a failed blocking check refuses the run."""

    name: str
    ok: bool
    detail: str
    blocking: bool = True

    def line(self) -> str:
        """`ok|FAIL|warn name: detail`."""
        mark = "ok" if self.ok else ("FAIL" if self.blocking else "warn")
        return f"{mark:4} {self.name}: {self.detail}"


@dataclass
class Plan:
    """What the run will do, and why it may (not) proceed."""

    kind: Kind
    global_cluster: str
    target_region: str
    target: MemberView | None = None
    writer_region: str | None = None
    move_database: bool = True
    lag_ms: float | None = None
    checks: list[Check] = field(default_factory=list)
    traffic_method: str = "none"  # "arc", "health-checks" or "none"
    arc_changes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # arn -> (region, now, new)
    inversions: list[InversionChange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no blocking check failed."""
        return all(c.ok or not c.blocking for c in self.checks)

    def refusal(self) -> HakitError:
        """The error naming every failed blocking check (exit code EXIT_PRECHECK)."""
        failed = [c.line() for c in self.checks if not c.ok and c.blocking]
        return HakitError([f"refused: {line}" for line in failed], EXIT_PRECHECK)

    def steps(self) -> list[str]:
        """The actions, in order, as the operator should read them."""
        steps: list[str] = []
        target = self.target.cluster_id if self.target else "?"
        if self.move_database:
            if self.kind is Kind.SWITCHOVER:
                steps.append(
                    f"rds switchover_global_cluster {self.global_cluster} -> {target} ({self.target_region})"
                )
            else:
                lag = "?" if self.lag_ms is None else f"{self.lag_ms:g}"
                steps.append(
                    f"rds failover_global_cluster {self.global_cluster} -> {target} ({self.target_region}) "
                    f"AllowDataLoss=True (may lose ~{lag} ms of writes)"
                )
            steps.append(f"wait until {target} is the writer")
        if self.traffic_method == "arc":
            changes = ", ".join(f"{region} {now}->{new}" for region, now, new in self.arc_changes.values())
            steps.append(f"ARC update_routing_control_states (one atomic call): {changes}")
        elif self.traffic_method == "health-checks":
            for change in self.inversions:
                where = f"{change.check_id} ({change.region})"
                steps.append(f"route53 update_health_check {where} Inverted={change.inverted}")
            if not self.inversions:
                steps.append("route53 health checks already route to the target: no change")
        else:
            steps.append("no traffic control configured: only the database moves")
        return steps

    def to_json(self) -> dict[str, Any]:
        """JSON-ready plan for --json."""
        return {
            "kind": self.kind.value,
            "global_cluster": self.global_cluster,
            "target_region": self.target_region,
            "target_cluster_arn": self.target.arn if self.target else None,
            "writer_region": self.writer_region,
            "move_database": self.move_database,
            "lag_ms": self.lag_ms,
            "ok": self.ok,
            "checks": [
                {"name": c.name, "ok": c.ok, "blocking": c.blocking, "detail": c.detail} for c in self.checks
            ],
            "traffic_method": self.traffic_method,
            "steps": self.steps(),
        }


class Runbook:
    """Switchover/failover of one stack; all I/O goes through the injected clients, clock and reporter."""

    def __init__(
        self,
        factory: ClientFactory,
        targets: FailoverTargets,
        settings: RunbookSettings | None = None,
        clock: Clock | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        if not targets.global_cluster_identifier:
            raise HakitError(
                "no global cluster: pass --global-cluster or 'globalClusterIdentifier' in stack outputs", 2
            )
        self.factory = factory
        self.targets = targets
        self.global_cluster: str = targets.global_cluster_identifier
        self.settings = settings or RunbookSettings()
        self.clock = clock or Clock()
        self.reporter = reporter or NullReporter()
        self._arc: ArcDataPlane | None = None

    # ------------------------------------------------------------------ plan
    def prepare(self, kind: Kind, target_region: str, *, traffic_only: bool = False) -> Plan:
        """Read-only: run the pre-checks and build the plan (no mutating call)."""
        plan = Plan(kind=kind, global_cluster=self.global_cluster, target_region=target_region)
        plan.move_database = not traffic_only
        # Ask the target region first: in an unplanned failover the writer's region may not answer.
        regions = [target_region, *(r for r in self.targets.all_regions() if r != target_region)]
        view, _ = describe_global_cluster(
            self.factory, self.clock, self.global_cluster, regions, self.reporter
        )
        plan.writer_region = view.writer.region if view.writer else None
        plan.target = view.member_in(target_region)
        plan.checks += self._database_checks(kind, view, plan, traffic_only)
        if plan.target is not None and plan.move_database and plan.ok:
            plan.checks += self._target_checks(kind, plan)
        plan.checks += self._traffic_checks(plan)
        return plan

    def _database_checks(
        self, kind: Kind, view: GlobalClusterView, plan: Plan, traffic_only: bool
    ) -> list[Check]:
        checks: list[Check] = []
        members = ", ".join(f"{m.region}{'*' if m.is_writer else ''}" for m in view.members) or "none"
        target = plan.target
        if target is None:
            checks.append(
                Check(
                    "target",
                    False,
                    f"no member of {view.identifier} in {plan.target_region} (members: {members})",
                )
            )
            return checks
        if traffic_only:
            checks.append(
                Check(
                    "target",
                    target.is_writer,
                    f"{target.cluster_id} is the writer"
                    if target.is_writer
                    else f"--traffic-only: the writer is in {plan.writer_region}, not {plan.target_region}",
                )
            )
            return checks
        if target.is_writer:
            checks.append(
                Check(
                    "target",
                    False,
                    f"{target.cluster_id} in {plan.target_region} is already the writer "
                    "(use --traffic-only to move traffic only)",
                )
            )
            return checks
        checks.append(
            Check(
                "target",
                True,
                f"{target.cluster_id} is a secondary of {view.identifier} (members: {members})",
            )
        )
        busy = view.failover_status is not None
        checks.append(
            Check(
                "global cluster",
                view.status == "available" and not busy,
                f"status {view.status}" + (f", failover {view.failover_status} in progress" if busy else ""),
            )
        )
        if kind is Kind.SWITCHOVER:
            if target.sync_status is None:
                # Not every engine version reports it; say so (a warning) and let the lag check decide.
                checks.append(
                    Check(
                        "replication",
                        False,
                        "synchronization not reported by AWS (the lag check decides)",
                        blocking=False,
                    )
                )
            else:
                synced = target.sync_status == "connected"
                checks.append(Check("replication", synced, f"synchronization {target.sync_status}"))
        return checks

    def _target_checks(self, kind: Kind, plan: Plan) -> list[Check]:
        assert plan.target is not None
        checks: list[Check] = []
        cluster_status = member_cluster_status(self.factory, self.clock, plan.target)
        checks.append(
            Check(
                "target cluster",
                cluster_status == "available",
                f"{plan.target.cluster_id} is {cluster_status}",
            )
        )
        plan.lag_ms = replication_lag_ms(self.factory, self.clock, plan.target, self.settings.lag_window_s)
        limit = self.settings.max_lag_ms
        if plan.lag_ms is None:
            # A switchover cannot prove the secondary caught up; in a disaster the metric may be missing.
            checks.append(
                Check(
                    "lag",
                    False,
                    f"no AuroraGlobalDBReplicationLag datapoint in the last {self.settings.lag_window_s} s",
                    blocking=kind is Kind.SWITCHOVER,
                )
            )
        else:
            checks.append(Check("lag", plan.lag_ms <= limit, f"{plan.lag_ms:g} ms (limit {limit:g} ms)"))
        return checks

    def _traffic_checks(self, plan: Plan) -> list[Check]:
        targets = self.targets
        region = plan.target_region
        if targets.arc_cluster_arn and targets.routing_control_arns:
            plan.traffic_method = "arc"
            if region not in targets.routing_control_arns:
                return [Check("traffic", False, f"no routing control for {region} in routingControlArns")]
            try:
                arc = self._arc_plane()
                for ctl_region, arn in targets.routing_control_arns.items():
                    new = ON if ctl_region == region else OFF
                    plan.arc_changes[arn] = (ctl_region, arc.get_state(arn), new)
            except HakitError as err:
                return [Check("traffic", False, f"ARC: {err}")]
            return [Check("traffic", True, f"ARC cluster with {len(arc.endpoints())} endpoints")]
        if targets.health_check_ids:
            plan.traffic_method = "health-checks"
            if region not in targets.health_check_ids:
                return [Check("traffic", False, f"no health check for {region} in healthCheckIds")]
            try:
                states = [
                    read_health_check(self.factory, self.clock, r, i)
                    for r, i in targets.health_check_ids.items()
                ]
            except HakitError as err:
                return [Check("traffic", False, str(err))]
            plan.inversions, warnings = plan_inversion(states, region)
            return [Check("traffic", True, "health-check inversion (no ARC configured)")] + [
                Check("traffic", False, w, blocking=False) for w in warnings
            ]
        return [
            Check("traffic", False, "no ARC routing controls or health checks configured", blocking=False)
        ]

    def _arc_plane(self) -> ArcDataPlane:
        if self._arc is None:
            assert self.targets.arc_cluster_arn is not None
            self._arc = ArcDataPlane(
                self.factory,
                self.targets.arc_cluster_arn,
                self.clock,
                self.reporter,
                rounds=self.settings.arc_rounds,
                backoff_s=self.settings.arc_backoff_s,
            )
        return self._arc

    # ------------------------------------------------------------------ act
    def execute(self, plan: Plan, *, allow_data_loss: bool = False) -> GlobalClusterView | None:
        """Act on a plan whose checks passed: promote, wait for the writer, move traffic."""
        if not plan.ok:
            raise plan.refusal()
        if plan.kind is Kind.FAILOVER and plan.move_database and not allow_data_loss:
            raise HakitError(
                "failover may lose writes: it needs allow_data_loss (--allow-data-loss --yes)", EXIT_USAGE
            )
        view = None
        if plan.move_database:
            assert plan.target is not None
            self._promote(plan)
            view = self.wait_for_writer(plan.target, plan.target_region, plan.kind)
        try:
            self._move_traffic(plan)
        except HakitError as err:
            moved = f"the writer is in {plan.target_region}, but " if plan.move_database else ""
            # Both traffic methods set absolute states, so --traffic-only is safe whatever happened.
            if isinstance(err, OutcomeUnknownError):
                line = f"{moved}moving traffic: {err}, then rerun with --traffic-only"
            else:
                line = f"{moved}moving traffic failed: {err} (fix, then rerun with --traffic-only)"
            raise HakitError(line, EXIT_TRAFFIC) from None
        return view

    def _promote(self, plan: Plan) -> None:
        assert plan.target is not None
        rds = self.factory.rds(plan.target_region)
        target_arn = plan.target.arn
        self.reporter.info(f"rds: {plan.kind.value} of {self.global_cluster} to {plan.target.cluster_id}")
        try:
            if plan.kind is Kind.SWITCHOVER:
                retry_throttled(
                    lambda: rds.switchover_global_cluster(
                        GlobalClusterIdentifier=self.global_cluster, TargetDbClusterIdentifier=target_arn
                    ),
                    self.clock,
                    on_retry=self._warn_throttled,
                )
            else:
                retry_throttled(
                    lambda: rds.failover_global_cluster(
                        GlobalClusterIdentifier=self.global_cluster,
                        TargetDbClusterIdentifier=target_arn,
                        AllowDataLoss=True,
                    ),
                    self.clock,
                    on_retry=self._warn_throttled,
                )
        except AWS_ERRORS as err:
            raise mutation_error(f"rds {plan.kind.value}_global_cluster", err) from None

    def _warn_throttled(self, err: BaseException, delay: float) -> None:
        self.reporter.warn(f"throttled ({error_code(err)}); retrying in {delay:g} s")

    def wait_for_writer(
        self, target: MemberView, region: str, kind: Kind = Kind.SWITCHOVER
    ) -> GlobalClusterView:
        """Poll describe_global_clusters in the target region until it is the writer; throttling backs off.

        A switchover is done when the global cluster settles (available, no FailoverState). After a
        failover the old primary's region may stay unreachable and the FailoverState with it, so the
        target accepting writes is enough: traffic must not wait for the dead region to come back.
        """
        settings = self.settings
        start = self.clock.monotonic()
        deadline = start + settings.writer_timeout_s
        self.reporter.wait_started(
            f"waiting for {target.cluster_id} to become the writer", settings.writer_timeout_s
        )
        streak = 0
        detail = "no answer yet"
        while True:
            delay = settings.poll_interval_s
            try:
                view = describe_global_cluster_once(self.factory, self.global_cluster, region)
                streak = 0
                writer = view.writer.region if view.writer else "none"
                detail = f"writer {writer}, status {view.status}, failover {view.failover_status or '-'}"
                if view.writer_is(target.arn, settled=kind is Kind.SWITCHOVER):
                    self.reporter.wait_finished(True, detail)
                    if not view.writer_is(target.arn):
                        self.reporter.warn(
                            f"{target.cluster_id} accepts writes; the global cluster is still settling"
                        )
                    return view
            except AWS_ERRORS as err:
                if not is_transient(err):
                    self.reporter.wait_finished(False, describe_error(err))
                    raise HakitError(
                        f"lost track of the promotion of {target.cluster_id}: {describe_error(err)}",
                        EXIT_WRITER_TIMEOUT,
                    ) from None
                delay = min(settings.throttle_backoff_s * 2**streak, settings.max_backoff_s)
                streak += 1
                detail = f"{describe_error(err)}; backing off {delay:g} s"
            elapsed = self.clock.monotonic() - start
            self.reporter.wait_progress(elapsed, detail)
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                self.reporter.wait_finished(False, detail)
                raise HakitError(
                    f"timeout: {target.cluster_id} did not become the writer of {self.global_cluster} within "
                    f"{settings.writer_timeout_s:g} s (last seen: {detail})",
                    EXIT_WRITER_TIMEOUT,
                )
            self.clock.sleep(min(delay, remaining))

    def _move_traffic(self, plan: Plan) -> None:
        if plan.traffic_method == "arc":
            arc = self._arc_plane()
            desired = {arn: new for arn, (_, _, new) in plan.arc_changes.items()}
            # Target first in the entry list: readers of the request see intent at a glance.
            ordered = dict(sorted(desired.items(), key=lambda item: item[1] != ON))
            self.reporter.info("ARC: " + ", ".join(f"{r} -> {n}" for r, _, n in plan.arc_changes.values()))
            arc.set_states(ordered, self.settings.safety_rules_to_override)
            for arn, (ctl_region, _, new) in plan.arc_changes.items():
                state = arc.get_state(arn)
                if state != new:
                    raise HakitError(
                        f"routing control {ctl_region} reads {state} after the update, expected {new}"
                    )
        elif plan.traffic_method == "health-checks":
            apply_inversion(self.factory, self.clock, plan.inversions, self.reporter)
        else:
            self.reporter.warn("no traffic control configured: point clients at the new writer yourself")

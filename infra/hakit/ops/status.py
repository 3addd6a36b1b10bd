"""`hakit failover status`: where the writer is, lag, health checks, routing controls, DynamoDB replicas."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from rich.table import Column, Table

from hakit.errors import HakitError
from hakit.ops.aws import AWS_ERRORS, ClientFactory, Clock, describe_error, error_code, retry_throttled
from hakit.ops.failover_arc import ON, ArcDataPlane
from hakit.ops.failover_aurora import describe_global_cluster, replication_lag_ms
from hakit.ops.failover_healthchecks import HealthCheckState, read_health_check
from hakit.ops.failover_progress import NullReporter, Reporter
from hakit.ops.failover_targets import FailoverTargets


@dataclass(frozen=True)
class MemberStatus:
    """One Aurora member: role, replication state and lag."""

    region: str
    cluster_id: str
    arn: str
    role: str
    sync_status: str | None
    lag_ms: float | None


@dataclass(frozen=True)
class RoutingControlStatus:
    """One ARC routing control."""

    region: str
    arn: str
    state: str


@dataclass(frozen=True)
class TableReplicaStatus:
    """A DynamoDB global table as seen in one region."""

    region: str
    table_status: str
    replica_status: str | None


@dataclass
class StackStatus:
    """Everything `status` gathered; sections that failed are listed in `errors` (best effort)."""

    global_cluster: str | None = None
    global_status: str | None = None
    failover_status: str | None = None
    writer_region: str | None = None
    asked_region: str | None = None
    members: list[MemberStatus] = field(default_factory=list)
    health_checks: list[HealthCheckState] = field(default_factory=list)
    routing_controls: list[RoutingControlStatus] = field(default_factory=list)
    dynamodb_table: str | None = None
    dynamodb: list[TableReplicaStatus] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stable keys, documented in docs/failover.md)."""
        data = asdict(self)
        data["health_checks"] = [
            {**asdict(hc), "endpoint_healthy": hc.endpoint_healthy, "effective_healthy": hc.effective_healthy}
            for hc in self.health_checks
        ]
        return data


def collect_status(
    factory: ClientFactory,
    targets: FailoverTargets,
    clock: Clock | None = None,
    reporter: Reporter | None = None,
    *,
    lag_window_s: int = 300,
    arc_rounds: int = 2,
) -> StackStatus:
    """Read every configured part; a failing part becomes an entry in `errors`, not an exception."""
    clock = clock or Clock()
    reporter = reporter or NullReporter()
    status = StackStatus(
        global_cluster=targets.global_cluster_identifier, dynamodb_table=targets.dynamodb_table_name
    )
    regions = list(targets.all_regions())

    if targets.global_cluster_identifier:
        try:
            view, asked = describe_global_cluster(
                factory, clock, targets.global_cluster_identifier, regions, reporter
            )
            status.global_status, status.failover_status, status.asked_region = (
                view.status,
                view.failover_status,
                asked,
            )
            status.writer_region = view.writer.region if view.writer else None
            for member in view.members:
                lag = None
                if not member.is_writer:
                    try:
                        lag = replication_lag_ms(factory, clock, member, lag_window_s)
                    except HakitError as err:
                        status.errors.append(f"lag {member.region}: {err}")
                status.members.append(
                    MemberStatus(
                        region=member.region,
                        cluster_id=member.cluster_id,
                        arn=member.arn,
                        role="writer" if member.is_writer else "reader",
                        sync_status=member.sync_status,
                        lag_ms=lag,
                    )
                )
            regions += [m.region for m in view.members if m.region not in regions]
        except HakitError as err:
            status.errors.append(f"aurora: {err}")

    for region, check_id in targets.health_check_ids.items():
        try:
            status.health_checks.append(read_health_check(factory, clock, region, check_id))
        except HakitError as err:
            status.errors.append(f"health check {region}: {err}")

    if targets.arc_cluster_arn and targets.routing_control_arns:
        arc = ArcDataPlane(factory, targets.arc_cluster_arn, clock, reporter, rounds=arc_rounds)
        for region, arn in targets.routing_control_arns.items():
            try:
                status.routing_controls.append(RoutingControlStatus(region, arn, arc.get_state(arn)))
            except HakitError as err:
                status.errors.append(f"routing control {region}: {err}")

    if targets.dynamodb_table_name:
        status.dynamodb = _dynamodb_status(
            factory, clock, targets.dynamodb_table_name, regions, status.errors
        )
    return status


def _dynamodb_status(
    factory: ClientFactory, clock: Clock, table: str, regions: list[str], errors: list[str]
) -> list[TableReplicaStatus]:
    """describe_table in every region; replica states as the other regions report them."""
    table_status: dict[str, str] = {}
    replica_status: dict[str, str] = {}
    for region in regions:
        try:
            response = retry_throttled(
                partial(factory.dynamodb(region).describe_table, TableName=table), clock
            )
        except AWS_ERRORS as err:
            if error_code(err) == "ResourceNotFoundException":
                table_status[region] = "MISSING"
            else:
                table_status[region] = "UNREACHABLE"
                errors.append(f"dynamodb {region}: {describe_error(err)}")
            continue
        described = response["Table"]
        table_status[region] = described.get("TableStatus", "UNKNOWN")
        for replica in described.get("Replicas", []):
            name = replica.get("RegionName")
            if name and "ReplicaStatus" in replica:
                replica_status.setdefault(name, replica["ReplicaStatus"])
    return [TableReplicaStatus(r, table_status[r], replica_status.get(r)) for r in regions]


def _fmt_bool(value: bool | None, yes: str, no: str) -> str:
    return "-" if value is None else (yes if value else no)


def render_status(status: StackStatus) -> list[Table]:
    """rich tables for the terminal (pure: no I/O)."""
    tables: list[Table] = []
    if status.global_cluster:
        title = (
            f"Aurora global cluster {status.global_cluster}: {status.global_status or '?'}, "
            f"writer in {status.writer_region or '?'}"
        )
        if status.failover_status:
            title += f", failover {status.failover_status}"
        table = Table(
            "region",
            Column("cluster", overflow="fold"),
            "role",
            "sync",
            "lag (ms)",
            title=title,
            title_justify="left",
        )
        for m in status.members:
            lag = "-" if m.lag_ms is None else f"{m.lag_ms:g}"
            role = f"[bold green]{m.role}[/]" if m.role == "writer" else m.role
            table.add_row(m.region, m.cluster_id, role, m.sync_status or "-", lag)
        tables.append(table)
    if status.health_checks:
        table = Table(
            "region",
            Column("health check", overflow="fold"),
            "type",
            "inverted",
            "endpoint",
            "routing sees",
            title="Route 53 health checks",
            title_justify="left",
        )
        for hc in status.health_checks:
            table.add_row(
                hc.region,
                hc.check_id,
                hc.type,
                "yes" if hc.inverted else "no",
                _fmt_bool(
                    hc.endpoint_healthy,
                    f"healthy {hc.observers_ok}/{hc.observers}",
                    f"failing {hc.observers_ok}/{hc.observers}",
                ),
                _fmt_bool(hc.effective_healthy, "[green]healthy[/]", "[red]unhealthy[/]"),
            )
        tables.append(table)
    if status.routing_controls:
        table = Table(
            "region",
            Column("routing control", overflow="fold"),
            "state",
            title="ARC routing controls",
            title_justify="left",
        )
        for rc in status.routing_controls:
            state = f"[green]{rc.state}[/]" if rc.state == ON else f"[red]{rc.state}[/]"
            table.add_row(rc.region, rc.arn, state)
        tables.append(table)
    if status.dynamodb:
        table = Table(
            "region",
            "table status",
            "replica status",
            title=f"DynamoDB {status.dynamodb_table}",
            title_justify="left",
        )
        for row in status.dynamodb:
            table.add_row(row.region, row.table_status, row.replica_status or "-")
        tables.append(table)
    return tables

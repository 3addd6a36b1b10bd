"""Aurora Global Database reads: global cluster membership, member cluster state, replication lag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from hakit.errors import HakitError
from hakit.ops.aws import (
    AWS_ERRORS,
    ClientFactory,
    Clock,
    describe_error,
    error_code,
    is_transient,
    region_of_arn,
    resource_of_arn,
    retry_throttled,
)
from hakit.ops.failover_progress import Reporter

if TYPE_CHECKING:
    from mypy_boto3_rds.type_defs import GlobalClusterTypeDef

LAG_METRIC = "AuroraGlobalDBReplicationLag"
LAG_PERIOD_S = 60


@dataclass(frozen=True)
class MemberView:
    """One regional cluster of a global database."""

    arn: str
    region: str
    cluster_id: str
    is_writer: bool
    sync_status: str | None


@dataclass(frozen=True)
class GlobalClusterView:
    """A global cluster as describe_global_clusters reports it."""

    identifier: str
    status: str
    engine: str
    members: tuple[MemberView, ...]
    failover_status: str | None
    failover_to: str | None

    @property
    def writer(self) -> MemberView | None:
        """The member that accepts writes (None while a failover has no writer yet)."""
        return next((m for m in self.members if m.is_writer), None)

    def member_in(self, region: str) -> MemberView | None:
        """The member cluster in `region`, if any."""
        return next((m for m in self.members if m.region == region), None)

    def writer_is(self, arn: str, *, settled: bool = True) -> bool:
        """True once `arn` is the writer (and, if `settled`, no failover/switchover is still in progress)."""
        writer = self.writer
        if writer is None or writer.arn != arn:
            return False
        return not settled or (self.failover_status is None and self.status == "available")


def parse_global_cluster(raw: GlobalClusterTypeDef) -> GlobalClusterView:
    """Turn the API shape into a view (pure)."""
    members = tuple(
        MemberView(
            arn=m["DBClusterArn"],
            region=region_of_arn(m["DBClusterArn"]),
            cluster_id=resource_of_arn(m["DBClusterArn"]),
            is_writer=bool(m.get("IsWriter", False)),
            sync_status=m.get("SynchronizationStatus"),
        )
        for m in raw.get("GlobalClusterMembers", [])
    )
    state = raw.get("FailoverState") or {}
    return GlobalClusterView(
        identifier=raw.get("GlobalClusterIdentifier", ""),
        status=raw.get("Status", "unknown"),
        engine=raw.get("Engine", ""),
        members=members,
        failover_status=state.get("Status"),
        failover_to=state.get("ToDbClusterArn"),
    )


def describe_global_cluster_once(factory: ClientFactory, identifier: str, region: str) -> GlobalClusterView:
    """One describe_global_clusters call in `region` (botocore errors propagate, for the caller's retry)."""
    response = factory.rds(region).describe_global_clusters(GlobalClusterIdentifier=identifier)
    for raw in response.get("GlobalClusters", []):
        if raw.get("GlobalClusterIdentifier") == identifier:
            return parse_global_cluster(raw)
    raise HakitError(f"global cluster {identifier!r} not found (asked in {region})")


def describe_global_cluster(
    factory: ClientFactory, clock: Clock, identifier: str, regions: Sequence[str], reporter: Reporter
) -> tuple[GlobalClusterView, str]:
    """Ask each region in turn (the primary's region may be down); return the view and who answered."""
    if not regions:
        raise HakitError(
            "no region to ask about the global cluster: pass --region or 'regions' in stack outputs"
        )
    failures: list[str] = []
    for region in regions:
        try:
            view = retry_throttled(
                partial(describe_global_cluster_once, factory, identifier, region),
                clock,
                on_retry=lambda err, delay: reporter.warn(
                    f"rds throttled ({error_code(err)}); retry in {delay:g}s"
                ),
            )
            return view, region
        except AWS_ERRORS as err:
            if error_code(err) == "GlobalClusterNotFoundFault":
                raise HakitError(f"global cluster {identifier!r} not found (asked in {region})") from None
            if not is_transient(err):
                raise HakitError(f"rds describe_global_clusters in {region}: {describe_error(err)}") from None
            failures.append(f"{region}: {describe_error(err)}")
            reporter.warn(f"rds in {region} unavailable ({describe_error(err)}); asking the next region")
    raise HakitError(f"global cluster {identifier!r}: no region answered ({'; '.join(failures)})")


def member_cluster_status(factory: ClientFactory, clock: Clock, member: MemberView) -> str:
    """Status of a member cluster (`available`, `modifying`, ...) from its own region."""
    try:
        response = retry_throttled(
            lambda: factory.rds(member.region).describe_db_clusters(DBClusterIdentifier=member.arn), clock
        )
    except AWS_ERRORS as err:
        raise HakitError(
            f"rds describe_db_clusters {member.cluster_id} in {member.region}: {describe_error(err)}"
        ) from None
    clusters = response.get("DBClusters", [])
    return clusters[0].get("Status", "unknown") if clusters else "missing"


def replication_lag_ms(
    factory: ClientFactory, clock: Clock, member: MemberView, window_s: int
) -> float | None:
    """Latest AuroraGlobalDBReplicationLag (ms) of a secondary, or None when CloudWatch has no datapoint."""
    end = clock.now().replace(microsecond=0)
    request: dict[str, Any] = {
        "Namespace": "AWS/RDS",
        "MetricName": LAG_METRIC,
        "Dimensions": [{"Name": "DBClusterIdentifier", "Value": member.cluster_id}],
        "StartTime": end - timedelta(seconds=window_s),
        "EndTime": end,
        "Period": LAG_PERIOD_S,
        "Statistics": ["Maximum"],
    }
    try:
        response = retry_throttled(
            lambda: factory.cloudwatch(member.region).get_metric_statistics(**request), clock
        )
    except AWS_ERRORS as err:
        raise HakitError(f"cloudwatch {LAG_METRIC} for {member.cluster_id}: {describe_error(err)}") from None
    points = [p for p in response.get("Datapoints", []) if "Maximum" in p and "Timestamp" in p]
    if not points:
        return None
    # The newest minute is the current lag; an old spike must not block a switchover now.
    latest = max(points, key=lambda p: p["Timestamp"])
    return float(latest["Maximum"])

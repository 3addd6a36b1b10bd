"""High-availability rules over raw pulumi-aws resources: single points of failure and broken failover."""

from __future__ import annotations

from collections.abc import Iterator

from hakit.analysis import tokens
from hakit.analysis.keepalived import failure_domain, vrrp_groups
from hakit.analysis.model import Severity, rule
from hakit.analysis.view import Resource, StackView, is_unknown, region_from_arn

Hit = Iterator[tuple[Resource, str]]


def failover_type(record: Resource) -> str | None:
    """PRIMARY/SECONDARY for a failover record, else None."""
    for policy in record.items("failoverRoutingPolicies"):
        kind = policy.get("type") if isinstance(policy, dict) else None
        if isinstance(kind, str):
            return kind.upper()
    return None


def record_key(view: StackView, record: Resource) -> tuple[str, str, str]:
    """(zone, name, type) identifying a record set; a zone given by reference is keyed by its URN."""
    zone_refs = record.refs.get("zoneId", ())
    zone = record.get("zoneId")
    zone_key = zone if isinstance(zone, str) and not is_unknown(zone) else ",".join(zone_refs)
    return zone_key, str(record.get("name", "")).rstrip(".").lower(), str(record.get("type", ""))


def failover_groups(view: StackView) -> dict[tuple[str, str, str], list[Resource]]:
    """Failover records grouped by record set."""
    groups: dict[tuple[str, str, str], list[Resource]] = {}
    for record in view.of_type(tokens.RECORD):
        if failover_type(record) is not None:
            groups.setdefault(record_key(view, record), []).append(record)
    return groups


ROUTING_POLICIES = {
    "failoverRoutingPolicies": "failover",
    "latencyRoutingPolicies": "latency",
    "weightedRoutingPolicies": "weighted",
    "geolocationRoutingPolicies": "geolocation",
    "geoproximityRoutingPolicy": "geoproximity",
    "cidrRoutingPolicy": "cidr",
    "multivalueAnswerRoutingPolicy": "multivalue",
}
"""Record props that make a record one answer of a routed set, and the policy's short name."""


def routing_policy(record: Resource) -> str | None:
    """failover/latency/weighted/... for a record of a routed set, else None (a simple record)."""
    for key, policy in ROUTING_POLICIES.items():
        value = record.get(key)
        if value not in (None, [], {}, False):
            return policy
    return None


def routed_groups(view: StackView) -> dict[tuple[str, str, str], list[Resource]]:
    """Records of routed sets (any routing policy) grouped by record set: Route 53 drops unhealthy answers."""
    groups: dict[tuple[str, str, str], list[Resource]] = {}
    for record in view.of_type(tokens.RECORD):
        if routing_policy(record) is not None:
            groups.setdefault(record_key(view, record), []).append(record)
    return groups


def evaluates_target_health(record: Resource) -> bool:
    """True for an alias record with evaluate_target_health."""
    return any(isinstance(a, dict) and a.get("evaluateTargetHealth") is True for a in record.items("aliases"))


@rule(
    "HA001",
    "failover-record-without-health-check",
    Severity.HIGH,
    "ha",
    "A PRIMARY failover record (and every answer of a latency/weighted/... set) has a health check "
    "or an alias evaluating target health.",
)
def failover_record_without_health_check(view: StackView) -> Hit:
    """Route 53 treats an answer without health check as always healthy: it never fails over from it."""
    for record in view.of_type(tokens.RECORD):
        policy = routing_policy(record)
        if policy is None or failover_type(record) == "SECONDARY":
            continue
        if not record.get("healthCheckId") and not evaluates_target_health(record):
            what = "PRIMARY failover record" if policy == "failover" else f"{policy} record"
            yield (
                record,
                f"{what} {record.get('name')} ({record.get('setIdentifier')}) has no health check and does "
                "not evaluate target health: Route 53 keeps answering with it when it is down",
            )


@rule(
    "HA002",
    "failover-primary-without-secondary",
    Severity.HIGH,
    "ha",
    "Every failover record set has exactly one PRIMARY and one SECONDARY.",
)
def failover_primary_without_secondary(view: StackView) -> Hit:
    """A lone PRIMARY has nowhere to fail over to; a lone SECONDARY never gets traffic."""
    for (_, name, type_), records in failover_groups(view).items():
        kinds = [failover_type(r) for r in records]
        for wanted, other in (("PRIMARY", "SECONDARY"), ("SECONDARY", "PRIMARY")):
            if wanted in kinds and other not in kinds:
                culprit = records[kinds.index(wanted)]
                yield culprit, f"{type_} {name}: a {wanted} failover record without a {other}"
            if kinds.count(wanted) > 1:
                culprit = records[[i for i, k in enumerate(kinds) if k == wanted][1]]
                yield culprit, f"{type_} {name}: {kinds.count(wanted)} {wanted} records (Route 53 allows one)"


def lb_zones(view: StackView, lb: Resource) -> set[str] | None:
    """The failure domains of a load balancer: its subnets' AZs when known, else the subnet ids."""
    subnet_ids = [s for s in lb.items("subnets") if isinstance(s, str)]
    subnet_ids += [str(m.get("subnetId")) for m in lb.items("subnetMappings") if isinstance(m, dict)]
    if is_unknown(lb.get("subnets")) or any(is_unknown(s) for s in subnet_ids):
        return None
    resolved = view.referenced(lb, "subnets", tokens.SUBNET) + view.referenced(
        lb, "subnetMappings", tokens.SUBNET
    )
    zones = {str(s.get("availabilityZone") or s.get("availabilityZoneId") or s.urn) for s in resolved}
    if resolved and len(resolved) >= len(set(subnet_ids)):
        return zones
    return {str(s) for s in subnet_ids if s}


@rule(
    "HA003",
    "load-balancer-single-az",
    Severity.HIGH,
    "ha",
    "A load balancer spans at least two availability zones (bare metal: a cluster has two nodes).",
)
def load_balancer_single_az(view: StackView) -> Hit:
    """One AZ (or one subnet) makes the load balancer a single point of failure."""
    for lb in view.of_type(*tokens.LOAD_BALANCERS):
        zones = lb_zones(view, lb)
        if zones is not None and len(zones) < 2:
            where = ", ".join(sorted(zones)) or "no subnets"
            yield (
                lb,
                f"load balancer {lb.name} is in one availability zone ({where}): use subnets in two or more",
            )


def global_members(view: StackView, global_cluster: Resource) -> list[Resource]:
    """Aurora clusters that join `global_cluster` (by reference or by identifier)."""
    ident = global_cluster.get("globalClusterIdentifier")
    members = []
    for cluster in view.of_type(tokens.RDS_CLUSTER):
        refs = cluster.refs.get("globalClusterIdentifier", ())
        if global_cluster.urn in refs or (ident and cluster.get("globalClusterIdentifier") == ident):
            members.append(cluster)
    return members


def table_regions(view: StackView, table: Resource) -> set[str]:
    """Regions holding a copy of a DynamoDB table (its own, `replicas`, TableReplica resources)."""
    regions = {table.region} if table.region else set()
    regions |= {
        str(r["regionName"]) for r in table.items("replicas") if isinstance(r, dict) and r.get("regionName")
    }
    for replica in view.referencing(table, tokens.DYNAMODB_REPLICA):
        if replica.region:
            regions.add(replica.region)
    return regions


@rule(
    "HA004",
    "database-without-cross-region-replica",
    Severity.HIGH,
    "ha",
    "A database has a replica in another region (Aurora global database, RDS cross-region replica, "
    "DynamoDB global table, DSQL multi-region peers).",
)
def database_without_cross_region_replica(view: StackView) -> Hit:
    """Losing the region loses the database unless a copy lives elsewhere."""
    in_global: set[str] = set()
    for global_cluster in view.of_type(tokens.GLOBAL_CLUSTER):
        members = global_members(view, global_cluster)
        in_global |= {m.urn for m in members}
        regions = {m.region for m in members if m.region}
        if len(regions) < 2:
            yield (
                global_cluster,
                f"global database {global_cluster.name} has clusters in {len(regions)} region(s): "
                "add a secondary cluster in another region",
            )
    replicated_sources = {
        urn
        for cluster in view.of_type(tokens.RDS_CLUSTER, tokens.RDS_INSTANCE)
        for key in ("replicationSourceIdentifier", "replicateSourceDb")
        for urn in cluster.refs.get(key, ())
    }
    for db in view.of_type(tokens.RDS_CLUSTER, tokens.RDS_INSTANCE):
        if db.type == tokens.RDS_INSTANCE and db.get("clusterIdentifier"):
            continue
        is_replica = db.get("replicationSourceIdentifier") or db.get("replicateSourceDb")
        if (
            db.urn in in_global
            or db.get("globalClusterIdentifier")
            or is_replica
            or db.urn in replicated_sources
        ):
            continue
        yield db, f"database {db.name} has no replica in another region (use a global database or a replica)"
    for table in view.of_type(tokens.DYNAMODB_TABLE):
        if len(table_regions(view, table)) < 2:
            yield table, f"DynamoDB table {table.name} has no replica in another region (global table)"
    peered = {urn for p in view.of_type(tokens.DSQL_PEERING) for urns in p.refs.values() for urn in urns}
    for dsql in view.of_type(tokens.DSQL_CLUSTER):
        if not dsql.get("multiRegionProperties") and dsql.urn not in peered:
            yield dsql, f"DSQL cluster {dsql.name} is single-region (no multi-region peers)"


def copy_regions(view: StackView, plan: Resource) -> set[str]:
    """Regions of the vaults a backup plan copies recovery points to."""
    regions: set[str] = set()
    vaults = {v.urn: v for v in view.referenced(plan, "rules", tokens.BACKUP_VAULT)}
    for plan_rule in plan.items("rules"):
        if not isinstance(plan_rule, dict):
            continue
        for action in plan_rule.get("copyActions") or []:
            arn = action.get("destinationVaultArn") if isinstance(action, dict) else None
            region = region_from_arn(arn)
            if region is None:
                region = next(
                    (v.region for v in vaults.values() if arn in (v.get("arn"), v.physical_id)), None
                )
            if region is None and is_unknown(arn):
                # Preview: the vault ARN is unknown; its region is that of a referenced vault elsewhere.
                region = next((v.region for v in vaults.values() if v.region != plan.region), None)
            if region:
                regions.add(region)
    return regions


@rule(
    "HA005",
    "backup-without-cross-region-copy",
    Severity.MEDIUM,
    "ha",
    "A backup plan copies its recovery points to a vault in another region.",
)
def backup_without_cross_region_copy(view: StackView) -> Hit:
    """Backups in the same region die with the region."""
    for plan in view.of_type(tokens.BACKUP_PLAN):
        if not (copy_regions(view, plan) - {plan.region}):
            yield plan, f"backup plan {plan.name} has no copy action to a vault in another region"


@rule(
    "HA006",
    "keepalived-pair-single-az",
    Severity.HIGH,
    "ha",
    "A keepalived (VRRP) group has two or more nodes in different availability zones.",
)
def keepalived_pair_single_az(view: StackView) -> Hit:
    """A VRRP pair in one AZ fails with that AZ; a lone node is no pair at all."""
    for vrid, nodes in vrrp_groups(view).items():
        if len(nodes) < 2:
            yield nodes[0].instance, f"keepalived VRID {vrid} runs on one instance only: no standby"
            continue
        domains = [failure_domain(view, n.instance) for n in nodes]
        if None not in domains and len(set(domains)) < 2:
            names = ", ".join(n.instance.name for n in nodes)
            yield (
                nodes[1].instance,
                f"keepalived VRID {vrid} nodes ({names}) share one failure domain: {domains[0]}",
            )


@rule(
    "HA007",
    "keepalived-equal-priorities",
    Severity.HIGH,
    "ha",
    "keepalived nodes of one VRRP group have distinct priorities (one clear master).",
)
def keepalived_equal_priorities(view: StackView) -> Hit:
    """Equal priorities make the master the node with the highest IP: accidental, and flapping on restarts."""
    for vrid, nodes in vrrp_groups(view).items():
        seen: dict[int, str] = {}
        for node in nodes:
            if node.priority in seen:
                yield (
                    node.instance,
                    f"keepalived VRID {vrid}: {node.instance.name} and {seen[node.priority]} both have "
                    f"priority {node.priority}",
                )
            seen.setdefault(node.priority, node.instance.name)


@rule(
    "HA008",
    "cdn-without-origin-group",
    Severity.MEDIUM,
    "ha",
    "A CloudFront distribution fails over between origins with an origin group of two members.",
)
def cdn_without_origin_group(view: StackView) -> Hit:
    """With one origin the CDN serves errors (or stale cache) while that origin is down."""
    for dist in view.of_type(tokens.DISTRIBUTION):
        groups = [g for g in dist.items("originGroups") if isinstance(g, dict)]
        if not groups:
            yield (
                dist,
                f"distribution {dist.name} has no origin group: one origin is a single point of failure",
            )
            continue
        for group in groups:
            members = group.get("members") or []
            if isinstance(members, list) and len(members) < 2:
                yield (
                    dist,
                    f"distribution {dist.name}: origin group {group.get('originId')} has under 2 members",
                )


TARGET_GROUP_FIELDS = ("interval", "healthyThreshold", "unhealthyThreshold", "timeout")


@rule(
    "HA009",
    "target-group-health-check-unset",
    Severity.MEDIUM,
    "ha",
    "A target group sets its health check interval, thresholds and timeout explicitly "
    "(bare metal: a backend has an active health check).",
)
def target_group_health_check_unset(view: StackView) -> Hit:
    """Defaults (30 s x 5 healthy, 2 unhealthy) are rarely what the failover budget assumes."""
    for group in view.of_type(*tokens.TARGET_GROUPS):
        if group.get("targetType") == "lambda":
            continue
        check = group.get("healthCheck")
        if is_unknown(check):
            continue
        if not isinstance(check, dict):
            yield group, f"target group {group.name} has no health_check block: every setting is a default"
            continue
        if check.get("enabled") is False:
            yield group, f"target group {group.name} disables health checks: dead targets keep traffic"
            continue
        unset = [name for name in TARGET_GROUP_FIELDS if check.get(name) in (None, 0)]
        if unset:
            yield group, f"target group {group.name} leaves health_check {', '.join(unset)} at the defaults"


@rule(
    "HA010",
    "database-without-standby",
    Severity.MEDIUM,
    "ha",
    "A database has a standby in its own region (two Aurora instances, or RDS Multi-AZ).",
)
def database_without_standby(view: StackView) -> Hit:
    """Without an in-region standby, an instance failure means a cross-region failover or a restore."""
    instances = view.of_type(tokens.RDS_CLUSTER_INSTANCE)
    for cluster in view.of_type(tokens.RDS_CLUSTER):
        ident = cluster.get("clusterIdentifier")
        count = sum(
            1
            for inst in instances
            if cluster.urn in inst.refs.get("clusterIdentifier", ())
            or (ident and inst.get("clusterIdentifier") == ident)
        )
        if cluster.get("engineMode") == "serverless" or cluster.get("dbClusterInstanceClass"):
            continue  # Serverless v1 and Multi-AZ DB clusters place their own standbys.
        if count < 2:
            yield (
                cluster,
                f"Aurora cluster {cluster.name} has {count} instance(s): add a reader for in-region failover",
            )
    for db in view.of_type(tokens.RDS_INSTANCE):
        if db.get("clusterIdentifier") or db.get("replicateSourceDb"):
            continue
        if db.get("multiAz") is not True:
            yield db, f"RDS instance {db.name} is not Multi-AZ"


@rule(
    "HA014",
    "autoscaling-group-weak-healing",
    Severity.HIGH,
    "ha",
    "An Auto Scaling group behind a load balancer uses ELB health checks and spans two or more AZs.",
)
def autoscaling_group_weak_healing(view: StackView) -> Hit:
    """EC2-only checks keep a hung instance in service; one AZ leaves nowhere to replace it."""
    for group in view.of_type(tokens.AUTOSCALING_GROUP):
        behind_lb = group.items("targetGroupArns") or group.items("loadBalancers")
        if behind_lb and group.get("healthCheckType", "EC2") != "ELB":
            yield (
                group,
                f"Auto Scaling group {group.name} judges instances by EC2 status checks only: "
                "set health_check_type ELB so an instance the load balancer calls unhealthy is replaced",
            )
        zones = _group_zones(view, group)
        if zones is not None and len(zones) < 2:
            where = ", ".join(sorted(zones)) or "no subnets"
            yield group, f"Auto Scaling group {group.name} is in one availability zone ({where})"


def _group_zones(view: StackView, group: Resource) -> set[str] | None:
    """An Auto Scaling group's AZs: `availabilityZones`, else its subnets' zones (or distinct subnet ids)."""
    zones = [z for z in group.items("availabilityZones") if isinstance(z, str)]
    if zones:
        return set(zones)
    subnet_ids = group.items("vpcZoneIdentifiers")
    if is_unknown(group.get("vpcZoneIdentifiers")) or any(is_unknown(s) for s in subnet_ids):
        return None
    resolved = view.referenced(group, "vpcZoneIdentifiers", tokens.SUBNET)
    if resolved and len(resolved) >= len(set(subnet_ids)):
        return {str(s.get("availabilityZone") or s.get("availabilityZoneId") or s.urn) for s in resolved}
    return {str(s) for s in subnet_ids if s}

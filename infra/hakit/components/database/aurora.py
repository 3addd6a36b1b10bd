"""Aurora Global Database: global cluster, a primary and secondaries, one KMS key per region."""

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws.iam as iam
import pulumi_aws.rds as rds
import pulumi_aws.secretsmanager as secretsmanager
import pulumi_random as random

from hakit.components._util import service_trust_policy
from hakit.components.database.parts import EngineParts, arn_in_region, as_secret
from hakit.components.database.plan import AuroraPlan, DatabasePlan

# What a managed switchover or failover rewrites on the member clusters. Without these the next
# `pulumi up` would diff: the provider "fixes" global_cluster_identifier by detaching the member
# (RemoveFromGlobalCluster) and replication_source_identifier by promoting it. Engine upgrades of a
# global database go through the GlobalCluster's engine_version, which upgrades every member.
MEMBER_IGNORE_CHANGES = ["global_cluster_identifier", "replication_source_identifier", "engine_version"]

MONITORING_TRUST_POLICY = service_trust_policy("monitoring.rds.amazonaws.com")

# RDS refuses '/', '@', '"' and spaces in master passwords.
PASSWORD_SPECIALS = "!#$%^&*()-_=+[]{}<>:?"


def rpo_guard_regions(plan: DatabasePlan) -> tuple[str, ...]:
    """Regions whose parameter group carries rds.global_db_rpo.

    The primary blocks commits when *every* secondary lags more than the RPO. With a single secondary,
    AWS recommends keeping the default in the secondary's group: after losing the primary region the
    promoted cluster has no healthy secondary left, and the guard would stop all writes. With two or
    more secondaries every group carries it, so the guard survives a switchover.
    """
    if plan.aurora is None or plan.aurora.rpo_seconds is None:
        return ()
    return (plan.primary_region,) if len(plan.secondary_regions) == 1 else plan.regions


def _parameters(plan: AuroraPlan, rpo_guard: bool) -> list[rds.ClusterParameterGroupParameterArgs]:
    """Cluster parameters of one region's group (TLS enforced, the RPO guard where it belongs, extras)."""
    tls_name, tls_value = plan.engine.tls_parameter
    params = [
        rds.ClusterParameterGroupParameterArgs(name=tls_name, value=tls_value, apply_method="immediate")
    ]
    if rpo_guard and plan.rpo_seconds is not None:
        params.append(
            rds.ClusterParameterGroupParameterArgs(
                name="rds.global_db_rpo", value=str(plan.rpo_seconds), apply_method="immediate"
            )
        )
    for key, value in sorted(plan.cluster_parameters.items()):
        params.append(
            rds.ClusterParameterGroupParameterArgs(name=key, value=value, apply_method="pending-reboot")
        )
    return params


def _monitoring_role(name: str, tags: Mapping[str, Any], parent: pulumi.Resource) -> iam.Role:
    """The (global) IAM role RDS Enhanced Monitoring uses to publish OS metrics in every region."""
    opts = pulumi.ResourceOptions(parent=parent)
    role = iam.Role(
        f"{name}-rds-monitoring",
        assume_role_policy=MONITORING_TRUST_POLICY,
        description=f"RDS Enhanced Monitoring for the hakit global database {name}",
        tags=dict(tags),
        opts=opts,
    )
    partition = role.arn.apply(lambda arn: arn.split(":")[1])
    iam.RolePolicyAttachment(
        f"{name}-rds-monitoring",
        role=role.name,
        policy_arn=pulumi.Output.concat(
            "arn:", partition, ":iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
        ),
        opts=opts,
    )
    return role


def build_aurora(
    plan: DatabasePlan,
    keys: Mapping[str, pulumi.Output[str]],
    tags: Mapping[str, Any],
    parent: pulumi.Resource,
) -> EngineParts:
    """Register the global cluster and its members; return endpoints, connections and ARNs."""
    assert plan.aurora is not None
    aurora = plan.aurora
    engine = aurora.engine
    name = plan.name
    primary = plan.primary_region
    child = pulumi.ResourceOptions(parent=parent)

    password = random.RandomPassword(
        f"{name}-master-password",
        length=32,
        special=True,
        override_special=PASSWORD_SPECIALS,
        min_lower=2,
        min_upper=2,
        min_numeric=2,
        opts=child,
    )
    monitoring = _monitoring_role(name, tags, parent) if aurora.monitoring_interval else None
    guarded = rpo_guard_regions(plan)
    subnet_groups: dict[str, rds.SubnetGroup] = {}
    parameter_groups: dict[str, rds.ClusterParameterGroup] = {}
    for region in plan.regions:
        network = aurora.networks[region]
        subnet_groups[region] = rds.SubnetGroup(
            f"{name}-{region}",
            description=f"hakit global database {name} ({region})",
            subnet_ids=network.subnet_ids,
            region=region,
            tags=dict(tags),
            opts=child,
        )
        parameter_groups[region] = rds.ClusterParameterGroup(
            f"{name}-{region}",
            family=engine.family,
            description=f"hakit global database {name} ({region})",
            parameters=_parameters(aurora, rpo_guard=region in guarded),
            region=region,
            tags=dict(tags),
            opts=child,
        )

    global_cluster = rds.GlobalCluster(
        name,
        global_cluster_identifier=name,
        engine=engine.engine,
        engine_version=engine.version,
        database_name=aurora.database_name,
        storage_encrypted=True,
        deletion_protection=plan.deletion_protection,
        region=primary,
        tags=dict(tags),
        opts=child,
    )

    clusters: dict[str, rds.Cluster] = {}
    instances: dict[str, list[rds.ClusterInstance]] = {}
    for region in plan.regions:
        is_primary = region == primary
        network = aurora.networks[region]
        identifier = f"{name}-{region}"
        common: dict[str, Any] = {
            "cluster_identifier": identifier,
            "engine": engine.engine,
            "engine_version": engine.version,
            "global_cluster_identifier": global_cluster.id,
            "db_subnet_group_name": subnet_groups[region].name,
            "db_cluster_parameter_group_name": parameter_groups[region].name,
            "vpc_security_group_ids": network.security_group_ids,
            "port": engine.port,
            "storage_encrypted": True,
            "kms_key_id": keys[region],
            "deletion_protection": plan.deletion_protection,
            "backup_retention_period": aurora.backup_retention_days,
            "preferred_backup_window": aurora.backup_window,
            "preferred_maintenance_window": aurora.maintenance_window,
            "copy_tags_to_snapshot": True,
            "iam_database_authentication_enabled": True,
            "enabled_cloudwatch_logs_exports": list(engine.log_exports),
            # On the primary this takes effect when a switchover demotes it: both directions forward.
            "enable_global_write_forwarding": engine.write_forwarding,
            "region": region,
            "tags": dict(tags),
        }
        if is_primary:
            # Managed master passwords are not supported on global clusters: a generated secret instead.
            cluster = rds.Cluster(
                identifier,
                **common,
                master_username=aurora.master_username,
                master_password=password.result,
                database_name=aurora.database_name,
                skip_final_snapshot=aurora.skip_final_snapshot,
                final_snapshot_identifier=None if aurora.skip_final_snapshot else f"{identifier}-final",
                opts=pulumi.ResourceOptions(parent=parent, ignore_changes=MEMBER_IGNORE_CHANGES),
            )
        else:
            # A secondary takes credentials and database from the global cluster; a final snapshot of a
            # secondary is not possible (the data lives in the primary).
            cluster = rds.Cluster(
                identifier,
                **common,
                skip_final_snapshot=True,
                opts=pulumi.ResourceOptions(
                    parent=parent,
                    ignore_changes=MEMBER_IGNORE_CHANGES,
                    depends_on=[clusters[primary], *instances[primary]],
                ),
            )
        clusters[region] = cluster
        count = aurora.primary_instances if is_primary else aurora.secondary_instances
        instances[region] = [
            rds.ClusterInstance(
                f"{identifier}-{index + 1}",
                identifier=f"{identifier}-{index + 1}",
                cluster_identifier=cluster.id,
                engine=rds.EngineType(engine.engine),
                instance_class=aurora.instance_class,
                availability_zone=(
                    network.availability_zones[index % len(network.availability_zones)]
                    if network.availability_zones
                    else None
                ),
                db_subnet_group_name=subnet_groups[region].name,
                promotion_tier=min(index, 15),
                publicly_accessible=False,
                # AWS ignores automatic minor upgrades on global-database members; false says what
                # happens: upgrades go through the global cluster, so the regions never diverge.
                auto_minor_version_upgrade=False,
                performance_insights_enabled=True,
                performance_insights_kms_key_id=keys[region],
                performance_insights_retention_period=aurora.performance_insights_retention_days,
                monitoring_interval=aurora.monitoring_interval,
                monitoring_role_arn=monitoring.arn if monitoring is not None else None,
                copy_tags_to_snapshot=True,
                region=region,
                tags=dict(tags),
                opts=child,
            )
            for index in range(count)
        ]

    secret = secretsmanager.Secret(
        f"{name}-master",
        name=f"hakit/{name}/master",
        description=f"Master credentials of the hakit global database {name}",
        kms_key_id=keys[primary],
        replicas=[{"region": r, "kms_key_id": keys[r]} for r in plan.secondary_regions],
        recovery_window_in_days=30,
        region=primary,
        tags=dict(tags),
        opts=child,
    )
    secret_value = pulumi.Output.json_dumps(
        {
            "engine": engine.engine,
            "host": global_cluster.endpoint,
            "port": engine.port,
            "dbname": aurora.database_name,
            "username": aurora.master_username,
            "password": password.result,
        }
    )
    secretsmanager.SecretVersion(
        f"{name}-master",
        secret_id=secret.id,
        secret_string=as_secret(secret_value),
        region=primary,
        opts=child,
    )

    connections: dict[str, pulumi.Output[dict[str, Any]]] = {}
    for region, cluster in clusters.items():
        writes = "local" if region == primary else ("forwarded" if engine.write_forwarding else "read-only")
        secret_arn = arn_in_region(secret.arn, primary, region)
        connections[region] = pulumi.Output.all(
            region=region,
            host=cluster.endpoint,
            reader_host=cluster.reader_endpoint,
            writer_host=global_cluster.endpoint,
            port=engine.port,
            database=aurora.database_name,
            username=aurora.master_username,
            password=as_secret(password.result),
            secret_arn=secret_arn,
            iam_auth=True,
            writes=writes,
        )
    return EngineParts(
        writer_endpoint=global_cluster.endpoint,
        reader_endpoints={r: c.reader_endpoint for r, c in clusters.items()},
        connections=connections,
        resource_arns={r: [c.arn] for r, c in clusters.items()},
        global_arn=global_cluster.arn,
        master_secret_arn=secret.arn,
        members=list(clusters.values()),
    )

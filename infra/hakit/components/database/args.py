"""Typed arguments of the GlobalDatabase component (TypedDicts, so a Pulumi schema can be inferred)."""

from typing import Required, TypedDict

import pulumi


class GlobalDatabaseNetworkArgs(TypedDict, total=False):
    """Where the Aurora cluster of one region lives."""

    subnet_ids: Required[pulumi.Input[list[str]]]
    """Private subnets for the DB subnet group (at least two AZs)."""
    security_group_ids: Required[pulumi.Input[list[str]]]
    """Security groups attached to the cluster."""
    availability_zones: list[str]
    """AZs to spread the instances over, round robin (the primary needs at least two distinct AZs)."""


class GlobalDatabaseAuroraArgs(TypedDict, total=False):
    """Options for the Aurora engines (aurora-postgresql, aurora-mysql)."""

    engine_version: Required[str]
    """Exact engine version: '16.4' (PostgreSQL) or '8.0.mysql_aurora.3.08.0' (MySQL). Required."""
    instance_class: str
    """Instance class of every instance (memory optimized or db.serverless). Default db.r6g.large."""
    primary_instances: int
    """Instances in the primary cluster (writer + readers), at least 2. Default 2."""
    secondary_instances: int
    """Instances in each secondary cluster, at least 1. Default 2, so a switchover keeps Multi-AZ."""
    networks: Required[dict[str, GlobalDatabaseNetworkArgs]]
    """Network placement per region name; every region of the database needs an entry. Required."""
    database_name: str
    """Initial database created in the primary. Default 'app'."""
    master_username: str
    """Master user name (the password is generated and kept in Secrets Manager). Default 'hakit_admin'."""
    backup_retention_days: int
    """Automated backup retention, 1..35 days. Default 14."""
    preferred_backup_window: str
    """Daily backup window hh24:mi-hh24:mi in UTC. Default '03:00-04:00'."""
    preferred_maintenance_window: str
    """Weekly maintenance window ddd:hh24:mi-ddd:hh24:mi in UTC. Default 'sun:05:00-sun:06:00'."""
    write_forwarding: bool
    """Global write forwarding on every member (secondaries accept writes). Default true."""
    rpo_seconds: int
    """Aurora PostgreSQL only: rds.global_db_rpo, block commits when secondaries lag more (>= 20 s)."""
    performance_insights_retention_days: int
    """Performance Insights retention: 7, 31*n (n 1..23) or 731. Default 7."""
    monitoring_interval: int
    """Enhanced Monitoring interval in seconds: 0 (off), 1, 5, 10, 15, 30 or 60. Default 60."""
    cluster_parameters: dict[str, str]
    """Extra cluster parameters (applied 'pending-reboot') in every region's parameter group."""
    skip_final_snapshot: bool
    """Skip the primary's final snapshot on delete. Default false."""


class GlobalDatabaseDynamoDbArgs(TypedDict, total=False):
    """Options for a DynamoDB global table."""

    hash_key: Required[str]
    """Partition key attribute name. Required."""
    hash_key_type: str
    """Partition key type S, N or B. Default S."""
    range_key: str
    """Optional sort key attribute name."""
    range_key_type: str
    """Sort key type S, N or B. Default S."""
    consistency: str
    """MREC (multi-Region eventual, default) or MRSC (multi-Region strong; exactly three Regions)."""
    table_name: str
    """Table name. Default: the component's name."""
    ttl_attribute: str
    """Attribute holding the expiry epoch seconds, if TTL is wanted."""
    stream_view_type: str
    """Stream view type. Default NEW_AND_OLD_IMAGES."""


class GlobalDatabaseArgs(TypedDict, total=False):
    """Arguments of GlobalDatabase: one multi-region database whose engine is chosen by `engine`."""

    engine: Required[str]
    """aurora-postgresql, aurora-mysql, dynamodb or dsql. Required."""
    primary_region: Required[str]
    """Region of the writer (Aurora primary cluster, DynamoDB table, first DSQL cluster). Required."""
    secondary_regions: Required[list[str]]
    """Other regions: Aurora secondary clusters, DynamoDB replicas, the peer DSQL cluster. Required."""
    witness_region: str
    """Witness region: required for DSQL, optional for DynamoDB MRSC with two replica regions."""
    name: str
    """Base name of the physical resources (lowercase, digits, hyphens). Default: the component name."""
    deletion_protection: bool
    """Deletion protection on every cluster/table. Default true."""
    kms_key_arns: dict[str, str]
    """Existing KMS key ARN per region; regions without one get a new key with rotation on."""
    tags: dict[str, str]
    """Tags for every resource."""
    aurora: GlobalDatabaseAuroraArgs
    """Aurora options (engine aurora-postgresql or aurora-mysql)."""
    dynamodb: GlobalDatabaseDynamoDbArgs
    """DynamoDB options (engine dynamodb)."""

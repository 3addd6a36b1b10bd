"""Typed arguments of the AwsBackup component (TypedDicts, so a Pulumi schema can be inferred)."""

from typing import Required, TypedDict

import pulumi


class AwsBackupVaultLockArgs(TypedDict, total=False):
    """Vault lock: governance mode without `changeable_for_days`, compliance mode after the grace days."""

    min_retention_days: Required[int]
    """Recovery points must be kept at least this long (1..36500). Required."""
    max_retention_days: Required[int]
    """Recovery points may be kept at most this long (>= min). Required."""
    changeable_for_days: int
    """Grace days (>= 3) before the lock becomes immutable (compliance mode); omit for governance mode."""


class AwsBackupRuleArgs(TypedDict, total=False):
    """One backup rule: when, how long, where copies go."""

    name: Required[str]
    """Rule name (letters, digits, - _ .). Required."""
    schedule: Required[str]
    """AWS cron expression in UTC, e.g. 'cron(0 5 ? * * *)'; at most hourly. Required."""
    schedule_timezone: str
    """IANA time zone the schedule is read in. Default UTC."""
    start_window_minutes: int
    """Minutes after the scheduled time a job may still start (>= 60). Default 60."""
    completion_window_minutes: int
    """Minutes after the scheduled time by which the job must finish (> start window). Default 480."""
    cold_storage_after_days: int
    """Move recovery points to cold storage after this many days (snapshot rules only)."""
    delete_after_days: Required[int]
    """Delete recovery points after this many days (>= cold + 90; 1..35 for continuous). Required."""
    continuous: bool
    """Continuous backup for point-in-time restore (RDS/Aurora, S3). Default false."""
    copy_delete_after_days: int
    """Retention of the cross-region/account copies. Default: delete_after_days."""
    copy_cold_storage_after_days: int
    """Cold storage of the copies. Default: cold_storage_after_days."""


class AwsBackupSelectionArgs(TypedDict, total=False):
    """Resources a region's plan protects, by ARN and/or by tag."""

    name: Required[str]
    """Selection name (letters, digits, - _ .). Required."""
    region: Required[str]
    """Region of the resources (one of `regions`). Required."""
    resource_arns: pulumi.Input[list[str]]
    """ARNs to protect (may come from another component's outputs)."""
    tags: dict[str, str]
    """Protect resources carrying all of these tags (STRINGEQUALS)."""


class AwsBackupNotificationArgs(TypedDict, total=False):
    """SNS alerts for failed or expired jobs."""

    enabled: bool
    """Create a topic per region and wire the vault's events to it. Default true."""
    email_addresses: list[str]
    """Addresses subscribed to failures only (State other than COMPLETED)."""


class AwsBackupRestoreTestingArgs(TypedDict, total=False):
    """A restore-testing plan per protected region: restore the latest recovery point and validate it."""

    schedule: Required[str]
    """AWS cron expression, e.g. 'cron(0 6 ? * SUN *)'. Required."""
    resource_type: Required[str]
    """Resource type to restore: Aurora, DynamoDB, RDS, EBS, EC2, EFS, FSx, S3, DocumentDB, Neptune."""
    selection_window_days: int
    """Pick recovery points from the last N days (1..365). Default 7."""
    start_window_hours: int
    """Hours in which the restore job must start (1..168). Default 1."""
    validation_window_hours: int
    """Hours to keep the restored resource for validation before deletion (0..168). Default 1."""
    metadata_overrides: dict[str, str]
    """Restore metadata overrides (e.g. dbSubnetGroupName, vpcSecurityGroupIds for Aurora)."""


class AwsBackupArgs(TypedDict, total=False):
    """Arguments of AwsBackup."""

    regions: Required[list[str]]
    """Regions that get a vault (and a plan where something is protected). Required."""
    name: str
    """Base name of vaults, plans and role. Default: the component name."""
    kms_key_arns: dict[str, str]
    """Existing KMS key ARN per region for the vaults and topics; other regions get a new key."""
    vault_lock: AwsBackupVaultLockArgs
    """Lock every vault (retention of every rule and copy must fit inside it)."""
    rules: Required[list[AwsBackupRuleArgs]]
    """Backup rules of every plan. Required."""
    copy_to_other_regions: bool
    """Copy every recovery point to the vaults of all other regions. Default true."""
    copy_to_vault_arns: list[str]
    """Extra destination vault ARNs, e.g. a vault in a separate backup account."""
    protect_arns: pulumi.Input[dict[str, list[str]]]
    """ARNs to protect per region, e.g. GlobalDatabase.resource_arns (one entry per region in `regions`)."""
    selections: list[AwsBackupSelectionArgs]
    """Further selections by ARN and/or tags."""
    notifications: AwsBackupNotificationArgs
    """SNS alerts for failed or expired jobs (on by default)."""
    restore_testing: AwsBackupRestoreTestingArgs
    """Optional restore-testing plan."""
    force_destroy: bool
    """Allow deleting vaults that still hold recovery points. Default false."""
    dynamodb_advanced_features: str
    """`enable` (write AWS Backup's region settings in every region: DynamoDB fully managed by AWS Backup,
    needed for cross-region copies of DynamoDB backups), `enabled-elsewhere` (the account has them), or `off`.
    Default: `off`, except that protecting DynamoDB with copies then refuses until you choose."""
    tags: dict[str, str]
    """Tags for every resource."""

"""AWS Backup component: a KMS-encrypted vault per region, plans with cross-region copies, selections,
the service role, SNS alerts for failed/expired jobs and an optional restore-testing plan.

Not to be confused with `hakit.ops.backup` (dump-to-S3 backups of hosts): this one drives AWS Backup.
Validation (schedules, windows, lifecycles, vault lock) is pure and runs before anything is registered.
"""

from hakit.components.backup.args import (
    AwsBackupArgs,
    AwsBackupNotificationArgs,
    AwsBackupRestoreTestingArgs,
    AwsBackupRuleArgs,
    AwsBackupSelectionArgs,
    AwsBackupVaultLockArgs,
)
from hakit.components.backup.component import TYPE_TOKEN, AwsBackup
from hakit.components.backup.policies import FAILURE_FILTER_POLICY, NOTIFY_EVENTS
from hakit.components.backup.schedule import check_backup_schedule, parse_cron, parse_rate
from hakit.components.backup.spec import BackupPlanSpec, build_backup_spec

__all__ = [
    "FAILURE_FILTER_POLICY",
    "NOTIFY_EVENTS",
    "TYPE_TOKEN",
    "AwsBackup",
    "AwsBackupArgs",
    "AwsBackupNotificationArgs",
    "AwsBackupRestoreTestingArgs",
    "AwsBackupRuleArgs",
    "AwsBackupSelectionArgs",
    "AwsBackupVaultLockArgs",
    "BackupPlanSpec",
    "build_backup_spec",
    "check_backup_schedule",
    "parse_cron",
    "parse_rate",
]

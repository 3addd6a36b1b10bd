"""IAM, KMS and SNS policy documents of the AwsBackup component (pure)."""

import json

from hakit.components._util import account_administers_key, service_trust_policy

# The current (non-deprecated) vault events that can report a failure or an expiry; the email
# subscription filter below drops the successful ones (State == COMPLETED).
NOTIFY_EVENTS = (
    "BACKUP_JOB_COMPLETED",
    "COPY_JOB_FAILED",
    "RESTORE_JOB_COMPLETED",
    "S3_BACKUP_OBJECT_FAILED",
    "S3_RESTORE_OBJECT_FAILED",
)
FAILURE_FILTER_POLICY = json.dumps({"State": [{"anything-but": "COMPLETED"}]})

MANAGED_POLICIES = ("AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores")


def key_policy(partition: str, account: str) -> str:
    """KMS key policy: the account administers the key; AWS Backup may encrypt SNS messages with it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                account_administers_key(partition, account),
                {
                    "Sid": "BackupPublishesEncryptedNotifications",
                    "Effect": "Allow",
                    "Principal": {"Service": "backup.amazonaws.com"},
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            ],
        },
        sort_keys=True,
    )


def topic_policy(topic_arn: str, account: str) -> str:
    """SNS topic policy: only AWS Backup of this account may publish."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "BackupPublishes",
                    "Effect": "Allow",
                    "Principal": {"Service": "backup.amazonaws.com"},
                    "Action": "SNS:Publish",
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        },
        sort_keys=True,
    )


ASSUME_ROLE_POLICY = service_trust_policy("backup.amazonaws.com")

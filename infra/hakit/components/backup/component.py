"""The AwsBackup component: vaults per region, plans with cross-region copies, alerts, restore tests."""

import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws.backup as backup
import pulumi_aws.iam as iam
import pulumi_aws.sns as sns

from hakit.components._util import child_opts, merge_tags
from hakit.components.backup.args import AwsBackupArgs
from hakit.components.backup.policies import (
    ASSUME_ROLE_POLICY,
    FAILURE_FILTER_POLICY,
    MANAGED_POLICIES,
    NOTIFY_EVENTS,
    key_policy,
    topic_policy,
)
from hakit.components.backup.spec import (
    BackupPlanSpec,
    RestoreTestPlan,
    RulePlan,
    build_backup_spec,
)
from hakit.components.database.kms import regional_keys

TYPE_TOKEN = "hakit:backup:AwsBackup"


def _output_map(values: Mapping[str, Any]) -> pulumi.Output[dict[str, Any]]:
    """An Output of a dict (Output.all() of no keywords would give a list)."""
    if not values:
        return pulumi.Output.from_input({})
    return pulumi.Output.all(**values)


def _identifier(text: str) -> str:
    """Restore-testing names allow letters, digits and underscores only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)[:50]


class AwsBackup(pulumi.ComponentResource):
    """AWS Backup across regions: locked KMS vaults, plans with cross-region copies, alerts, restore tests."""

    vault_arns: pulumi.Output[dict[str, str]]
    """Vault ARN per region."""
    vault_names: pulumi.Output[dict[str, str]]
    """Vault name per region."""
    plan_arns: pulumi.Output[dict[str, str]]
    """Backup plan ARN per protected region."""
    role_arn: pulumi.Output[str]
    """IAM role AWS Backup assumes."""
    topic_arns: pulumi.Output[dict[str, str]]
    """SNS topic ARN per region (empty when notifications are off)."""
    kms_key_arns: pulumi.Output[dict[str, str]]
    """KMS key ARN per region encrypting the vaults."""

    def __init__(self, name: str, args: AwsBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        spec = build_backup_spec(name, dict(args))
        super().__init__(TYPE_TOKEN, name, {}, opts)
        tags = merge_tags(TYPE_TOKEN, spec.name, spec.tags)
        role = self._role(spec, tags)
        # Partition and account come from the role's ARN: no data-source invoke needed.
        partition = role.arn.apply(lambda arn: arn.split(":")[1])
        account = role.arn.apply(lambda arn: arn.split(":")[4])
        self._attach_managed_policies(spec, role, partition)
        policy = pulumi.Output.all(partition, account).apply(lambda v: key_policy(v[0], v[1]))
        keys = regional_keys(
            f"{spec.name}-backup",
            spec.regions,
            spec.kms_key_arns,
            purpose="backup",
            tags=tags,
            parent=self,
            policy=policy,
        )
        if spec.dynamodb_region_settings:
            self._region_settings(spec)
        vaults = self._vaults(spec, keys, tags)
        topics = self._notifications(spec, keys, vaults, account, tags) if spec.notify else {}
        plans = self._plans(spec, vaults, role, tags)
        if spec.restore_test is not None:
            self._restore_tests(spec, spec.restore_test, vaults, role, tags)

        self.vault_arns = _output_map({r: v.arn for r, v in vaults.items()})
        self.vault_names = _output_map({r: v.name for r, v in vaults.items()})
        self.plan_arns = _output_map({r: p.arn for r, p in plans.items()})
        self.role_arn = role.arn
        self.topic_arns = _output_map({r: t.arn for r, t in topics.items()})
        self.kms_key_arns = _output_map(keys)
        self.register_outputs(
            {
                "vault_arns": self.vault_arns,
                "vault_names": self.vault_names,
                "plan_arns": self.plan_arns,
                "role_arn": self.role_arn,
                "topic_arns": self.topic_arns,
                "kms_key_arns": self.kms_key_arns,
            }
        )

    def _region_settings(self, spec: BackupPlanSpec) -> None:
        """Advanced DynamoDB backup in every region: sources and copy destinations both need it.

        One RegionSettings per account and region exists: AWS Backup owns it, so only one stack may manage it.
        The opt-in map lists the database types hakit protects; other types keep their account setting.
        """
        for region in spec.regions:
            backup.RegionSettings(
                f"{spec.name}-{region}-settings",
                resource_type_opt_in_preference={"Aurora": True, "DynamoDB": True, "RDS": True},
                resource_type_management_preference={"DynamoDB": True},
                region=region,
                opts=child_opts(self),
            )

    def _role(self, spec: BackupPlanSpec, tags: Mapping[str, Any]) -> iam.Role:
        return iam.Role(
            f"{spec.name}-backup",
            assume_role_policy=ASSUME_ROLE_POLICY,
            description=f"AWS Backup service role for {spec.name}",
            tags=dict(tags),
            opts=child_opts(self),
        )

    def _attach_managed_policies(
        self, spec: BackupPlanSpec, role: iam.Role, partition: pulumi.Output[str]
    ) -> None:
        for policy in MANAGED_POLICIES:
            iam.RolePolicyAttachment(
                f"{spec.name}-{policy}",
                role=role.name,
                policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:policy/service-role/", policy),
                opts=child_opts(self),
            )

    def _vaults(
        self, spec: BackupPlanSpec, keys: Mapping[str, pulumi.Output[str]], tags: Mapping[str, Any]
    ) -> dict[str, backup.Vault]:
        vaults: dict[str, backup.Vault] = {}
        for region in spec.regions:
            vault = backup.Vault(
                f"{spec.name}-{region}",
                name=f"{spec.name}-{region}",
                kms_key_arn=keys[region],
                force_destroy=spec.force_destroy,
                region=region,
                tags=dict(tags),
                opts=child_opts(self),
            )
            if spec.lock is not None:
                backup.VaultLockConfiguration(
                    f"{spec.name}-{region}",
                    backup_vault_name=vault.name,
                    min_retention_days=spec.lock.min_days,
                    max_retention_days=spec.lock.max_days,
                    changeable_for_days=spec.lock.changeable_for_days,
                    region=region,
                    opts=child_opts(self),
                )
            vaults[region] = vault
        return vaults

    def _notifications(
        self,
        spec: BackupPlanSpec,
        keys: Mapping[str, pulumi.Output[str]],
        vaults: Mapping[str, backup.Vault],
        account: pulumi.Output[str],
        tags: Mapping[str, Any],
    ) -> dict[str, sns.Topic]:
        topics: dict[str, sns.Topic] = {}
        for region, vault in vaults.items():
            topic = sns.Topic(
                f"{spec.name}-backup-{region}",
                kms_master_key_id=keys[region],
                region=region,
                tags=dict(tags),
                opts=child_opts(self),
            )
            topic_policy_resource = sns.TopicPolicy(
                f"{spec.name}-backup-{region}",
                arn=topic.arn,
                policy=pulumi.Output.all(topic.arn, account).apply(lambda v: topic_policy(v[0], v[1])),
                region=region,
                opts=child_opts(self),
            )
            backup.VaultNotifications(
                f"{spec.name}-{region}",
                backup_vault_name=vault.name,
                sns_topic_arn=topic.arn,
                backup_vault_events=list(NOTIFY_EVENTS),
                region=region,
                opts=child_opts(self, depends_on=[topic_policy_resource]),
            )
            for index, email in enumerate(spec.emails):
                sns.TopicSubscription(
                    f"{spec.name}-backup-{region}-{index}",
                    topic=topic.arn,
                    protocol="email",
                    endpoint=email,
                    filter_policy=FAILURE_FILTER_POLICY,
                    region=region,
                    opts=child_opts(self),
                )
            topics[region] = topic
        return topics

    def _copy_actions(
        self, spec: BackupPlanSpec, rule: RulePlan, region: str, vaults: Mapping[str, backup.Vault]
    ) -> list[backup.PlanRuleCopyActionArgs]:
        destinations: list[pulumi.Input[str]] = []
        if spec.copy_to_other_regions:
            destinations.extend(v.arn for r, v in vaults.items() if r != region)
        destinations.extend(spec.extra_copy_vaults)
        lifecycle = backup.PlanRuleCopyActionLifecycleArgs(
            delete_after=rule.copy_delete_after, cold_storage_after=rule.copy_cold_after
        )
        return [
            backup.PlanRuleCopyActionArgs(destination_vault_arn=arn, lifecycle=lifecycle)
            for arn in destinations
        ]

    def _plans(
        self,
        spec: BackupPlanSpec,
        vaults: Mapping[str, backup.Vault],
        role: iam.Role,
        tags: Mapping[str, Any],
    ) -> dict[str, backup.Plan]:
        plans: dict[str, backup.Plan] = {}
        for region in spec.protected_regions():
            rules = [
                backup.PlanRuleArgs(
                    rule_name=rule.name,
                    target_vault_name=vaults[region].name,
                    schedule=rule.schedule,
                    schedule_expression_timezone=rule.timezone,
                    start_window=rule.start_window,
                    completion_window=rule.completion_window,
                    enable_continuous_backup=rule.continuous,
                    lifecycle=backup.PlanRuleLifecycleArgs(
                        delete_after=rule.delete_after, cold_storage_after=rule.cold_after
                    ),
                    copy_actions=self._copy_actions(spec, rule, region, vaults),
                    recovery_point_tags=dict(tags),
                )
                for rule in spec.rules
            ]
            plan = backup.Plan(
                f"{spec.name}-{region}",
                name=f"{spec.name}-{region}",
                rules=rules,
                region=region,
                tags=dict(tags),
                opts=child_opts(self),
            )
            for selection in (s for s in spec.selections if s.region == region):
                backup.Selection(
                    f"{spec.name}-{region}-{selection.name}",
                    name=f"{spec.name}-{selection.name}"[:50],
                    plan_id=plan.id,
                    iam_role_arn=role.arn,
                    resources=selection.resource_arns,
                    selection_tags=[
                        {"type": "STRINGEQUALS", "key": k, "value": v}
                        for k, v in sorted(selection.tags.items())
                    ]
                    or None,
                    region=region,
                    opts=child_opts(self),
                )
            plans[region] = plan
        return plans

    def _restore_tests(
        self,
        spec: BackupPlanSpec,
        test: RestoreTestPlan,
        vaults: Mapping[str, backup.Vault],
        role: iam.Role,
        tags: Mapping[str, Any],
    ) -> None:
        continuous = any(rule.continuous for rule in spec.rules)
        for region in spec.protected_regions():
            plan_name = _identifier(f"{spec.name}_{region}_restore_test")
            plan = backup.RestoreTestingPlan(
                f"{spec.name}-{region}-restore-test",
                name=plan_name,
                schedule_expression=test.schedule,
                start_window_hours=test.start_window_hours,
                recovery_point_selection={
                    "algorithm": "LATEST_WITHIN_WINDOW",
                    "include_vaults": [vaults[region].arn],
                    "recovery_point_types": ["CONTINUOUS", "SNAPSHOT"] if continuous else ["SNAPSHOT"],
                    "selection_window_days": test.selection_window_days,
                },
                region=region,
                tags=dict(tags),
                opts=child_opts(self),
            )
            arns = [
                s.resource_arns for s in spec.selections if s.region == region and s.resource_arns is not None
            ]
            protected = pulumi.Output.all(*arns).apply(
                lambda lists: sorted({a for group in lists for a in group})
            )
            backup.RestoreTestingSelection(
                f"{spec.name}-{region}-restore-test",
                name=_identifier(f"{spec.name}_{test.resource_type}"),
                restore_testing_plan_name=plan.name,
                protected_resource_type=test.resource_type,
                protected_resource_arns=protected if arns else ["*"],
                iam_role_arn=role.arn,
                restore_metadata_overrides=dict(test.metadata_overrides) or None,
                validation_window_hours=test.validation_window_hours,
                region=region,
                opts=child_opts(self),
            )

"""AwsBackup graph tests: vaults, lock, plans, cross-region copies, selections, alerts, restore tests."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from hakit.components.backup import (
    FAILURE_FILTER_POLICY,
    AwsBackup,
    check_backup_schedule,
    parse_cron,
    parse_rate,
)
from hakit.components.database import GlobalDatabase
from hakit.testing import ResourceGraph, synth
from hypothesis import given
from hypothesis import strategies as st

VAULT = "aws:backup/vault:Vault"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"
NOTIFY = "aws:backup/vaultNotifications:VaultNotifications"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
ROLE = "aws:iam/role:Role"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KEY = "aws:kms/key:Key"
RT_PLAN = "aws:backup/restoreTestingPlan:RestoreTestingPlan"
RT_SELECTION = "aws:backup/restoreTestingSelection:RestoreTestingSelection"

EAST, WEST = "us-east-1", "us-west-2"
CLUSTER_EAST = "arn:aws:rds:us-east-1:123456789012:cluster:orders-us-east-1"
VAULT_OTHER_ACCOUNT = "arn:aws:backup:us-east-2:999999999999:backup-vault:central"

DAILY = {
    "name": "daily",
    "schedule": "cron(0 5 ? * * *)",
    "cold_storage_after_days": 30,
    "delete_after_days": 120,
}
PITR = {"name": "pitr", "schedule": "cron(15 * ? * * *)", "continuous": True, "delete_after_days": 14}


def backup_args(**extra: Any) -> dict[str, Any]:
    """Two regions, a daily + a continuous rule, ARNs in us-east-1 and a tag selection in us-west-2."""
    args: dict[str, Any] = {
        "regions": [EAST, WEST],
        "rules": [dict(DAILY), dict(PITR)],
        "selections": [
            {"name": "db", "region": EAST, "resource_arns": [CLUSTER_EAST]},
            {"name": "tagged", "region": WEST, "tags": {"backup": "gold", "env": "prod"}},
        ],
    }
    args.update(extra)
    return args


def build(args: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> ResourceGraph:
    """Synthesize one AwsBackup and export its outputs."""

    def program() -> None:
        component = AwsBackup("orders", args, opts)
        pulumi.export("vault_arns", component.vault_arns)
        pulumi.export("plan_arns", component.plan_arns)
        pulumi.export("topic_arns", component.topic_arns)

    return synth(program, config={"aws:region": "eu-west-1"})


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return build(
        backup_args(
            vault_lock={"min_retention_days": 7, "max_retention_days": 365, "changeable_for_days": 3},
            copy_to_vault_arns=[VAULT_OTHER_ACCOUNT],
            notifications={"email_addresses": ["oncall@example.com"]},
            restore_testing={"schedule": "cron(0 6 ? * SUN *)", "resource_type": "Aurora"},
        )
    )


def test_vault_per_region_with_its_own_kms_key(graph: ResourceGraph) -> None:
    vaults = {v.region: v for v in graph.by_type(VAULT)}
    keys = {k.region: k for k in graph.by_type(KEY)}
    assert set(vaults) == set(keys) == {EAST, WEST}
    for region, vault in vaults.items():
        assert vault.input("kms_key_arn") == keys[region].output("arn")
        assert vault.input("force_destroy") is False
        assert keys[region].input("enable_key_rotation") is True
        policy = json.loads(keys[region].input("policy"))
        principals = [s["Principal"] for s in policy["Statement"]]
        assert {"AWS": "arn:aws:iam::123456789012:root"} in principals
        assert {"Service": "backup.amazonaws.com"} in principals
    assert graph.stack_outputs["vault_arns"] == {r: v.output("arn") for r, v in vaults.items()}


def test_vault_lock_on_every_vault(graph: ResourceGraph) -> None:
    locks = {lock.region: lock for lock in graph.by_type(LOCK)}
    assert set(locks) == {EAST, WEST}
    for region, lock in locks.items():
        assert lock.input("backup_vault_name") == f"orders-{region}"
        assert (lock.input("min_retention_days"), lock.input("max_retention_days")) == (7, 365)
        assert lock.input("changeable_for_days") == 3


def test_plan_rules_lifecycle_windows_and_continuous(graph: ResourceGraph) -> None:
    plans = {p.region: p for p in graph.by_type(PLAN)}
    assert set(plans) == {EAST, WEST}
    for region, plan in plans.items():
        rules = {r["ruleName"]: r for r in plan.input("rules")}
        daily, pitr = rules["daily"], rules["pitr"]
        assert daily["targetVaultName"] == f"orders-{region}"
        assert daily["schedule"] == "cron(0 5 ? * * *)"
        assert (daily["startWindow"], daily["completionWindow"]) == (60, 480)
        assert daily["lifecycle"] == {"coldStorageAfter": 30, "deleteAfter": 120}
        assert daily["enableContinuousBackup"] is False
        assert pitr["enableContinuousBackup"] is True
        assert pitr["lifecycle"] == {"deleteAfter": 14}


def test_copy_actions_point_to_the_other_regions_vault(graph: ResourceGraph) -> None:
    vaults = {v.region: v for v in graph.by_type(VAULT)}
    for plan in graph.by_type(PLAN):
        other = WEST if plan.region == EAST else EAST
        for rule in plan.input("rules"):
            destinations = [c["destinationVaultArn"] for c in rule["copyActions"]]
            assert destinations == [vaults[other].output("arn"), VAULT_OTHER_ACCOUNT]
            assert destinations[0].split(":")[3] == other != plan.region
        daily = next(r for r in plan.input("rules") if r["ruleName"] == "daily")
        assert daily["copyActions"][0]["lifecycle"] == {"coldStorageAfter": 30, "deleteAfter": 120}


def test_selections_by_arn_and_by_tags(graph: ResourceGraph) -> None:
    plans = {p.region: p for p in graph.by_type(PLAN)}
    role = graph.one(ROLE)
    selections = {s.region: s for s in graph.by_type(SELECTION)}
    assert selections[EAST].input("resources") == [CLUSTER_EAST]
    assert selections[WEST].input("selection_tags") == [
        {"key": "backup", "type": "STRINGEQUALS", "value": "gold"},
        {"key": "env", "type": "STRINGEQUALS", "value": "prod"},
    ]
    for region, selection in selections.items():
        assert selection.input("plan_id") == plans[region].id
        assert selection.input("iam_role_arn") == role.output("arn")


def test_role_with_managed_backup_policies(graph: ResourceGraph) -> None:
    role = graph.one(ROLE)
    trust = json.loads(role.input("assume_role_policy"))
    assert trust["Statement"][0]["Principal"] == {"Service": "backup.amazonaws.com"}
    policies = sorted(a.input("policy_arn") for a in graph.by_type(ATTACH))
    assert policies == [
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    ]


def test_sns_alerts_for_failed_or_expired_jobs(graph: ResourceGraph) -> None:
    topics = {t.region: t for t in graph.by_type(TOPIC)}
    keys = {k.region: k for k in graph.by_type(KEY)}
    for notify in graph.by_type(NOTIFY):
        topic = topics[notify.region]
        assert notify.input("sns_topic_arn") == topic.output("arn")
        assert "BACKUP_JOB_COMPLETED" in notify.input("backup_vault_events")
        assert "COPY_JOB_FAILED" in notify.input("backup_vault_events")
        assert topic.input("kms_master_key_id") == keys[notify.region].output("arn")
    subscription = next(s for s in graph.by_type(SUBSCRIPTION) if s.region == EAST)
    assert subscription.input("endpoint") == "oncall@example.com"
    assert json.loads(subscription.input("filter_policy")) == {"State": [{"anything-but": "COMPLETED"}]}
    assert subscription.input("filter_policy") == FAILURE_FILTER_POLICY
    policy = json.loads(graph.by_type("aws:sns/topicPolicy:TopicPolicy")[0].input("policy"))
    assert policy["Statement"][0]["Principal"] == {"Service": "backup.amazonaws.com"}


def test_restore_testing_plan(graph: ResourceGraph) -> None:
    vaults = {v.region: v for v in graph.by_type(VAULT)}
    plans = {p.region: p for p in graph.by_type(RT_PLAN)}
    assert set(plans) == {EAST, WEST}
    east = plans[EAST]
    assert east.input("schedule_expression") == "cron(0 6 ? * SUN *)"
    selection = east.input("recovery_point_selection")
    assert selection["includeVaults"] == [vaults[EAST].output("arn")]
    assert selection["recoveryPointTypes"] == ["CONTINUOUS", "SNAPSHOT"]
    tests = {s.region: s for s in graph.by_type(RT_SELECTION)}
    assert tests[EAST].input("protected_resource_arns") == [CLUSTER_EAST]
    assert tests[WEST].input("protected_resource_arns") == ["*"]
    assert (
        tests[EAST].input("restore_testing_plan_name")
        == east.output("name")
        == "orders_us_east_1_restore_test"
    )


def test_without_copies_locks_or_notifications() -> None:
    graph = build(
        backup_args(copy_to_other_regions=False, notifications={"enabled": False}, force_destroy=True)
    )
    assert graph.by_type(LOCK) == [] and graph.by_type(TOPIC) == [] and graph.by_type(NOTIFY) == []
    assert graph.by_type(RT_PLAN) == []
    for plan in graph.by_type(PLAN):
        assert all(not r.get("copyActions") for r in plan.input("rules"))
    assert all(v.input("force_destroy") is True for v in graph.by_type(VAULT))
    assert graph.stack_outputs["topic_arns"] == {}


def test_regions_without_selection_get_a_vault_but_no_plan() -> None:
    graph = build(
        {
            "regions": [EAST, WEST],
            "rules": [dict(DAILY)],
            "selections": [{"name": "db", "region": EAST, "resource_arns": [CLUSTER_EAST]}],
        }
    )
    assert {v.region for v in graph.by_type(VAULT)} == {EAST, WEST}
    assert [p.region for p in graph.by_type(PLAN)] == [EAST]


def test_explicit_provider_and_protect_reach_children() -> None:
    def program() -> None:
        provider = aws.Provider("backup-account", region=EAST)
        AwsBackup("orders", backup_args(), pulumi.ResourceOptions(provider=provider, protect=True))

    graph = synth(program)
    provider = graph.one("pulumi:providers:aws")
    assert graph.resources and all(n.provider == provider.urn for n in graph.resources)
    assert all(n.options.protect for n in graph.resources)


# ------------------------------------------------------------------------- composition with GlobalDatabase


@pytest.mark.parametrize("engine", ["aurora-postgresql", "dynamodb"])
def test_backup_protects_what_the_database_created(engine: str) -> None:
    from test_component_database import aurora_args, dynamo_args

    def program() -> None:
        db = GlobalDatabase("orders", aurora_args() if engine == "aurora-postgresql" else dynamo_args())
        AwsBackup(
            "orders", {"regions": [EAST, WEST], "rules": [dict(DAILY)], "protect_arns": db.resource_arns}
        )

    graph = synth(program)
    if engine == "aurora-postgresql":
        protected = {c.region: [c.output("arn")] for c in graph.by_type("aws:rds/cluster:Cluster")}
    else:
        table = graph.one("aws:dynamodb/table:Table")
        protected = {r: [table.output("arn").replace(f":{EAST}:", f":{r}:")] for r in (EAST, WEST)}
    selections = {s.region: s for s in graph.by_type(SELECTION)}
    assert {r: s.input("resources") for r, s in selections.items()} == protected
    assert all(s.name.endswith("-protected") for s in selections.values())


def test_output_protect_arns_without_a_region_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    errors: list[str] = []
    monkeypatch.setattr(pulumi.log, "error", lambda message, *args, **kwargs: errors.append(message))

    def program() -> None:
        arns = pulumi.Output.from_input({EAST: [CLUSTER_EAST]})
        AwsBackup("orders", {"regions": [EAST, WEST], "rules": [dict(DAILY)], "protect_arns": arns})

    synth(program)
    # An error diagnostic fails `pulumi up`; it names the argument and the region.
    assert errors == ["AwsBackupArgs.protect_arns: no ARNs for us-west-2; every entry of regions needs some"]


def test_plain_protect_arns_checks_regions() -> None:
    with pytest.raises(ValueError, match=r"AwsBackupArgs.protect_arns.eu-west-1: is not one of regions"):
        build({"regions": [EAST, WEST], "rules": [dict(DAILY)], "protect_arns": {"eu-west-1": ["arn:x"]}})


# ------------------------------------------------------------------------- schedules (pure)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 5 ? * * *)",
        "cron(15 * ? * * *)",
        "cron(0 0/6 ? * MON-FRI *)",
        "cron(30 2 L * ? *)",
        "cron(0 3 ? * 6#3 2026-2030)",
        "cron(0 12 1,15 JAN,JUL ? *)",
        "cron(0 4 15W * ? *)",
    ],
)
def test_valid_cron(expression: str) -> None:
    assert len(parse_cron(expression)) == 6


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 5 * * *)", "has 5 fields"),
        ("cron(0 5 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 5 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(60 5 ? * * *)", "minutes value 60 is outside 0..59"),
        ("cron(0 24 ? * * *)", "hours value 24 is outside 0..23"),
        ("cron(0 5 ? 13 * *)", "month value 13"),
        ("cron(0 5 ? * FUNDAY *)", "day-of-week value 'FUNDAY'"),
        ("cron(0 5-3 ? * * *)", "runs backwards"),
        ("0 5 ? * * *", "is not cron("),
        ("cron(? 5 ? * * *)", "'?' is only allowed"),
    ],
)
def test_invalid_cron(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse_cron(expression)


def test_rate_expressions() -> None:
    assert parse_rate("rate(1 hour)") == (1, "hour")
    assert parse_rate("rate(12 hours)") == (12, "hours")
    for bad in ("rate(1 hours)", "rate(5 hour)", "rate(0 days)", "rate(5 weeks)"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_backup_schedule_is_cron_and_at_most_hourly() -> None:
    with pytest.raises(ValueError, match=r"X: AWS Backup accepts only cron\(...\) schedules"):
        check_backup_schedule("rate(1 day)", "X")
    with pytest.raises(ValueError, match=r"X: AWS Backup runs at most hourly"):
        check_backup_schedule("cron(0/15 * ? * * *)", "X")
    check_backup_schedule("cron(5 */2 ? * * *)", "X")


@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    dom=st.one_of(st.just("?"), st.integers(1, 31).map(str)),
    month=st.sampled_from(["*", "1", "JAN-MAR", "6,12"]),
)
def test_generated_crons_parse(minute: int, hour: int, dom: str, month: str) -> None:
    dow = "*" if dom == "?" else "?"
    fields = parse_cron(f"cron({minute} {hour} {dom} {month} {dow} *)")
    assert fields[0] == str(minute) and fields[2] == dom


# ------------------------------------------------------------------------- rejections


def _rule(**changes: Any) -> dict[str, Any]:
    return {**DAILY, **changes}


REJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    (
        "delete-before-cold-plus-90",
        backup_args(rules=[_rule(cold_storage_after_days=30, delete_after_days=100)]),
        r"rules\[0\].delete_after_days: rule delete_after \(100\) must be at least "
        r"cold_storage_after \+ 90 \(120\)",
    ),
    (
        "copy-delete-before-cold-plus-90",
        backup_args(rules=[_rule(copy_delete_after_days=60)]),
        r"rules\[0\].copy_delete_after_days: copy delete_after \(60\) must be at least",
    ),
    (
        "continuous-cold",
        backup_args(rules=[_rule(continuous=True, delete_after_days=14)]),
        r"continuous backups cannot move to cold storage",
    ),
    (
        "continuous-too-long",
        backup_args(rules=[{**PITR, "delete_after_days": 36}]),
        r"continuous backups keep 1..35 days, got 36",
    ),
    (
        "start-window",
        backup_args(rules=[_rule(start_window_minutes=30)]),
        r"start_window_minutes: must be at least 60, got 30",
    ),
    (
        "completion-window",
        backup_args(rules=[_rule(start_window_minutes=120, completion_window_minutes=120)]),
        r"completion_window_minutes: \(120\) must exceed start_window_minutes",
    ),
    (
        "rate-schedule",
        backup_args(rules=[_rule(schedule="rate(1 day)")]),
        r"rules\[0\].schedule: AWS Backup accepts only cron",
    ),
    (
        "bad-cron",
        backup_args(rules=[_rule(schedule="cron(0 5 * * * *)")]),
        r"rules\[0\].schedule: .*exactly one of day-of-month",
    ),
    ("sub-hourly", backup_args(rules=[_rule(schedule="cron(*/10 * ? * * *)")]), r"at most hourly"),
    (
        "no-delete",
        backup_args(rules=[{"name": "x", "schedule": "cron(0 5 ? * * *)"}]),
        r"rules\[0\].delete_after_days: is required",
    ),
    (
        "duplicate-rule",
        backup_args(rules=[dict(DAILY), dict(DAILY)]),
        r"rules\[1\].name: 'daily' is used twice",
    ),
    (
        "lock-retention",
        backup_args(vault_lock={"min_retention_days": 30, "max_retention_days": 90}),
        r"rules\[0\].delete_after_days: 120 days is outside the vault lock's 30..90",
    ),
    (
        "lock-grace",
        backup_args(
            vault_lock={"min_retention_days": 1, "max_retention_days": 400, "changeable_for_days": 1}
        ),
        r"changeable_for_days: must be at least 3",
    ),
    (
        "lock-max-below-min",
        backup_args(vault_lock={"min_retention_days": 30, "max_retention_days": 10}),
        r"max_retention_days: must be 30..36500",
    ),
    (
        "copy-needs-two-regions",
        backup_args(
            regions=[EAST], selections=[{"name": "db", "region": EAST, "resource_arns": [CLUSTER_EAST]}]
        ),
        r"copy_to_other_regions: needs at least two regions",
    ),
    (
        "selection-region",
        backup_args(selections=[{"name": "db", "region": "eu-west-1", "resource_arns": ["arn:x"]}]),
        r"selections\[0\].region: 'eu-west-1' is not one of regions",
    ),
    (
        "selection-empty",
        backup_args(selections=[{"name": "db", "region": EAST}]),
        r"selections\[0\]: needs resource_arns and/or tags",
    ),
    ("nothing-to-protect", backup_args(selections=[]), r"nothing to protect"),
    (
        "bad-email",
        backup_args(notifications={"email_addresses": ["not-an-address"]}),
        r"email_addresses\[0\]: 'not-an-address' is not an email",
    ),
    (
        "restore-type",
        backup_args(restore_testing={"schedule": "cron(0 6 ? * SUN *)", "resource_type": "Redshift"}),
        r"restore_testing.resource_type: 'Redshift' is not one of",
    ),
    (
        "restore-schedule",
        backup_args(restore_testing={"schedule": "weekly", "resource_type": "Aurora"}),
        r"restore_testing.schedule: 'weekly' is not cron",
    ),
    ("duplicate-region", backup_args(regions=[EAST, EAST]), r"regions\[1\]: us-east-1 is listed twice"),
    ("long-name", backup_args(name="a" * 31), r"name: 'a{31}' must be 1-30"),
]


@pytest.mark.parametrize(("args", "message"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_rejections(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        build(args)
    assert str(excinfo.value).startswith("AwsBackupArgs.")


# ------------------------------------------------------------------------- DynamoDB advanced features

TABLE_EAST = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
SETTINGS = "aws:backup/regionSettings:RegionSettings"


def dynamo_backup(**extra: Any) -> dict[str, Any]:
    return {
        "regions": [EAST, WEST],
        "rules": [dict(DAILY)],
        "protect_arns": {EAST: [TABLE_EAST], WEST: [TABLE_EAST.replace(EAST, WEST)]},
        **extra,
    }


def test_dynamodb_copies_need_advanced_features_chosen() -> None:
    message = r"AwsBackupArgs.dynamodb_advanced_features: cross-region copies of DynamoDB backups need"
    with pytest.raises(ValueError, match=message):
        build(dynamo_backup())
    with pytest.raises(ValueError, match=message):
        build(dynamo_backup(dynamodb_advanced_features="off"))
    with pytest.raises(ValueError, match="'on' is not one of enable, enabled-elsewhere, off"):
        build(dynamo_backup(dynamodb_advanced_features="on"))
    # Without copies nothing needs the feature; acknowledged elsewhere, nothing is written.
    assert not build(dynamo_backup(copy_to_other_regions=False)).by_type(SETTINGS)
    assert not build(dynamo_backup(dynamodb_advanced_features="enabled-elsewhere")).by_type(SETTINGS)


def test_dynamodb_advanced_features_enabled_in_every_region() -> None:
    graph = build(dynamo_backup(dynamodb_advanced_features="enable"))
    settings = sorted(graph.by_type(SETTINGS), key=lambda n: n.region or "")
    assert [s.region for s in settings] == [EAST, WEST]  # source and copy destination
    for node in settings:
        assert node.input("resource_type_management_preference") == {"DynamoDB": True}
        assert node.input("resource_type_opt_in_preference")["DynamoDB"] is True


def test_dynamodb_arns_known_at_deployment_are_checked_there(monkeypatch: pytest.MonkeyPatch) -> None:
    errors: list[str] = []
    monkeypatch.setattr(pulumi.log, "error", lambda message, *args, **kwargs: errors.append(message))
    from test_component_database import dynamo_args

    def program() -> None:
        db = GlobalDatabase("orders", dynamo_args())
        AwsBackup(
            "orders", {"regions": [EAST, WEST], "rules": [dict(DAILY)], "protect_arns": db.resource_arns}
        )

    synth(program)
    assert errors and all("dynamodb_advanced_features: cross-region copies" in e for e in errors)

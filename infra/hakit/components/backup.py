"""AWS Backup component: a KMS-encrypted vault per region, plans with cross-region copies, selections,
the service role, SNS alerts for failed/expired jobs and an optional restore-testing plan.

Not to be confused with `hakit.ops.backup` (dump-to-S3 backups of hosts): this one drives AWS Backup.
Validation (schedules, windows, lifecycles, vault lock) is pure and runs before anything is registered.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws.backup as backup
import pulumi_aws.iam as iam
import pulumi_aws.sns as sns

from hakit.components._util import merge_tags
from hakit.components.database.kms import regional_keys

TYPE_TOKEN = "hakit:backup:AwsBackup"
PREFIX = "AwsBackupArgs"

# AWS: recovery points moved to cold storage must stay there at least 90 days.
COLD_STORAGE_MIN_DAYS = 90
# AWS: continuous backups (point-in-time restore) keep 1..35 days and never go to cold storage.
CONTINUOUS_MAX_DAYS = 35
# AWS: a start window shorter than 60 minutes makes jobs fail; the vault lock grace period is >= 3 days.
START_WINDOW_MIN = 60
LOCK_GRACE_MIN_DAYS = 3
RETENTION_MAX_DAYS = 36500

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
RESTORE_TEST_TYPES = ("Aurora", "DocumentDB", "DynamoDB", "EBS", "EC2", "EFS", "FSx", "Neptune", "RDS", "S3")


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
    tags: dict[str, str]
    """Tags for every resource."""


# --------------------------------------------------------------------------- schedule expressions

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i + 1 for i, d in enumerate(_DAY_NAMES)}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: Mapping[str, int]


_CRON_FIELDS = (
    _CronField("minutes", 0, 59, {}),
    _CronField("hours", 0, 23, {}),
    _CronField("day-of-month", 1, 31, {}),
    _CronField("month", 1, 12, _MONTHS),
    _CronField("day-of-week", 1, 7, _DAYS),
    _CronField("year", 1970, 2199, {}),
)


def _cron_value(text: str, spec: _CronField) -> int:
    value = spec.names.get(text.upper()) if spec.names else None
    if value is None:
        if not text.isdigit():
            raise ValueError(f"{spec.name} value {text!r} is not a number")
        value = int(text)
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{spec.name} value {text} is outside {spec.low}..{spec.high}")
    return value


def _cron_item(item: str, spec: _CronField) -> None:
    if spec.name == "day-of-month" and (item in ("L", "LW") or re.fullmatch(r"\d{1,2}W", item)):
        if item[:-1].isdigit():
            _cron_value(item[:-1], spec)
        return
    if spec.name == "day-of-week":
        nth = re.fullmatch(r"(\w+)#([1-5])", item)
        if nth:
            _cron_value(nth.group(1), spec)
            return
        if item == "L" or (item.endswith("L") and len(item) > 1):
            if item != "L":
                _cron_value(item[:-1], spec)
            return
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) < 1):
        raise ValueError(f"{spec.name} step {step!r} must be a positive number")
    if base == "*":
        return
    low, dash, high = base.partition("-")
    first = _cron_value(low, spec)
    if dash and _cron_value(high, spec) < first:
        raise ValueError(f"{spec.name} range {base} runs backwards")


def parse_cron(expression: str) -> tuple[str, ...]:
    """Check an AWS six-field cron(...) expression; return its fields or raise ValueError saying why."""
    match = _CRON.match(expression.strip())
    if not match:
        raise ValueError(f"{expression!r} is not cron(minutes hours day-of-month month day-of-week year)")
    fields = tuple(match.group(1).split())
    if len(fields) != 6:
        raise ValueError(f"{expression!r} has {len(fields)} fields; AWS cron has 6")
    for text, spec in zip(fields, _CRON_FIELDS, strict=True):
        if text == "?":
            if spec.name not in ("day-of-month", "day-of-week"):
                raise ValueError(f"'?' is only allowed in day-of-month or day-of-week, not {spec.name}")
            continue
        for item in text.split(","):
            _cron_item(item, spec)
    if (fields[2] == "?") == (fields[4] == "?"):
        raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
    return fields


def parse_rate(expression: str) -> tuple[int, str]:
    """Check an AWS rate(value unit) expression; return (value, unit) or raise ValueError."""
    match = _RATE.match(expression.strip())
    if not match:
        raise ValueError(f"{expression!r} is not rate(<value> minute|minutes|hour|hours|day|days)")
    value, unit = int(match.group(1)), match.group(2)
    if value < 1:
        raise ValueError(f"{expression!r}: the value must be positive")
    if (value == 1) == unit.endswith("s"):
        raise ValueError(f"{expression!r}: use the singular unit for 1 and the plural otherwise")
    return value, unit


def check_backup_schedule(expression: str, where: str) -> None:
    """AWS Backup schedules are cron(...) only and fire at most once an hour."""
    if expression.strip().startswith("rate("):
        try:
            parse_rate(expression)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        raise ValueError(f"{where}: AWS Backup accepts only cron(...) schedules, not {expression!r}")
    try:
        fields = parse_cron(expression)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if not fields[0].isdigit():
        raise ValueError(
            f"{where}: AWS Backup runs at most hourly; "
            f"the minutes field must be one number, got {fields[0]!r}"
        )


# --------------------------------------------------------------------------- validated plan


@dataclass(frozen=True)
class RulePlan:
    """A validated backup rule."""

    name: str
    schedule: str
    timezone: str | None
    start_window: int
    completion_window: int
    cold_after: int | None
    delete_after: int
    continuous: bool
    copy_cold_after: int | None
    copy_delete_after: int


@dataclass(frozen=True)
class LockPlan:
    """A validated vault lock."""

    min_days: int
    max_days: int
    changeable_for_days: int | None


@dataclass(frozen=True)
class SelectionPlan:
    """A validated selection in one region."""

    name: str
    region: str
    resource_arns: Any
    tags: Mapping[str, str]


@dataclass(frozen=True)
class RestoreTestPlan:
    """Validated restore-testing settings."""

    schedule: str
    resource_type: str
    selection_window_days: int
    start_window_hours: int
    validation_window_hours: int
    metadata_overrides: Mapping[str, str]


@dataclass(frozen=True)
class BackupPlanSpec:
    """Everything AwsBackup registers, validated."""

    name: str
    regions: tuple[str, ...]
    kms_key_arns: Mapping[str, Any]
    lock: LockPlan | None
    rules: tuple[RulePlan, ...]
    copy_to_other_regions: bool
    extra_copy_vaults: tuple[Any, ...]
    selections: tuple[SelectionPlan, ...]
    notify: bool
    emails: tuple[str, ...]
    restore_test: RestoreTestPlan | None
    force_destroy: bool
    tags: Mapping[str, Any]

    def protected_regions(self) -> list[str]:
        """Regions with at least one selection (they get a plan)."""
        return [r for r in self.regions if any(s.region == r for s in self.selections)]


_RULE_NAME = re.compile(r"^[A-Za-z0-9\-_.]{1,50}$")
_BASE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _fail(path: str, message: str) -> ValueError:
    return ValueError(f"{PREFIX}.{path}: {message}")


def _plain(value: Any, path: str) -> Any:
    if isinstance(value, pulumi.Output):
        raise _fail(path, "must be a plain value, not a pulumi.Output (it decides which resources exist)")
    return value


def _int(args: Mapping[str, Any], key: str, path: str, default: int | None = None) -> int | None:
    value = _plain(args.get(key, default), path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"must be an integer, got {value!r}")
    return value


def _lifecycle(cold: int | None, delete: int, path: str, what: str) -> None:
    if delete < 1:
        raise _fail(path, f"{what} delete_after must be at least 1 day, got {delete}")
    if cold is not None:
        if cold < 1:
            raise _fail(path, f"{what} cold_storage_after must be at least 1 day, got {cold}")
        if delete < cold + COLD_STORAGE_MIN_DAYS:
            raise _fail(
                path,
                f"{what} delete_after ({delete}) must be at least cold_storage_after + "
                f"{COLD_STORAGE_MIN_DAYS} ({cold + COLD_STORAGE_MIN_DAYS}): "
                "AWS keeps cold recovery points 90 days",
            )


def _rule(raw: Mapping[str, Any], path: str, lock: LockPlan | None) -> RulePlan:
    name = _plain(raw.get("name"), f"{path}.name")
    if not isinstance(name, str) or not _RULE_NAME.match(name):
        raise _fail(f"{path}.name", f"{name!r} must be 1-50 letters, digits, '-', '_' or '.'")
    schedule = _plain(raw.get("schedule"), f"{path}.schedule")
    if not isinstance(schedule, str):
        raise _fail(f"{path}.schedule", "is required, e.g. 'cron(0 5 ? * * *)'")
    check_backup_schedule(schedule, f"{PREFIX}.{path}.schedule")
    start = _int(raw, "start_window_minutes", f"{path}.start_window_minutes", START_WINDOW_MIN)
    assert start is not None
    if start < START_WINDOW_MIN:
        raise _fail(f"{path}.start_window_minutes", f"must be at least {START_WINDOW_MIN}, got {start}")
    completion = _int(
        raw, "completion_window_minutes", f"{path}.completion_window_minutes", max(480, start + 60)
    )
    assert completion is not None
    if completion <= start:
        raise _fail(
            f"{path}.completion_window_minutes",
            f"({completion}) must exceed start_window_minutes ({start}): both count from the scheduled time",
        )
    delete = _int(raw, "delete_after_days", f"{path}.delete_after_days")
    if delete is None:
        raise _fail(
            f"{path}.delete_after_days",
            "is required (recovery points kept forever are a cost and a lock hazard)",
        )
    cold = _int(raw, "cold_storage_after_days", f"{path}.cold_storage_after_days")
    continuous = bool(_plain(raw.get("continuous", False), f"{path}.continuous"))
    if continuous:
        if cold is not None:
            raise _fail(f"{path}.cold_storage_after_days", "continuous backups cannot move to cold storage")
        if not 1 <= delete <= CONTINUOUS_MAX_DAYS:
            raise _fail(
                f"{path}.delete_after_days",
                f"continuous backups keep 1..{CONTINUOUS_MAX_DAYS} days, got {delete}",
            )
    _lifecycle(cold, delete, f"{path}.delete_after_days", "rule")
    copy_delete = _int(raw, "copy_delete_after_days", f"{path}.copy_delete_after_days", delete)
    copy_cold = _int(raw, "copy_cold_storage_after_days", f"{path}.copy_cold_storage_after_days", cold)
    assert copy_delete is not None
    _lifecycle(copy_cold, copy_delete, f"{path}.copy_delete_after_days", "copy")
    if lock is not None:
        for label, days in (("delete_after_days", delete), ("copy_delete_after_days", copy_delete)):
            if not lock.min_days <= days <= lock.max_days:
                raise _fail(
                    f"{path}.{label}",
                    f"{days} days is outside the vault lock's {lock.min_days}..{lock.max_days}: "
                    "jobs would fail",
                )
    timezone = _plain(raw.get("schedule_timezone"), f"{path}.schedule_timezone")
    return RulePlan(
        name, schedule, timezone, start, completion, cold, delete, continuous, copy_cold, copy_delete
    )


def _lock(raw: Mapping[str, Any] | None) -> LockPlan | None:
    if raw is None:
        return None
    low = _int(raw, "min_retention_days", "vault_lock.min_retention_days")
    high = _int(raw, "max_retention_days", "vault_lock.max_retention_days")
    if low is None or high is None:
        raise _fail("vault_lock", "min_retention_days and max_retention_days are required")
    if not 1 <= low <= RETENTION_MAX_DAYS:
        raise _fail("vault_lock.min_retention_days", f"must be 1..{RETENTION_MAX_DAYS}, got {low}")
    if not low <= high <= RETENTION_MAX_DAYS:
        raise _fail(
            "vault_lock.max_retention_days", f"must be {low}..{RETENTION_MAX_DAYS} (>= min), got {high}"
        )
    grace = _int(raw, "changeable_for_days", "vault_lock.changeable_for_days")
    if grace is not None and not LOCK_GRACE_MIN_DAYS <= grace <= RETENTION_MAX_DAYS:
        raise _fail(
            "vault_lock.changeable_for_days", f"must be at least {LOCK_GRACE_MIN_DAYS} days, got {grace}"
        )
    return LockPlan(low, high, grace)


def _arns_of(protect: Any, region: str) -> pulumi.Output[list[str]]:
    """The ARN list of one region out of a (possibly Output) region -> ARNs map.

    An Output map is only known at deployment: a region without ARNs is reported there as an error
    diagnostic (which fails the update) naming the argument, rather than as AWS's empty-selection error.
    """

    def pick(arns: Mapping[str, Any]) -> list[str]:
        chosen = [str(arn) for arn in arns.get(region) or []]
        if not chosen:
            pulumi.log.error(
                f"{PREFIX}.protect_arns: no ARNs for {region}; every entry of regions needs some"
            )
        return chosen

    return pulumi.Output.from_input(protect).apply(pick)


def _selections(args: Mapping[str, Any], regions: Sequence[str]) -> tuple[SelectionPlan, ...]:
    plans: list[SelectionPlan] = []
    protect = args.get("protect_arns")
    if protect is not None:
        if isinstance(protect, Mapping):
            for region in protect:
                if region not in regions:
                    raise _fail(f"protect_arns.{region}", f"is not one of regions ({', '.join(regions)})")
            covered = [r for r in regions if r in protect]
        else:
            covered = list(regions)  # an Output (e.g. GlobalDatabase.resource_arns): one entry per region
        for region in covered:
            plans.append(SelectionPlan("protected", region, _arns_of(protect, region), {}))
    for i, raw in enumerate(_plain(args.get("selections") or [], "selections")):
        path = f"selections[{i}]"
        name = raw.get("name")
        if not isinstance(name, str) or not _RULE_NAME.match(name):
            raise _fail(f"{path}.name", f"{name!r} must be 1-50 letters, digits, '-', '_' or '.'")
        region = raw.get("region")
        if region not in regions:
            raise _fail(f"{path}.region", f"{region!r} is not one of regions ({', '.join(regions)})")
        tags = dict(_plain(raw.get("tags") or {}, f"{path}.tags"))
        if raw.get("resource_arns") is None and not tags:
            raise _fail(path, "needs resource_arns and/or tags")
        if any(p.name == name and p.region == region for p in plans):
            raise _fail(f"{path}.name", f"{name!r} is used twice in {region}")
        plans.append(SelectionPlan(name, region, raw.get("resource_arns"), tags))
    if not plans:
        raise _fail("selections", "nothing to protect: give protect_arns and/or selections")
    return tuple(plans)


def _restore_test(raw: Mapping[str, Any] | None) -> RestoreTestPlan | None:
    if raw is None:
        return None
    schedule = raw.get("schedule")
    if not isinstance(schedule, str):
        raise _fail("restore_testing.schedule", "is required, e.g. 'cron(0 6 ? * SUN *)'")
    try:
        parse_cron(schedule)
    except ValueError as error:
        raise _fail("restore_testing.schedule", str(error)) from None
    kind = raw.get("resource_type")
    if kind not in RESTORE_TEST_TYPES:
        raise _fail(
            "restore_testing.resource_type", f"{kind!r} is not one of {', '.join(RESTORE_TEST_TYPES)}"
        )
    window = _int(raw, "selection_window_days", "restore_testing.selection_window_days", 7)
    start = _int(raw, "start_window_hours", "restore_testing.start_window_hours", 1)
    validation = _int(raw, "validation_window_hours", "restore_testing.validation_window_hours", 1)
    assert window is not None and start is not None and validation is not None
    if not 1 <= window <= 365:
        raise _fail("restore_testing.selection_window_days", f"must be 1..365, got {window}")
    if not 1 <= start <= 168:
        raise _fail("restore_testing.start_window_hours", f"must be 1..168, got {start}")
    if not 0 <= validation <= 168:
        raise _fail("restore_testing.validation_window_hours", f"must be 0..168, got {validation}")
    overrides = {str(k): str(v) for k, v in dict(raw.get("metadata_overrides") or {}).items()}
    return RestoreTestPlan(schedule, kind, window, start, validation, overrides)


def build_backup_spec(component_name: str, args: Mapping[str, Any]) -> BackupPlanSpec:
    """Validate AwsBackupArgs; raise ValueError naming the bad field."""
    regions_raw = _plain(args.get("regions"), "regions")
    if not isinstance(regions_raw, list | tuple) or not regions_raw:
        raise _fail("regions", "is required: at least one region")
    regions: list[str] = []
    for i, region in enumerate(regions_raw):
        if not isinstance(region, str) or not _REGION.match(region):
            raise _fail(f"regions[{i}]", f"{region!r} is not an AWS region name")
        if region in regions:
            raise _fail(f"regions[{i}]", f"{region} is listed twice")
        regions.append(region)
    name = _plain(args.get("name"), "name") or component_name
    if not isinstance(name, str) or not _BASE_NAME.match(name):
        raise _fail(
            "name", f"{name!r} must be 1-30 lowercase letters, digits or hyphens (vault names stay <= 50)"
        )
    copy_regions = bool(_plain(args.get("copy_to_other_regions", True), "copy_to_other_regions"))
    if copy_regions and len(regions) < 2:
        raise _fail("copy_to_other_regions", "needs at least two regions (or set it false)")
    lock = _lock(_plain(args.get("vault_lock"), "vault_lock"))
    rules_raw = _plain(args.get("rules") or [], "rules")
    if not rules_raw:
        raise _fail("rules", "is required: at least one rule")
    rules = tuple(_rule(raw, f"rules[{i}]", lock) for i, raw in enumerate(rules_raw))
    names = [r.name for r in rules]
    for i, rule_name in enumerate(names):
        if rule_name in names[:i]:
            raise _fail(f"rules[{i}].name", f"{rule_name!r} is used twice")
    kms = dict(_plain(args.get("kms_key_arns") or {}, "kms_key_arns"))
    for region in kms:
        if region not in regions:
            raise _fail(f"kms_key_arns.{region}", "is not one of regions")
    notifications = dict(_plain(args.get("notifications") or {}, "notifications"))
    emails = tuple(_plain(notifications.get("email_addresses") or [], "notifications.email_addresses"))
    for i, email in enumerate(emails):
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise _fail(f"notifications.email_addresses[{i}]", f"{email!r} is not an email address")
    notify = bool(notifications.get("enabled", True))
    if emails and not notify:
        raise _fail("notifications.email_addresses", "needs notifications.enabled")
    return BackupPlanSpec(
        name=name,
        regions=tuple(regions),
        kms_key_arns=kms,
        lock=lock,
        rules=rules,
        copy_to_other_regions=copy_regions,
        extra_copy_vaults=tuple(_plain(args.get("copy_to_vault_arns") or [], "copy_to_vault_arns")),
        selections=_selections(args, regions),
        notify=notify,
        emails=emails,
        restore_test=_restore_test(_plain(args.get("restore_testing"), "restore_testing")),
        force_destroy=bool(_plain(args.get("force_destroy", False), "force_destroy")),
        tags=dict(args.get("tags") or {}),
    )


# --------------------------------------------------------------------------- policies (pure)


def key_policy(partition: str, account: str) -> str:
    """KMS key policy: the account administers the key; AWS Backup may encrypt SNS messages with it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
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


ASSUME_ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    },
    sort_keys=True,
)


def _output_map(values: Mapping[str, Any]) -> pulumi.Output[dict[str, Any]]:
    """An Output of a dict (Output.all() of no keywords would give a list)."""
    if not values:
        return pulumi.Output.from_input({})
    return pulumi.Output.all(**values)


def _identifier(text: str) -> str:
    """Restore-testing names allow letters, digits and underscores only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)[:50]


# --------------------------------------------------------------------------- the component


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
        self._spec = spec
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

    def _child(self, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)

    def _role(self, spec: BackupPlanSpec, tags: Mapping[str, Any]) -> iam.Role:
        return iam.Role(
            f"{spec.name}-backup",
            assume_role_policy=ASSUME_ROLE_POLICY,
            description=f"AWS Backup service role for {spec.name}",
            tags=dict(tags),
            opts=self._child(),
        )

    def _attach_managed_policies(
        self, spec: BackupPlanSpec, role: iam.Role, partition: pulumi.Output[str]
    ) -> None:
        for policy in MANAGED_POLICIES:
            iam.RolePolicyAttachment(
                f"{spec.name}-{policy}",
                role=role.name,
                policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:policy/service-role/", policy),
                opts=self._child(),
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
                opts=self._child(),
            )
            if spec.lock is not None:
                backup.VaultLockConfiguration(
                    f"{spec.name}-{region}",
                    backup_vault_name=vault.name,
                    min_retention_days=spec.lock.min_days,
                    max_retention_days=spec.lock.max_days,
                    changeable_for_days=spec.lock.changeable_for_days,
                    region=region,
                    opts=self._child(),
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
                opts=self._child(),
            )
            topic_policy_resource = sns.TopicPolicy(
                f"{spec.name}-backup-{region}",
                arn=topic.arn,
                policy=pulumi.Output.all(topic.arn, account).apply(lambda v: topic_policy(v[0], v[1])),
                region=region,
                opts=self._child(),
            )
            backup.VaultNotifications(
                f"{spec.name}-{region}",
                backup_vault_name=vault.name,
                sns_topic_arn=topic.arn,
                backup_vault_events=list(NOTIFY_EVENTS),
                region=region,
                opts=self._child(depends_on=[topic_policy_resource]),
            )
            for index, email in enumerate(spec.emails):
                sns.TopicSubscription(
                    f"{spec.name}-backup-{region}-{index}",
                    topic=topic.arn,
                    protocol="email",
                    endpoint=email,
                    filter_policy=FAILURE_FILTER_POLICY,
                    region=region,
                    opts=self._child(),
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
                opts=self._child(),
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
                    opts=self._child(),
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
                opts=self._child(),
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
                opts=self._child(),
            )

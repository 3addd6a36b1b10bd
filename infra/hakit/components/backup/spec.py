"""Validate AwsBackupArgs into a plain, checked spec before any resource is registered (pure)."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pulumi

from hakit.components.backup.schedule import check_backup_schedule, parse_cron

PREFIX = "AwsBackupArgs"

# AWS: recovery points moved to cold storage must stay there at least 90 days.
COLD_STORAGE_MIN_DAYS = 90
# AWS: continuous backups (point-in-time restore) keep 1..35 days and never go to cold storage.
CONTINUOUS_MAX_DAYS = 35
# AWS: a start window shorter than 60 minutes makes jobs fail; the vault lock grace period is >= 3 days.
START_WINDOW_MIN = 60
LOCK_GRACE_MIN_DAYS = 3
RETENTION_MAX_DAYS = 36500

RESTORE_TEST_TYPES = ("Aurora", "DocumentDB", "DynamoDB", "EBS", "EC2", "EFS", "FSx", "Neptune", "RDS", "S3")


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
    dynamodb_region_settings: bool = False  # write backup.RegionSettings (advanced DynamoDB) per region

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
    if not isinstance(name, str) or not _RULE_NAME.fullmatch(name):
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
        if not isinstance(name, str) or not _RULE_NAME.fullmatch(name):
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
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            raise _fail(f"regions[{i}]", f"{region!r} is not an AWS region name")
        if region in regions:
            raise _fail(f"regions[{i}]", f"{region} is listed twice")
        regions.append(region)
    name = _plain(args.get("name"), "name") or component_name
    if not isinstance(name, str) or not _BASE_NAME.fullmatch(name):
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
        if not isinstance(email, str) or not _EMAIL.fullmatch(email):
            raise _fail(f"notifications.email_addresses[{i}]", f"{email!r} is not an email address")
    notify = bool(notifications.get("enabled", True))
    if emails and not notify:
        raise _fail("notifications.email_addresses", "needs notifications.enabled")
    selections = _selections(args, regions)
    restore_test = _restore_test(_plain(args.get("restore_testing"), "restore_testing"))
    copies = copy_regions or bool(args.get("copy_to_vault_arns"))
    features = _plain(args.get("dynamodb_advanced_features"), "dynamodb_advanced_features")
    protect = args.get("protect_arns")
    lists = protect.values() if isinstance(protect, Mapping) else []
    plain_protect = [a for arns in lists if isinstance(arns, list | tuple) for a in arns]
    protects = _protects_dynamodb(selections, restore_test, plain_protect)
    dynamodb = _dynamodb_features(features, copies and protects)
    if copies and features in (None, "off"):
        selections = tuple(_check_outputs_for_dynamodb(s) for s in selections)
    return BackupPlanSpec(
        name=name,
        regions=tuple(regions),
        kms_key_arns=kms,
        lock=lock,
        rules=rules,
        copy_to_other_regions=copy_regions,
        extra_copy_vaults=tuple(_plain(args.get("copy_to_vault_arns") or [], "copy_to_vault_arns")),
        selections=selections,
        notify=notify,
        emails=emails,
        restore_test=restore_test,
        force_destroy=bool(_plain(args.get("force_destroy", False), "force_destroy")),
        tags=dict(args.get("tags") or {}),
        dynamodb_region_settings=dynamodb,
    )


DYNAMODB_FEATURES = ("enable", "enabled-elsewhere", "off")


def _protects_dynamodb(
    selections: tuple[SelectionPlan, ...], restore_test: RestoreTestPlan | None, protect: list[Any]
) -> bool:
    """True when a plain ARN is a DynamoDB table or the restore test restores DynamoDB."""
    arns = [a for s in selections if isinstance(s.resource_arns, list | tuple) for a in s.resource_arns]
    arns += protect
    tables = any(isinstance(a, str) and a.split(":")[2:3] == ["dynamodb"] for a in arns)
    return tables or (restore_test is not None and restore_test.resource_type == "DynamoDB")


_DYNAMODB_COPIES = (
    "cross-region copies of DynamoDB backups need AWS Backup's advanced DynamoDB features "
    "(ResourceTypeManagementPreference DynamoDB=true in each region): set enable, or "
    "enabled-elsewhere if the account already has them"
)


def _check_outputs_for_dynamodb(selection: SelectionPlan) -> SelectionPlan:
    """ARNs known only at deployment (another component's outputs): the same rule, as an error diagnostic."""
    if not isinstance(selection.resource_arns, pulumi.Output):
        return selection

    def check(arns: Any) -> Any:
        if any(isinstance(a, str) and a.split(":")[2:3] == ["dynamodb"] for a in arns or []):
            pulumi.log.error(f"{PREFIX}.dynamodb_advanced_features: {_DYNAMODB_COPIES}")
        return arns

    return replace(selection, resource_arns=selection.resource_arns.apply(check))


def _dynamodb_features(value: Any, copies_dynamodb: bool) -> bool:
    """Whether to write the region settings; refuse copies of DynamoDB backups nobody enabled."""
    if value is not None and value not in DYNAMODB_FEATURES:
        raise _fail("dynamodb_advanced_features", f"{value!r} is not one of {', '.join(DYNAMODB_FEATURES)}")
    if copies_dynamodb and value in (None, "off"):
        raise _fail("dynamodb_advanced_features", _DYNAMODB_COPIES)
    return value == "enable"

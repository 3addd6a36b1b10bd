"""Validate GlobalDatabaseArgs into a plain, checked plan before any resource is registered (pure)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pulumi

from hakit.components.database.versions import (
    AURORA_MYSQL,
    AURORA_POSTGRESQL,
    RPO_MIN_SECONDS,
    AuroraEngine,
    resolve_aurora_engine,
)

DYNAMODB = "dynamodb"
DSQL = "dsql"
ENGINES = (AURORA_POSTGRESQL, AURORA_MYSQL, DYNAMODB, DSQL)

MREC = "MREC"
MRSC = "MRSC"

# Region sets inside which DynamoDB MRSC replicas/witness must stay (DynamoDB developer guide, MRSC).
DYNAMODB_MRSC_REGION_SETS: tuple[frozenset[str], ...] = (
    frozenset({"us-east-1", "us-east-2", "us-west-2"}),
    frozenset({"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"}),
    frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
)
# Region sets inside which Aurora DSQL peers and witness must stay (Aurora DSQL user guide, multi-Region).
DSQL_REGION_SETS: tuple[frozenset[str], ...] = (
    frozenset({"us-east-1", "us-east-2", "us-west-2"}),
    frozenset({"eu-west-1", "eu-west-2", "eu-west-3"}),
    frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
)

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_NAME = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){0,39}(?<!-)$")
_DB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_MAINTENANCE = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
)
_KEY_TYPES = ("S", "N", "B")
_STREAM_VIEWS = ("NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY")
_MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
_PI_RETENTION = frozenset({7, 731} | {31 * n for n in range(1, 24)})

PREFIX = "GlobalDatabaseArgs"


@dataclass(frozen=True)
class AuroraNetwork:
    """Network placement of one region's cluster (subnets/SGs may be Outputs)."""

    subnet_ids: Any
    security_group_ids: Any
    availability_zones: tuple[str, ...]


@dataclass(frozen=True)
class AuroraPlan:
    """Validated Aurora options."""

    engine: AuroraEngine
    instance_class: str
    primary_instances: int
    secondary_instances: int
    networks: Mapping[str, AuroraNetwork]
    database_name: str
    master_username: str
    backup_retention_days: int
    backup_window: str
    maintenance_window: str
    rpo_seconds: int | None
    performance_insights_retention_days: int
    monitoring_interval: int
    cluster_parameters: Mapping[str, str]
    skip_final_snapshot: bool


@dataclass(frozen=True)
class DynamoDbPlan:
    """Validated DynamoDB global table options."""

    table_name: str
    hash_key: str
    hash_key_type: str
    range_key: str | None
    range_key_type: str
    consistency: str
    ttl_attribute: str | None
    stream_view_type: str


@dataclass(frozen=True)
class DatabasePlan:
    """Everything the component needs, checked and with defaults filled in."""

    engine: str
    name: str
    primary_region: str
    secondary_regions: tuple[str, ...]
    witness_region: str | None
    deletion_protection: bool
    kms_key_arns: Mapping[str, Any]
    tags: Mapping[str, Any]
    aurora: AuroraPlan | None = None
    dynamodb: DynamoDbPlan | None = None

    @property
    def regions(self) -> tuple[str, ...]:
        """Primary first, then the secondaries."""
        return (self.primary_region, *self.secondary_regions)


def _fail(path: str, message: str) -> ValueError:
    return ValueError(f"{PREFIX}.{path}: {message}")


def _plain(value: Any, path: str) -> Any:
    """Values that decide which resources exist must be known now, not Outputs."""
    if isinstance(value, pulumi.Output):
        raise _fail(path, "must be a plain value, not a pulumi.Output (it decides which resources exist)")
    return value


def _get(
    args: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    value = _plain(args.get(key, default), path)
    if value is None:
        return None
    if kind is int and isinstance(value, bool):
        raise _fail(path, f"must be an integer, got {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(path, f"must be {names}, got {type(value).__name__}")
    return value


def _required(args: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    value = _get(args, key, path, kind)
    if value is None or value == "":
        raise _fail(path, "is required")
    return value


def _region(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise _fail(path, f"{value!r} is not an AWS region name like 'us-east-1'")
    return value


def build_plan(component_name: str, args: Mapping[str, Any]) -> DatabasePlan:
    """Validate `args` (GlobalDatabaseArgs) and return the plan; raise ValueError naming the bad field."""
    engine = _required(args, "engine", "engine", str)
    if engine not in ENGINES:
        raise _fail("engine", f"{engine!r} is not one of {', '.join(ENGINES)}")
    name = _get(args, "name", "name", str) or component_name
    if not _NAME.fullmatch(name):
        raise _fail(
            "name",
            f"{name!r} must be 1-40 lowercase letters, digits or single hyphens, starting with a letter",
        )
    primary = _region(_required(args, "primary_region", "primary_region", str), "primary_region")
    secondaries_raw = _required(args, "secondary_regions", "secondary_regions", (list, tuple))
    secondaries = tuple(_region(r, f"secondary_regions[{i}]") for i, r in enumerate(secondaries_raw))
    if not secondaries:
        raise _fail("secondary_regions", "needs at least one region besides the primary")
    for i, region in enumerate(secondaries):
        if region == primary:
            raise _fail(
                f"secondary_regions[{i}]",
                f"{region} is the primary region; a secondary must be another region",
            )
        if region in secondaries[:i]:
            raise _fail(f"secondary_regions[{i}]", f"{region} is listed twice")
    witness = _get(args, "witness_region", "witness_region", str)
    if witness is not None:
        witness = _region(witness, "witness_region")
        if witness in (primary, *secondaries):
            raise _fail(
                "witness_region", f"{witness} already holds a replica; the witness must be a third region"
            )
    kms = dict(_get(args, "kms_key_arns", "kms_key_arns", dict) or {})
    for region in kms:
        if region not in (primary, *secondaries):
            raise _fail(f"kms_key_arns.{region}", "is not one of the database's regions")
    base = DatabasePlan(
        engine=engine,
        name=name,
        primary_region=primary,
        secondary_regions=secondaries,
        witness_region=witness,
        deletion_protection=bool(_get(args, "deletion_protection", "deletion_protection", bool, True)),
        kms_key_arns=kms,
        tags=dict(args.get("tags") or {}),
    )
    if engine in (AURORA_POSTGRESQL, AURORA_MYSQL):
        if witness is not None:
            raise _fail("witness_region", "Aurora global databases have no witness region")
        aurora = _aurora_plan(engine, base, dict(_get(args, "aurora", "aurora", dict) or {}))
        return replace(base, aurora=aurora)
    if engine == DYNAMODB:
        dynamodb = _dynamodb_plan(base, dict(_get(args, "dynamodb", "dynamodb", dict) or {}))
        return replace(base, dynamodb=dynamodb)
    _check_dsql(base)
    return base


def _aurora_plan(engine_name: str, base: DatabasePlan, args: Mapping[str, Any]) -> AuroraPlan:
    write_forwarding = bool(_get(args, "write_forwarding", "aurora.write_forwarding", bool, True))
    version = _required(args, "engine_version", "aurora.engine_version", str)
    engine = resolve_aurora_engine(
        engine_name, version, write_forwarding=write_forwarding, field=f"{PREFIX}.aurora.engine_version"
    )
    instance_class = _get(args, "instance_class", "aurora.instance_class", str, "db.r6g.large")
    if not instance_class.startswith("db."):
        raise _fail(
            "aurora.instance_class", f"{instance_class!r} is not an RDS instance class like 'db.r6g.large'"
        )
    if instance_class.startswith("db.t"):
        raise _fail(
            "aurora.instance_class",
            f"{instance_class} is burstable; Aurora global databases need memory-optimized (db.r*) "
            "or db.serverless",
        )
    primary_instances = _get(args, "primary_instances", "aurora.primary_instances", int, 2)
    if primary_instances < 2:
        raise _fail(
            "aurora.primary_instances",
            f"must be at least 2 (a writer and a reader in another AZ), got {primary_instances}",
        )
    secondary_instances = _get(args, "secondary_instances", "aurora.secondary_instances", int, 2)
    if secondary_instances < 1:
        raise _fail("aurora.secondary_instances", f"must be at least 1, got {secondary_instances}")
    networks = _networks(base, args, primary_instances)
    database_name = _get(args, "database_name", "aurora.database_name", str, "app")
    if not _DB_NAME.fullmatch(database_name):
        raise _fail(
            "aurora.database_name", f"{database_name!r} must start with a letter and hold letters, digits, _"
        )
    username = _get(args, "master_username", "aurora.master_username", str, "hakit_admin")
    if (
        not _DB_NAME.fullmatch(username)
        or len(username) > 16
        or username.lower() in {"admin", "rdsadmin", "postgres", "root"}
    ):
        raise _fail(
            "aurora.master_username", f"{username!r} must be 1-16 letters/digits/_ and not a reserved name"
        )
    retention = _get(args, "backup_retention_days", "aurora.backup_retention_days", int, 14)
    if not 1 <= retention <= 35:
        raise _fail("aurora.backup_retention_days", f"must be 1..35, got {retention}")
    window = _get(args, "preferred_backup_window", "aurora.preferred_backup_window", str, "03:00-04:00")
    if not _WINDOW.fullmatch(window):
        raise _fail("aurora.preferred_backup_window", f"{window!r} is not hh24:mi-hh24:mi")
    maintenance = _get(
        args,
        "preferred_maintenance_window",
        "aurora.preferred_maintenance_window",
        str,
        "sun:05:00-sun:06:00",
    )
    if not _MAINTENANCE.fullmatch(maintenance):
        raise _fail("aurora.preferred_maintenance_window", f"{maintenance!r} is not ddd:hh24:mi-ddd:hh24:mi")
    rpo = _get(args, "rpo_seconds", "aurora.rpo_seconds", int)
    if rpo is not None:
        if not engine.is_postgresql:
            raise _fail("aurora.rpo_seconds", "rds.global_db_rpo exists only for Aurora PostgreSQL")
        if rpo < RPO_MIN_SECONDS:
            raise _fail("aurora.rpo_seconds", f"must be at least {RPO_MIN_SECONDS} seconds, got {rpo}")
    pi_days = _get(
        args, "performance_insights_retention_days", "aurora.performance_insights_retention_days", int, 7
    )
    if pi_days not in _PI_RETENTION:
        raise _fail(
            "aurora.performance_insights_retention_days", f"must be 7, 31*n (n=1..23) or 731, got {pi_days}"
        )
    monitoring = _get(args, "monitoring_interval", "aurora.monitoring_interval", int, 60)
    if monitoring not in _MONITORING_INTERVALS:
        raise _fail("aurora.monitoring_interval", f"must be one of 0, 1, 5, 10, 15, 30, 60, got {monitoring}")
    parameters = dict(_get(args, "cluster_parameters", "aurora.cluster_parameters", dict) or {})
    if "rds.global_db_rpo" in parameters:
        raise _fail("aurora.cluster_parameters", "set rds.global_db_rpo with aurora.rpo_seconds")
    return AuroraPlan(
        engine=engine,
        instance_class=instance_class,
        primary_instances=primary_instances,
        secondary_instances=secondary_instances,
        networks=networks,
        database_name=database_name,
        master_username=username,
        backup_retention_days=retention,
        backup_window=window,
        maintenance_window=maintenance,
        rpo_seconds=rpo,
        performance_insights_retention_days=pi_days,
        monitoring_interval=monitoring,
        cluster_parameters={str(k): str(v) for k, v in parameters.items()},
        skip_final_snapshot=bool(
            _get(args, "skip_final_snapshot", "aurora.skip_final_snapshot", bool, False)
        ),
    )


def _networks(
    base: DatabasePlan, args: Mapping[str, Any], primary_instances: int
) -> dict[str, AuroraNetwork]:
    raw = _required(args, "networks", "aurora.networks", dict)
    networks: dict[str, AuroraNetwork] = {}
    for region in base.regions:
        entry = raw.get(region)
        path = f"aurora.networks.{region}"
        if not isinstance(entry, Mapping):
            raise _fail(path, "is required: subnet_ids and security_group_ids for every region")
        if entry.get("subnet_ids") is None:
            raise _fail(f"{path}.subnet_ids", "is required")
        if entry.get("security_group_ids") is None:
            raise _fail(f"{path}.security_group_ids", "is required")
        zones = tuple(_plain(entry.get("availability_zones") or (), f"{path}.availability_zones"))
        for zone in zones:
            if not isinstance(zone, str) or not zone.startswith(region):
                raise _fail(f"{path}.availability_zones", f"{zone!r} is not an AZ of {region}")
        if region == base.primary_region and len(set(zones)) < 2:
            raise _fail(
                f"{path}.availability_zones",
                f"the primary's {primary_instances} instances need at least two distinct AZs, "
                f"got {list(zones)}",
            )
        networks[region] = AuroraNetwork(entry["subnet_ids"], entry["security_group_ids"], zones)
    for region in raw:
        if region not in base.regions:
            raise _fail(f"aurora.networks.{region}", "is not one of the database's regions")
    return networks


def _dynamodb_plan(base: DatabasePlan, args: Mapping[str, Any]) -> DynamoDbPlan:
    consistency = _get(args, "consistency", "dynamodb.consistency", str, MREC)
    if consistency not in (MREC, MRSC):
        raise _fail("dynamodb.consistency", f"{consistency!r} is not MREC or MRSC")
    if consistency == MRSC:
        regions = [*base.regions, *([base.witness_region] if base.witness_region else [])]
        if len(regions) != 3:
            raise _fail(
                "dynamodb.consistency",
                "MRSC needs exactly three regions (three replicas, or two replicas and a witness), "
                f"got {len(regions)}: " + ", ".join(regions),
            )
        if not any(set(regions) <= region_set for region_set in DYNAMODB_MRSC_REGION_SETS):
            raise _fail(
                "dynamodb.consistency",
                f"MRSC regions {', '.join(regions)} must lie in one region set (US, EU or AP)",
            )
    elif base.witness_region is not None:
        raise _fail("witness_region", "a witness is only used with dynamodb.consistency MRSC")
    hash_key = _required(args, "hash_key", "dynamodb.hash_key", str)
    hash_type = _get(args, "hash_key_type", "dynamodb.hash_key_type", str, "S")
    range_key = _get(args, "range_key", "dynamodb.range_key", str)
    range_type = _get(args, "range_key_type", "dynamodb.range_key_type", str, "S")
    for path, value in (("hash_key_type", hash_type), ("range_key_type", range_type)):
        if value not in _KEY_TYPES:
            raise _fail(f"dynamodb.{path}", f"{value!r} is not S, N or B")
    if range_key == hash_key:
        raise _fail("dynamodb.range_key", "must differ from hash_key")
    view = _get(args, "stream_view_type", "dynamodb.stream_view_type", str, "NEW_AND_OLD_IMAGES")
    if view not in _STREAM_VIEWS:
        raise _fail("dynamodb.stream_view_type", f"{view!r} is not one of {', '.join(_STREAM_VIEWS)}")
    return DynamoDbPlan(
        table_name=_get(args, "table_name", "dynamodb.table_name", str) or base.name,
        hash_key=hash_key,
        hash_key_type=hash_type,
        range_key=range_key,
        range_key_type=range_type,
        consistency=consistency,
        ttl_attribute=_get(args, "ttl_attribute", "dynamodb.ttl_attribute", str),
        stream_view_type=view,
    )


def _check_dsql(base: DatabasePlan) -> None:
    if len(base.secondary_regions) != 1:
        raise _fail(
            "secondary_regions",
            "Aurora DSQL peers exactly two regional clusters: give one secondary region, "
            f"got {len(base.secondary_regions)}",
        )
    if base.witness_region is None:
        raise _fail("witness_region", "is required for a multi-region Aurora DSQL cluster")
    regions = [*base.regions, base.witness_region]
    if not any(set(regions) <= region_set for region_set in DSQL_REGION_SETS):
        raise _fail(
            "witness_region", f"DSQL regions {', '.join(regions)} must lie in one region set (US, EU or AP)"
        )

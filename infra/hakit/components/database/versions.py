"""Which Aurora engine versions can be global and which can forward writes (pure data + parsing).

Sources (AWS Aurora User Guide, checked 2026-11):
- "Supported Regions and DB engines for Aurora global databases"
  (Concepts.Aurora_Fea_Regions_DB-eng.Feature.GlobalDatabase): Aurora MySQL 3.01.0+ and 2.07.0+ in the
  main commercial Regions (a few newer Regions need later minors: Hyderabad 3.02.0, Melbourne 3.03.0,
  Malaysia 3.04.0); Aurora PostgreSQL per major: 18.3+, 17.4+, 16.1+, 15.2+, 14.3+, 13.4+, 12.8+,
  11.9 and 11.13+. (Older revisions of that page listed 13.3+ and 12.7+: AWS raises the floors as it
  retires minors, so the current, stricter floors are kept.)
- "Using write forwarding in an Aurora MySQL global database": Aurora MySQL 2.08.1 and higher.
- "Using write forwarding in an Aurora PostgreSQL global database": all minors of 16 and later,
  15.4+ and 14.9+; earlier majors have no global write forwarding.
The tables hold the minimum minor per supported major; a major absent from a table is rejected.
Region-specific later minimums are not encoded: RDS itself rejects those at create time.
"""

import re
from dataclasses import dataclass

AURORA_POSTGRESQL = "aurora-postgresql"
AURORA_MYSQL = "aurora-mysql"

Version = tuple[int, ...]

# Minimum version per major that can join an Aurora global database.
POSTGRESQL_GLOBAL_MIN: dict[int, Version] = {
    18: (18, 3),
    17: (17, 4),
    16: (16, 1),
    15: (15, 2),
    14: (14, 3),
    13: (13, 4),
    12: (12, 8),
    11: (11, 13),
}
# Single versions below a major's floor that the table also lists ("11.9 and 11.13 and higher").
POSTGRESQL_GLOBAL_EXTRA: frozenset[Version] = frozenset({(11, 9)})
# Minimum version per major whose secondary clusters support global write forwarding.
POSTGRESQL_WRITE_FORWARDING_MIN: dict[int, Version] = {
    18: (18, 0),
    17: (17, 0),
    16: (16, 0),
    15: (15, 4),
    14: (14, 9),
}

# Aurora MySQL majors are the Aurora versions (2 = MySQL 5.7 compatible, 3 = MySQL 8.0 compatible).
MYSQL_GLOBAL_MIN: dict[int, Version] = {3: (3, 1, 0), 2: (2, 7, 0)}
MYSQL_WRITE_FORWARDING_MIN: dict[int, Version] = {3: (3, 1, 0), 2: (2, 8, 1)}
MYSQL_COMPATIBILITY: dict[int, str] = {3: "8.0", 2: "5.7"}

# rds.global_db_rpo: seconds; AWS accepts 20 and more (Aurora PostgreSQL only).
RPO_MIN_SECONDS = 20

_PG_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")
_MYSQL_VERSION = re.compile(r"^(\d+\.\d+)\.mysql_aurora\.(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class AuroraEngine:
    """A validated Aurora engine + version and what follows from it."""

    engine: str
    version: str
    major: int
    family: str
    port: int
    log_exports: tuple[str, ...]
    write_forwarding: bool
    tls_parameter: tuple[str, str]

    @property
    def is_postgresql(self) -> bool:
        """True for Aurora PostgreSQL."""
        return self.engine == AURORA_POSTGRESQL


def _dotted(version: Version) -> str:
    """Aurora MySQL spelling: 3.05.2 (two-digit minor)."""
    major, minor, patch = version
    return f"{major}.{minor:02d}.{patch}"


def _pg_dotted(version: Version) -> str:
    return ".".join(str(part) for part in version)


def resolve_aurora_engine(engine: str, version: str, *, write_forwarding: bool, field: str) -> AuroraEngine:
    """Check that `engine`/`version` can be global (and forward writes); raise ValueError naming `field`."""
    if engine == AURORA_POSTGRESQL:
        return _resolve_postgresql(version, write_forwarding, field)
    if engine == AURORA_MYSQL:
        return _resolve_mysql(version, write_forwarding, field)
    raise ValueError(f"{field}: engine {engine!r} has no Aurora global database support")


def _resolve_postgresql(version: str, write_forwarding: bool, field: str) -> AuroraEngine:
    match = _PG_VERSION.fullmatch(version)
    if not match:
        raise ValueError(f"{field}: {version!r} is not an Aurora PostgreSQL version like '16.4'")
    parsed = tuple(int(part) for part in match.groups() if part is not None)
    major = parsed[0]
    minimum = POSTGRESQL_GLOBAL_MIN.get(major)
    if minimum is None:
        majors = ", ".join(str(m) for m in sorted(POSTGRESQL_GLOBAL_MIN))
        raise ValueError(
            f"{field}: Aurora PostgreSQL {major} cannot be a global database (supported majors: {majors})"
        )
    if parsed < minimum and parsed[:2] not in POSTGRESQL_GLOBAL_EXTRA:
        raise ValueError(
            f"{field}: Aurora PostgreSQL {version} cannot be a global database; "
            f"{major}.x needs {_pg_dotted(minimum)} or later"
        )
    if write_forwarding:
        wf_min = POSTGRESQL_WRITE_FORWARDING_MIN.get(major)
        if wf_min is None or parsed < wf_min:
            need = f"{_pg_dotted(wf_min)} or later" if wf_min else "14.9+, 15.4+ or 16+"
            raise ValueError(
                f"{field}: Aurora PostgreSQL {version} has no global write forwarding (needs {need}); "
                "upgrade or set write_forwarding: false"
            )
    return AuroraEngine(
        engine=AURORA_POSTGRESQL,
        version=version,
        major=major,
        family=f"aurora-postgresql{major}",
        port=5432,
        log_exports=("postgresql",),
        write_forwarding=write_forwarding,
        tls_parameter=("rds.force_ssl", "1"),
    )


def _resolve_mysql(version: str, write_forwarding: bool, field: str) -> AuroraEngine:
    match = _MYSQL_VERSION.fullmatch(version)
    if not match:
        raise ValueError(
            f"{field}: {version!r} is not an Aurora MySQL version like '8.0.mysql_aurora.3.08.0'"
        )
    compat = match.group(1)
    parsed = tuple(int(part) for part in match.groups()[1:])
    major = parsed[0]
    minimum = MYSQL_GLOBAL_MIN.get(major)
    if minimum is None:
        raise ValueError(f"{field}: Aurora MySQL {major} cannot be a global database (supported: 2, 3)")
    if MYSQL_COMPATIBILITY[major] != compat:
        raise ValueError(
            f"{field}: Aurora MySQL {major} is MySQL {MYSQL_COMPATIBILITY[major]} compatible, not {compat}"
        )
    if parsed < minimum:
        raise ValueError(
            f"{field}: Aurora MySQL {_dotted(parsed)} cannot be a global database; "
            f"{major}.x needs {_dotted(minimum)} or later"
        )
    if write_forwarding and parsed < MYSQL_WRITE_FORWARDING_MIN[major]:
        raise ValueError(
            f"{field}: Aurora MySQL {_dotted(parsed)} has no global write forwarding "
            f"(needs {_dotted(MYSQL_WRITE_FORWARDING_MIN[major])} or later); "
            "upgrade or set write_forwarding: false"
        )
    return AuroraEngine(
        engine=AURORA_MYSQL,
        version=version,
        major=major,
        family=f"aurora-mysql{compat}",
        port=3306,
        log_exports=("audit", "error", "slowquery"),
        write_forwarding=write_forwarding,
        tls_parameter=("require_secure_transport", "ON"),
    )

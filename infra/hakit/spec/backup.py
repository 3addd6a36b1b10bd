"""Host backup jobs (the inventory `backups:` section): what to dump, where in S3, how long to keep it."""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterator
from typing import Annotated, Literal

from pydantic import Field

from hakit.spec.base import Port, Problem, SpecModel

# systemd unit names, S3 key segments and file names are built from job names: keep them boring.
# (pydantic patterns run on Rust's regex engine, where `$` is the end of the text: no trailing newline.)
JobName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
# S3 bucket naming rules (the common subset: lowercase, digits, dots, hyphens).
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
DatabaseName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_$-]{0,62}$")]
# Host paths end up in unit files (ExecStart=, LoadCredential=): no whitespace, quotes, `%` (a systemd
# specifier), `$` (variable expansion), backslashes or control characters, so no value can break a line.
AbsPath = Annotated[
    str,
    Field(
        pattern=r"^(/[A-Za-z0-9._+@=,-]+)+$",
        description="absolute path of letters, digits and . _ + @ = , - (no spaces, quotes, % or $)",
    ),
]
# Client connection settings passed as argv words (never through a shell): printable, no whitespace.
ClientWord = Annotated[str, Field(pattern=r"^[A-Za-z0-9._/:@-]{1,255}$")]
# PostgreSQL role names we put in SQL identifiers and argv.
RoleName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]

# OnCalendar= expressions accepted as-is; systemd-analyze validates them on the host, we only reject junk.
_CALENDAR = re.compile(r"[A-Za-z0-9*:/,. ~-]{1,80}")

MIB = 1024 * 1024
JOB_DIR = "/etc/hakit/backup"


def storage_prefix(target: BackupTarget, host: str, engine: str, database: str, job: str) -> str:
    """Key layout: `<prefix><host>/<database>/<engine>/<job>/`: jobs never share a folder."""
    return f"{target.prefix}{host}/{database}/{engine}/{job}/"


class Retention(SpecModel):
    """How many backups to keep: the newest of each of the last `daily` days and `weekly` weeks."""

    daily: int = Field(default=7, ge=0, le=3660, description="newest backup of each of the last N days (UTC)")
    weekly: int = Field(default=4, ge=0, le=520, description="newest backup of each of the last N ISO weeks")

    def rules(self) -> Iterator[Problem]:
        """Something must be kept."""
        if self.daily == 0 and self.weekly == 0:
            yield Problem(("daily",), "daily and weekly are both 0: every backup would be pruned")


class ObjectLock(SpecModel):
    """S3 Object Lock retention applied to every object a job writes (the bucket must have Object Lock on)."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    days: int = Field(ge=1, le=36500, description="retain-until = upload start + days")


class Encryption(SpecModel):
    """Server-side encryption requested on every upload."""

    algorithm: Literal["AES256", "aws:kms"] = "AES256"
    kms_key_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9:/_-]{1,2048}$")

    def rules(self) -> Iterator[Problem]:
        """A KMS key only makes sense with KMS encryption."""
        if self.kms_key_id is not None and self.algorithm != "aws:kms":
            yield Problem(("kms_key_id",), "kms_key_id needs algorithm 'aws:kms'")


class PostgresSource(SpecModel):
    """A PostgreSQL database dumped with `pg_dump -Fc`."""

    engine: Literal["postgresql"]
    database: DatabaseName
    host: ClientWord = "/var/run/postgresql"
    port: Port = 5432
    user: RoleName = "postgres"
    bin_dir: AbsPath = "/usr/lib/postgresql/15/bin"
    restore_user: RoleName | None = Field(
        default=None,
        description="non-superuser role pg_restore connects as (it owns the new database); "
        "unset: restore as `user`, with a warning",
    )


class MariaDBSource(SpecModel):
    """A MariaDB database dumped with `mariadb-dump --single-transaction` (gzip-compressed in the stream)."""

    engine: Literal["mariadb"]
    database: DatabaseName
    # A 0600 option file with [client] user/password/socket; absent means root over the local socket.
    defaults_file: AbsPath | None = None
    socket: AbsPath | None = None
    host: ClientWord | None = None
    port: Port = 3306


Source = Annotated[PostgresSource | MariaDBSource, Field(discriminator="engine")]


class BackupTarget(SpecModel):
    """Where the dumps go."""

    bucket: BucketName
    prefix: str = Field(default="", pattern=r"^([A-Za-z0-9!_.*'()-]+/)*$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    # Only for S3-compatible stores and tests; AWS needs none.
    endpoint_url: str | None = Field(
        default=None,
        pattern=r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
        description="http(s)://host[:port][/path]: a name, IPv4 or [IPv6] address; nothing else",
    )
    encryption: Encryption = Encryption()
    object_lock: ObjectLock | None = None
    part_size_mib: int = Field(default=64, ge=5, le=5120)

    @property
    def part_size(self) -> int:
        """Multipart part size in bytes."""
        return self.part_size_mib * MIB


class Credentials(SpecModel):
    """Secret files on the host, handed to the job by systemd `LoadCredential=` (never its environment)."""

    aws: AbsPath | None = Field(
        default=None, description="AWS shared-credentials file ([default] profile); unset: instance role"
    )
    pgpass: AbsPath | None = Field(default=None, description="PostgreSQL password file (PGPASSFILE format)")
    manifest_key: AbsPath | None = Field(
        default=None,
        description="manifest signing key (`hakit backup keygen`); default /etc/hakit/backup/JOB.key",
    )


class BackupJob(SpecModel):
    """One scheduled dump of one database on one inventory host."""

    host: str = Field(min_length=1, description="inventory host that runs the job")
    source: Source
    target: BackupTarget
    retention: Retention = Retention()
    schedule: str = Field(default="*-*-* 02:00:00", description="systemd OnCalendar= expression")
    randomized_delay_sec: int = Field(default=1800, ge=0, le=86400, description="timer RandomizedDelaySec=")
    timeout_sec: int = Field(
        default=6 * 3600,
        ge=60,
        le=7 * 86400,
        description="TimeoutStartSec=; older unfinished uploads are aborted",
    )
    on_failure: str = Field(
        default="hakit-backup-failure@%n.service",
        pattern=r"^[A-Za-z0-9@%:._-]+\.service$",
        description="OnFailure= unit; the default logs to the journal at priority err",
    )
    credentials: Credentials = Credentials()
    environment_file: str | None = Field(
        default=None, description="removed: secrets in the environment reach pg_dump; use credentials"
    )
    run_as: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="unix user (default: postgres for PostgreSQL, root for MariaDB)",
    )
    hakit_bin: AbsPath = Field(default="/usr/local/bin/hakit", description="the installed hakit program")

    def rules(self) -> Iterator[Problem]:
        """The schedule must look like an OnCalendar expression (systemd-analyze decides on hosts)."""
        if not _CALENDAR.fullmatch(self.schedule):
            yield Problem(("schedule",), f"{self.schedule!r} is not a systemd OnCalendar expression")
        if self.environment_file is not None:
            yield Problem(
                ("environment_file",),
                "no longer supported: variables in the job's environment reach pg_dump and "
                "/proc/PID/environ; put the files under credentials (aws, pgpass), loaded by LoadCredential=",
            )

    @property
    def unix_user(self) -> str:
        """The user the systemd service runs as."""
        if self.run_as:
            return self.run_as
        return "postgres" if self.source.engine == "postgresql" else "root"


class BackupJobConfig(BackupJob):
    """What the rendered job file on the host holds: the job plus its own name."""

    name: JobName

    @property
    def manifest_key_file(self) -> str:
        """Where the manifest signing key lives on the host."""
        return self.credentials.manifest_key or f"{JOB_DIR}/{self.name}.key"

    @property
    def storage_prefix(self) -> str:
        """The S3 folder holding this job's objects (and nothing else's)."""
        return storage_prefix(self.target, self.host, self.source.engine, self.source.database, self.name)


Backups = dict[JobName, BackupJob]


def job_config(name: str, job: BackupJob) -> BackupJobConfig:
    """Attach a job's name to it (the form written to the host and read by `hakit backup`)."""
    return BackupJobConfig(name=name, **job.model_dump())


def backup_rules(backups: Backups, hosts: Collection[str]) -> Iterator[Problem]:
    """Inventory-level rules: every job runs on a host the inventory defines; no two jobs share storage."""
    for name, job in backups.items():
        if job.host not in hosts:
            yield Problem(("backups", name, "host"), f"unknown host {job.host!r} (define it under hosts)")
    yield from _overlap_rules(backups)


def _overlap_rules(backups: Backups) -> Iterator[Problem]:
    """A job whose folder contains another job's folder would list, restore and prune the other's objects."""
    folders = sorted(
        (
            job.target.bucket,
            storage_prefix(job.target, job.host, job.source.engine, job.source.database, name),
            name,
        )
        for name, job in backups.items()
    )
    for (bucket, folder, name), (other_bucket, other_folder, other) in itertools.pairwise(folders):
        if bucket == other_bucket and other_folder.startswith(folder):
            yield Problem(
                ("backups", other, "target", "prefix"),
                f"s3://{bucket}/{other_folder} lies inside job {name!r}'s s3://{bucket}/{folder}: "
                "the jobs would prune and restore each other's backups",
            )

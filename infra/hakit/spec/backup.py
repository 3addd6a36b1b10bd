"""Host backup jobs (the inventory `backups:` section): what to dump, where in S3, how long to keep it."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Annotated, Literal

from pydantic import Field

from hakit.spec.base import Port, Problem, SpecModel

# systemd unit names, S3 key segments and file names are built from job names: keep them boring.
JobName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
# S3 bucket naming rules (the common subset: lowercase, digits, dots, hyphens).
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
DatabaseName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_$-]{0,62}$")]
AbsPath = Annotated[str, Field(pattern=r"^/[^\x00\n]*$")]

# OnCalendar= expressions accepted as-is; systemd-analyze validates them on the host, we only reject junk.
_CALENDAR = re.compile(r"^[A-Za-z0-9*:/,. ~-]{1,80}$")

MIB = 1024 * 1024


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
    kms_key_id: str | None = None

    def rules(self) -> Iterator[Problem]:
        """A KMS key only makes sense with KMS encryption."""
        if self.kms_key_id is not None and self.algorithm != "aws:kms":
            yield Problem(("kms_key_id",), "kms_key_id needs algorithm 'aws:kms'")


class PostgresSource(SpecModel):
    """A PostgreSQL database dumped with `pg_dump -Fc`."""

    engine: Literal["postgresql"]
    database: DatabaseName
    host: str = "/var/run/postgresql"
    port: Port = 5432
    user: str = "postgres"
    bin_dir: AbsPath = "/usr/lib/postgresql/15/bin"


class MariaDBSource(SpecModel):
    """A MariaDB database dumped with `mariadb-dump --single-transaction` (gzip-compressed in the stream)."""

    engine: Literal["mariadb"]
    database: DatabaseName
    # A 0600 option file with [client] user/password/socket; absent means root over the local socket.
    defaults_file: AbsPath | None = None
    socket: AbsPath | None = None
    host: str | None = None
    port: Port = 3306


Source = Annotated[PostgresSource | MariaDBSource, Field(discriminator="engine")]


class BackupTarget(SpecModel):
    """Where the dumps go."""

    bucket: BucketName
    prefix: str = Field(default="", pattern=r"^([A-Za-z0-9!_.*'()-]+/)*$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    # Only for S3-compatible stores and tests; AWS needs none.
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    encryption: Encryption = Encryption()
    object_lock: ObjectLock | None = None
    part_size_mib: int = Field(default=64, ge=5, le=5120)

    @property
    def part_size(self) -> int:
        """Multipart part size in bytes."""
        return self.part_size_mib * MIB


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
    environment_file: AbsPath | None = Field(
        default=None, description="0600 file with AWS_* / PGPASSWORD variables, written by the operator"
    )
    run_as: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="unix user (default: postgres for PostgreSQL, root for MariaDB)",
    )
    hakit_bin: AbsPath = Field(default="/usr/local/bin/hakit", description="the installed hakit program")

    def rules(self) -> Iterator[Problem]:
        """The schedule must look like an OnCalendar expression (systemd-analyze decides on hosts)."""
        if not _CALENDAR.match(self.schedule):
            yield Problem(("schedule",), f"{self.schedule!r} is not a systemd OnCalendar expression")

    @property
    def unix_user(self) -> str:
        """The user the systemd service runs as."""
        if self.run_as:
            return self.run_as
        return "postgres" if self.source.engine == "postgresql" else "root"


class BackupJobConfig(BackupJob):
    """What the rendered job file on the host holds: the job plus its own name."""

    name: JobName


Backups = dict[JobName, BackupJob]


def job_config(name: str, job: BackupJob) -> BackupJobConfig:
    """Attach a job's name to it (the form written to the host and read by `hakit backup`)."""
    return BackupJobConfig(name=name, **job.model_dump())


def backup_rules(backups: Backups, hosts: Collection[str]) -> Iterator[Problem]:
    """Inventory-level rules: every job runs on a host the inventory defines."""
    for name, job in backups.items():
        if job.host not in hosts:
            yield Problem(("backups", name, "host"), f"unknown host {job.host!r} (define it under hosts)")

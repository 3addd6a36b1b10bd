"""Per-host backup jobs: a hardened systemd service + timer and the job file `hakit backup run` reads."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from hakit.render.environment import header, render, rooted
from hakit.render.quoting import QuotingError, systemd_quote
from hakit.render.tree import HostFiles, RenderedFile, RenderedTree
from hakit.spec.backup import BackupJob, BackupJobConfig, job_config
from hakit.spec.base import CONTROL_CHARACTERS
from hakit.spec.inventory import Inventory

UNIT_DIR = "etc/systemd/system"
JOB_DIR = "etc/hakit/backup"
FAILURE_UNIT = "hakit-backup-failure@.service"
# Order the job after the local database server so a boot-time catch-up run finds it up.
_AFTER = {"postgresql": "postgresql.service", "mariadb": "mariadb.service"}


def systemd_value(value: str) -> str:
    """A plain setting value (Description=, LoadCredential=): no control characters, `%` escaped."""
    if CONTROL_CHARACTERS.search(value):
        raise QuotingError(f"systemd cannot take control character in {value!r}")
    return value.replace("%", "%%")


def _ip_literal(host: str | None) -> str | None:
    """`host` when it is an IP address (a name may resolve to anything: no firewall rule from it)."""
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def ip_allow(job: BackupJob) -> list[str] | None:
    """IPAddressAllow= entries when every peer is known (an S3 endpoint given by IP); None: no IP filter.

    AWS S3 endpoints are names with changing addresses, so a job on AWS S3 gets no IP filter.
    """
    if job.target.endpoint_url is None:
        return None
    s3_ip = _ip_literal(urlsplit(job.target.endpoint_url).hostname)
    if s3_ip is None:
        return None
    allow = ["localhost", s3_ip]
    db_host = job.source.host
    if db_host is not None and not db_host.startswith("/"):
        db_ip = _ip_literal(db_host)
        if db_ip is None:
            return None
        allow.append(db_ip)
    return sorted(set(allow), key=allow.index)


def _credentials(config: BackupJobConfig, root: str) -> list[str]:
    files = {
        "manifest-key": config.manifest_key_file,
        "aws": config.credentials.aws,
        "pgpass": config.credentials.pgpass,
    }
    return [systemd_value(f"{name}:{rooted(root, path)}") for name, path in files.items() if path]


def job_files(name: str, job: BackupJob, *, source: str, root: str = "") -> HostFiles:
    """The service, timer and job file of one backup job (no secrets: those are LoadCredential= files)."""
    config = job_config(name, job)
    config_path = f"/{JOB_DIR}/{name}.json"
    exec_start = [job.hakit_bin, "backup", "run", "--config", rooted(root, config_path)]
    context = {
        "header": header(source),
        "job": name,
        "description": systemd_value(
            f"hakit backup {name}: {job.source.engine} database {job.source.database} "
            f"to s3://{job.target.bucket}/{config.storage_prefix}"
        ),
        "after": _AFTER[job.source.engine],
        "on_failure": job.on_failure,
        "user": job.unix_user,
        "exec_start": " ".join(systemd_quote(word) for word in exec_start),
        "credentials": _credentials(config, root),
        "ip_allow": ip_allow(job),
        "timeout_sec": job.timeout_sec,
        "schedule": systemd_value(job.schedule),
        "randomized_delay_sec": job.randomized_delay_sec,
    }
    return {
        f"{UNIT_DIR}/hakit-backup-{name}.service": RenderedFile(
            render("systemd/backup.service.j2", **context)
        ),
        f"{UNIT_DIR}/hakit-backup-{name}.timer": RenderedFile(render("systemd/backup.timer.j2", **context)),
        # Readable by the job's user (postgres for PostgreSQL); it holds no secret.
        config_path.lstrip("/"): RenderedFile(config.model_dump_json(indent=2, exclude_none=True) + "\n"),
    }


def render_backups(inv: Inventory, source: str, root: str) -> RenderedTree:
    """Producer: every host's backup units, plus the shared OnFailure reporter unit."""
    tree: RenderedTree = {}
    for name, job in inv.backups.items():
        files = tree.setdefault(job.host, {})
        files.update(job_files(name, job, source=source, root=root))
        files[f"{UNIT_DIR}/{FAILURE_UNIT}"] = RenderedFile(
            render("systemd/backup-failure@.service.j2", header=header(source))
        )
    return tree

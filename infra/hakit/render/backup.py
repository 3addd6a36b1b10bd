"""Per-host backup jobs: a hardened systemd service + timer and the job file `hakit backup run` reads."""

from __future__ import annotations

from hakit.render.environment import header, render, rooted
from hakit.render.tree import HostFiles, RenderedFile, RenderedTree
from hakit.spec.backup import BackupJob, job_config
from hakit.spec.inventory import Inventory

UNIT_DIR = "etc/systemd/system"
JOB_DIR = "etc/hakit/backup"
FAILURE_UNIT = "hakit-backup-failure@.service"
# Order the job after the local database server so a boot-time catch-up run finds it up.
_AFTER = {"postgresql": "postgresql.service", "mariadb": "mariadb.service"}


def job_files(name: str, job: BackupJob, *, source: str, root: str = "") -> HostFiles:
    """The service, timer and job file of one backup job (no secrets: those stay in the EnvironmentFile)."""
    config_path = f"/{JOB_DIR}/{name}.json"
    context = {
        "header": header(source),
        "job": name,
        "engine": job.source.engine,
        "database": job.source.database,
        "bucket": job.target.bucket,
        "prefix": job.target.prefix,
        "after": _AFTER[job.source.engine],
        "on_failure": job.on_failure,
        "user": job.unix_user,
        "hakit_bin": job.hakit_bin,
        "config": rooted(root, config_path),
        "environment_file": rooted(root, job.environment_file) if job.environment_file else None,
        "timeout_sec": job.timeout_sec,
        "schedule": job.schedule,
        "randomized_delay_sec": job.randomized_delay_sec,
    }
    return {
        f"{UNIT_DIR}/hakit-backup-{name}.service": RenderedFile(
            render("systemd/backup.service.j2", **context)
        ),
        f"{UNIT_DIR}/hakit-backup-{name}.timer": RenderedFile(render("systemd/backup.timer.j2", **context)),
        # Readable by the job's user (postgres for PostgreSQL); it holds no secret.
        config_path.lstrip("/"): RenderedFile(job_config(name, job).model_dump_json(indent=2) + "\n"),
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

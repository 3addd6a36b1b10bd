"""`hakit backup run|restore|prune|list`: the backup program the rendered systemd timers start on hosts."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table

from hakit.commands.console import console
from hakit.errors import HakitError

backup_app = typer.Typer(
    help="Stream database dumps to S3, restore and verify them, apply retention.", no_args_is_help=True
)

_out = console()
_err = console(stderr=True)

JobFile = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="Job file rendered on the host (/etc/hakit/backup/JOB.json).", dir_okay=False
    ),
]


def _log(line: str) -> None:
    _out.print(line, markup=False)


def _warn(line: str) -> None:
    _err.print(line, markup=False)


def _terminate_cleanly() -> None:
    """systemd stops a unit with SIGTERM: turn it into an exception so the upload is aborted, not orphaned."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise HakitError(f"stopped by signal {signum}: upload aborted")

    signal.signal(signal.SIGTERM, handler)


@backup_app.command("run")
def run(
    config: JobFile,
    no_prune: Annotated[bool, typer.Option("--no-prune", help="Skip retention after the upload.")] = False,
) -> None:
    """Dump the database, stream it to S3 (multipart, SSE), write the manifest, then prune."""
    from hakit.ops.backup import load_job, run_backup

    _terminate_cleanly()
    job = load_job(config)
    result = run_backup(job, do_prune=not no_prune, log=_log, warn=_warn)
    _log(f"backup {job.name}: done in {result.seconds:.1f}s")


@backup_app.command("list")
def list_(
    config: JobFile,
    as_json: Annotated[bool, typer.Option("--json", help="Print the backups as JSON on stdout.")] = False,
) -> None:
    """List the job's backups (complete = signed manifest + the dump version it names; else why not)."""
    from hakit.ops.backup import list_job, load_job

    job = load_job(config)
    backups = list_job(job)
    if as_json:
        rows = [
            {
                "stamp": backup.stamp,
                "state": backup.state,
                "size": backup.size,
                "key": backup.data_key,
                "version_id": backup.dump.version_id if backup.dump else None,
                "manifest_key": backup.manifest_key,
                "sha256": backup.manifest.sha256 if backup.manifest else None,
                "problem": backup.problem,
            }
            for backup in backups
        ]
        sys.stdout.write(json.dumps({"job": job.name, "backups": rows}, indent=2) + "\n")
        return
    table = Table("stamp", "size", "state", "key")
    for backup in backups:
        table.add_row(
            backup.stamp, str(backup.size), backup.state, backup.data_key or backup.manifest_key or ""
        )
    _out.print(table)
    for backup in backups:
        if backup.problem is not None:
            _warn(f"{backup.stamp}: {backup.problem}")


@backup_app.command("prune")
def prune(
    config: JobFile,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted.")] = False,
) -> None:
    """Apply the retention counts; objects under Object Lock are left alone."""
    from hakit.ops.backup import load_job, prune_job

    job = load_job(config)
    result = prune_job(job, dry_run=dry_run, log=_log)
    verb = "would delete" if dry_run else "deleted"
    _log(
        f"{verb} {len(result.deleted)} objects; kept {len(result.kept)} backups; {len(result.locked)} locked"
    )


@backup_app.command("restore")
def restore(
    config: JobFile,
    stamp: Annotated[str | None, typer.Option("--stamp", help="Backup to restore (default: newest).")] = None,
    target_db: Annotated[
        str | None, typer.Option("--target-db", help="New database to restore into.")
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Restore into a scratch database and compare with the source.")
    ] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the scratch database after --verify.")] = False,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="Where the dump is downloaded (default: $TMPDIR).", file_okay=False),
    ] = None,
) -> None:
    """Download (checking sha256), restore, and with --verify compare row counts and checksums."""
    from hakit.ops.backup import load_job, restore_backup

    job = load_job(config)
    report = restore_backup(
        job, stamp=stamp, target_db=target_db, verify=verify, keep=keep, workdir=workdir, log=_log, warn=_warn
    )
    if report.verified:
        table = Table("table", "source rows", "restored rows", "checksum", "result")
        for check in report.tables:
            rows = [str(stat.rows) if stat else "missing" for stat in (check.source, check.restored)]
            checksum = "equal" if check.ok else "DIFFERENT"
            table.add_row(check.table, *rows, checksum, "ok" if check.ok else "FAIL")
        _out.print(table)
    _log(f"restore of {report.stamp} into {report.database}: {'ok' if report.ok else 'FAILED'}")
    if not report.ok:
        raise HakitError(f"verify failed: backup {report.stamp} differs from the source database")


@backup_app.command("keygen")
def keygen(config: JobFile) -> None:
    """Create the job's manifest signing key (0600, 256 random bits); never overwrites one."""
    from hakit.ops.backup import load_job
    from hakit.ops.backup_manifest import write_new_key

    job = load_job(config)
    write_new_key(Path(job.manifest_key_file))
    _log(f"wrote {job.manifest_key_file}: back it up apart from the bucket; restore needs it")


def register(app: typer.Typer) -> None:
    """Add the `backup` group to the root app."""
    app.add_typer(backup_app, name="backup")

"""The backup program (`hakit backup run|restore|prune|list`): dump -> S3 stream, restore, verify, prune."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hakit.errors import HakitError
from hakit.ops.backup_engines import Engine, TableStat, engine_for
from hakit.ops.backup_manifest import FORMAT, Manifest, load_key, object_tag, sign
from hakit.ops.backup_store import (
    JobStore,
    MultipartUpload,
    PruneResult,
    StoredBackup,
    UploadResult,
    abort_stale_uploads,
    bucket_protection_warning,
    list_backups,
    make_client,
    make_stamp,
    prune,
    s3_errors,
    write_manifest,
)
from hakit.spec.backup import BackupJobConfig

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

READ_SIZE = 1024 * 1024
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class BackupResult:
    """A finished backup run."""

    key: str
    manifest_key: str
    size: int
    sha256: str
    parts: int
    seconds: float
    pruned: PruneResult | None = None


class _Stderr:
    """Collect the tail of a child's stderr in a thread (a full pipe would stall the dump)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._chunks = [*self._chunks[-20:], line]

    def last_line(self) -> str:
        """The last non-empty line the child wrote, for the error message."""
        self._thread.join(timeout=5)
        lines = b"".join(self._chunks).decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no message)"


def _dump_chunks(proc: subprocess.Popen[bytes], gzip_it: bool) -> Iterator[bytes]:
    """The dump's stdout in chunks, gzip-compressed when the engine's format is plain text."""
    assert proc.stdout is not None
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if gzip_it else None  # wbits 31: gzip container
    while chunk := proc.stdout.read(READ_SIZE):
        if compressor is None:
            yield chunk
        elif out := compressor.compress(chunk):
            yield out
    if compressor is not None:
        yield compressor.flush()


def _exit_text(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit {code}"


def _stream_dump(
    upload: MultipartUpload, engine: Engine, on_start: Callable[[subprocess.Popen[bytes]], None] | None
) -> UploadResult:
    """Run the dump into the upload; on any failure (dump error, S3 error, signal) abort the upload."""
    proc: subprocess.Popen[bytes] | None = None
    try:
        argv = engine.dump_argv()
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=engine.env)
        except FileNotFoundError as err:
            raise HakitError(f"{argv[0]}: not installed ({err.strerror})") from err
        assert proc.stderr is not None
        stderr = _Stderr(proc.stderr)
        if on_start is not None:
            on_start(proc)
        for chunk in _dump_chunks(proc, engine.compressed_by_us):
            upload.write(chunk)
        code = proc.wait()
        if code != 0:
            raise HakitError(f"{Path(argv[0]).name} failed ({_exit_text(code)}): {stderr.last_line()}")
        return upload.complete()
    except BaseException as err:
        problem = upload.abort()
        if problem is not None and isinstance(err, HakitError):
            err.lines.append(problem)
        raise
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def _manifest(
    job: BackupJobConfig, engine: Engine, result: UploadResult, stamp: str, started: datetime
) -> Manifest:
    """What the manifest records about a completed upload (signed with the job's key)."""
    return Manifest(
        format=FORMAT,
        job=job.name,
        host=job.host,
        database=job.source.database,
        engine=job.source.engine,
        key=result.key,
        stamp=stamp,
        version_id=result.version_id,
        compression="gzip" if engine.compressed_by_us else "pg_dump custom",
        started=started.isoformat(),
        finished=datetime.now(UTC).isoformat(),
        size=result.size,
        sha256=result.sha256,
        parts=result.parts,
        part_size=job.target.part_size,  # of the first 1,000 parts; larger after (next_part_size)
        etag=result.etag,
        encryption=job.target.encryption.algorithm,
    )


def credential_file(job: BackupJobConfig, name: str, configured: str | None) -> Path | None:
    """A secret file: systemd's copy in $CREDENTIALS_DIRECTORY under the unit, else the configured path."""
    if configured is None:
        return None
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if directory and (Path(directory) / name).exists():
        return Path(directory) / name
    return Path(configured)


def child_environment(job: BackupJobConfig) -> dict[str, str]:
    """The environment of pg_dump & co.: no AWS secrets (they stay in this process), PGPASSFILE if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PGPASSWORD"}
    pgpass = credential_file(job, "pgpass", job.credentials.pgpass)
    if pgpass is not None:
        env["PGPASSFILE"] = str(pgpass)
    return env


def open_store(job: BackupJobConfig, s3: S3Client | None = None) -> JobStore:
    """The job's folder, its S3 client (credentials from the `aws` credential file) and signing key."""
    key = load_key(job.name, job.manifest_key_file)
    s3 = s3 or make_client(job.target, credential_file(job, "aws", job.credentials.aws))
    return JobStore(s3=s3, target=job.target, prefix=job.storage_prefix, job=job.name, key=key)


def run_backup(
    job: BackupJobConfig,
    *,
    s3: S3Client | None = None,
    now: datetime | None = None,
    on_part: Callable[[int, int], None] | None = None,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    do_prune: bool = True,
    log: Log = _quiet,
    warn: Log = _quiet,
) -> BackupResult:
    """Stream one dump into S3, write its signed manifest, then prune; any failure aborts the upload."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    store = open_store(job, s3)
    s3 = store.s3
    engine = engine_for(job.source, child_environment(job))
    stamp = make_stamp(now)
    key = f"{store.prefix}{stamp}.{engine.extension}"

    stale = abort_stale_uploads(
        s3, job.target, store.prefix, older_than=now - timedelta(seconds=job.timeout_sec)
    )
    for leftover in stale:
        log(f"aborted an unfinished upload left by an earlier run: {leftover}")
    if (warning := bucket_protection_warning(s3, job.target)) is not None:
        warn(warning)
    upload = MultipartUpload(
        s3,
        job.target,
        key,
        metadata={
            "job": job.name,
            "host": job.host,
            "database": job.source.database,
            "engine": engine.name,
            "started": now.isoformat(),
            "manifest": key + ".manifest.json",
            "auth": object_tag(
                store.key, job.name, key
            ),  # lets prune tell our unfinished dumps from planted ones
        },
        now=now,
        on_part=on_part,
    )
    upload.begin()  # S3 unreachable: we fail here, before the database is touched
    result = _stream_dump(upload, engine, on_start)
    manifest = _manifest(job, engine, result, stamp, now)
    manifest_key, _ = write_manifest(store, sign(store.key, manifest), manifest, now)
    log(f"uploaded s3://{job.target.bucket}/{key}: {result.size} bytes in {result.parts} parts")
    log(f"sha256 {result.sha256}, manifest {manifest_key}")
    pruned = None
    if do_prune:
        pruned = prune(store, job.retention, datetime.now(UTC))
        for line in _prune_lines(pruned):
            log(line)
    return BackupResult(
        key=key,
        manifest_key=manifest_key,
        size=result.size,
        sha256=result.sha256,
        parts=result.parts,
        seconds=time.monotonic() - started,
        pruned=pruned,
    )


def _prune_lines(result: PruneResult) -> list[str]:
    return (
        [f"pruned {key}" for key in result.deleted]
        + [f"kept (object lock): {key}" for key in result.locked]
        + [f"left alone (not authenticated as this job's): {entry}" for entry in result.foreign]
    )


def prune_job(
    job: BackupJobConfig, *, s3: S3Client | None = None, dry_run: bool = False, log: Log = _quiet
) -> PruneResult:
    """Apply the job's retention to its own folder (only objects its key authenticates)."""
    result = prune(open_store(job, s3), job.retention, datetime.now(UTC), dry_run=dry_run)
    for line in _prune_lines(result):
        log(line)
    return result


def list_job(
    job: BackupJobConfig, *, s3: S3Client | None = None, now: datetime | None = None
) -> list[StoredBackup]:
    """The job's backups, oldest first, each authenticated or marked with why not."""
    return list_backups(open_store(job, s3), now or datetime.now(UTC))


def _pick(store: JobStore, stamp: str | None) -> StoredBackup:
    backups = list_backups(store, datetime.now(UTC))
    folder = f"s3://{store.target.bucket}/{store.prefix}"
    if stamp is not None:
        chosen = next((b for b in backups if b.stamp == stamp), None)
        if chosen is None:
            raise HakitError(f"{folder}: no backup {stamp}")
        if not chosen.complete:
            raise HakitError(f"{folder}: backup {stamp} is refused: {chosen.problem or chosen.state}")
        return chosen
    complete = [b for b in backups if b.complete]
    if not complete:
        refused = [b.problem for b in backups if b.problem]
        why = f" ({len(refused)} refused, newest: {refused[-1]})" if refused else ""
        raise HakitError(f"{folder}: no complete backup{why}")
    return complete[-1]


def download(store: JobStore, backup: StoredBackup, directory: Path, engine: Engine) -> tuple[Path, Manifest]:
    """Fetch the dump version the manifest names into `directory` (decompressed), checking size and sha256."""
    manifest, version = backup.manifest, backup.dump
    assert manifest is not None and version is not None
    path = directory / ("restore.sql" if engine.compressed_by_us else "restore.pgdump")
    sha, size = hashlib.sha256(), 0
    decompressor = zlib.decompressobj(31) if engine.compressed_by_us else None
    args: dict[str, Any] = {"Bucket": store.target.bucket, "Key": version.key}
    if manifest.version_id:
        args["VersionId"] = manifest.version_id
    try:
        with s3_errors(store.target, f"download {version.key}"), path.open("wb") as out:
            body = store.s3.get_object(**args)["Body"]
            while chunk := body.read(READ_SIZE):
                sha.update(chunk)
                size += len(chunk)
                out.write(decompressor.decompress(chunk) if decompressor else chunk)
            if decompressor is not None:
                out.write(decompressor.flush())
    except zlib.error as err:  # damaged gzip data (its CRC or structure): one line, not a traceback
        raise HakitError(f"{version.key}: corrupt download: not valid gzip ({err})") from None
    if size != manifest.size or sha.hexdigest() != manifest.sha256:
        raise HakitError(
            f"{version.key}: corrupt download: {size} bytes sha256 {sha.hexdigest()}, "
            f"manifest says {manifest.size} bytes sha256 {manifest.sha256}"
        )
    return path, manifest


@dataclass
class TableCheck:
    """One table compared between the source and the restored copy."""

    table: str
    source: TableStat | None
    restored: TableStat | None

    @property
    def ok(self) -> bool:
        """Same rows and same checksum."""
        return self.source is not None and self.source == self.restored


@dataclass
class RestoreReport:
    """A restore (and, with verify, the comparison with the source)."""

    stamp: str
    key: str
    database: str
    size: int
    sha256: str
    seconds: float
    tables: list[TableCheck] = field(default_factory=list)
    verified: bool = False

    @property
    def ok(self) -> bool:
        """Verified restores pass when every table matches; plain restores when they finished."""
        return not self.verified or all(t.ok for t in self.tables)


def restore_backup(
    job: BackupJobConfig,
    *,
    s3: S3Client | None = None,
    stamp: str | None = None,
    target_db: str | None = None,
    verify: bool = False,
    keep: bool = False,
    workdir: Path | None = None,
    log: Log = _quiet,
    warn: Log = _quiet,
) -> RestoreReport:
    """Restore into `target_db` (a new database), or with verify into a scratch one compared to the source."""
    started = time.monotonic()
    store = open_store(job, s3)
    engine = engine_for(job.source, child_environment(job))
    backup = _pick(store, stamp)
    if (caution := engine.restore_caution()) is not None:
        warn(caution)
    if target_db is None:
        if not verify:
            raise HakitError(
                "restore: give --target-db NAME (a new database) or --verify (a scratch database)"
            )
        target_db = f"{job.source.database}_verify_{int(time.time())}"[:64]
    # The dump is downloaded (and checked) before anything is restored: pick a roomy `workdir` for big ones.
    with tempfile.TemporaryDirectory(prefix="hakit-restore-", dir=workdir) as tmp:
        path, manifest = download(store, backup, Path(tmp), engine)
        log(f"downloaded {backup.data_key}: {manifest.size} bytes, sha256 matches the signed manifest")
        engine.create_database(target_db)
        finished = False
        try:
            engine.restore_file(path, target_db)
            log(f"restored into database {target_db}")
            tables: list[TableCheck] = []
            if verify:
                source = engine.table_stats(job.source.database)
                restored = engine.table_stats(target_db)
                names = sorted({*source, *restored})
                tables = [TableCheck(name, source.get(name), restored.get(name)) for name in names]
            finished = True
        finally:
            # A failed restore leaves no half-loaded database behind; a verify copy goes unless kept.
            if not finished or (verify and not keep):
                engine.drop_database(target_db)
    assert backup.data_key is not None
    return RestoreReport(
        stamp=backup.stamp,
        key=backup.data_key,
        database=target_db,
        size=manifest.size,
        sha256=manifest.sha256,
        seconds=time.monotonic() - started,
        tables=tables,
        verified=verify,
    )


def load_job(path: Path) -> BackupJobConfig:
    """Read a rendered job file (JSON) with clean `FILE:LINE: field: rule` errors."""
    from hakit.spec.loader import load_model

    return load_model(path, BackupJobConfig)

"""Backup jobs against real PostgreSQL 15 / MariaDB servers and a moto S3 server.

Round trips (identical checksums after restore --verify), a dump killed mid-stream (no partial object,
next run fine), S3 unreachable (clear error, non-zero exit, nothing pruned), Object Lock honoured.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from db_servers import MariaDBServer, PostgresServer, free_port, wait_for
from hakit.errors import HakitError
from hakit.ops.backup import list_job, restore_backup, run_backup
from hakit.spec.backup import BackupJobConfig

pytestmark = pytest.mark.db

MIB = 1024 * 1024


def s3_client(endpoint: str) -> Any:
    """A plain client on the moto server."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(moto_s3: str) -> str:
    """A fresh bucket per test."""
    name = f"backups-{uuid.uuid4().hex[:12]}"
    s3_client(moto_s3).create_bucket(Bucket=name)
    return name


KEY_DIR: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _job_keys(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Manifest signing keys for the test jobs (one file per job name, made on first use)."""
    KEY_DIR.append(tmp_path_factory.mktemp("keys"))


def key_file(job: str) -> str:
    """The job's 0600 signing key (what `hakit backup keygen` makes on a host)."""
    from hakit.ops.backup_manifest import write_new_key

    path = KEY_DIR[0] / f"{job}.key"
    if not path.exists():
        write_new_key(path)
    return str(path)


def pg_job(
    server: PostgresServer,
    database: str,
    bucket: str,
    endpoint: str,
    name: str | None = None,
    retention: dict[str, int] | None = None,
    **target: Any,
) -> BackupJobConfig:
    """A job dumping `database` from the test PostgreSQL into `bucket`."""
    name = name or f"pg-{database}"
    return BackupJobConfig.model_validate(
        {
            "name": name,
            "host": "db1",
            "source": {
                "engine": "postgresql",
                "database": database,
                "host": server.socket_dir,
                "port": server.port,
                "bin_dir": "/usr/lib/postgresql/15/bin",
            },
            "target": {"bucket": bucket, "endpoint_url": endpoint, "part_size_mib": 5, **target},
            "retention": retention or {"daily": 2, "weekly": 1},
            "credentials": {"manifest_key": key_file(name)},
        }
    )


def maria_job(
    server: MariaDBServer, database: str, bucket: str, endpoint: str, host: str = "db2"
) -> BackupJobConfig:
    """A job dumping `database` from the test MariaDB (root over its socket) into `bucket`."""
    name = f"maria-{database}"
    return BackupJobConfig.model_validate(
        {
            "name": name,
            "host": host,
            "source": {"engine": "mariadb", "database": database, "socket": str(server.socket)},
            "target": {"bucket": bucket, "endpoint_url": endpoint, "part_size_mib": 5},
            "credentials": {"manifest_key": key_file(name)},
        }
    )


@pytest.fixture(scope="module")
def pg_shop(postgres: PostgresServer) -> str:
    """A PostgreSQL database whose dump spans several 5 MiB parts (random text does not compress)."""
    postgres.sql("DROP DATABASE IF EXISTS shop")
    postgres.sql("CREATE DATABASE shop")
    postgres.sql(
        """
        CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, created timestamptz DEFAULT now());
        CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers(id),
                             amount numeric(10, 2), note text);
        INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 1000) g;
        INSERT INTO orders (customer, amount, note)
          SELECT 1 + g % 1000, (g % 9973) / 7.0, md5(random()::text) || md5(random()::text)
          FROM generate_series(1, 250000) g;
        """,
        database="shop",
    )
    return "shop"


def test_postgres_round_trip_identical_checksums(
    postgres: PostgresServer, pg_shop: str, bucket: str, moto_s3: str, report: Callable[[str], None]
):
    """pg_dump -Fc streams in several SSE parts; size+sha256 go in the manifest; verify finds equal tables."""
    job = pg_job(postgres, pg_shop, bucket, moto_s3)
    s3 = s3_client(moto_s3)
    result = run_backup(job, s3=s3)

    assert result.parts >= 2, f"dump of {result.size} bytes should span several 5 MiB parts"
    assert result.key.startswith("db1/shop/postgresql/pg-shop/") and result.key.endswith(".pgdump")
    body = s3.get_object(Bucket=bucket, Key=result.key)["Body"].read()
    assert len(body) == result.size
    assert hashlib.sha256(body).hexdigest() == result.sha256
    assert body[:5] == b"PGDMP"  # custom format, streamed untouched

    head = s3.head_object(Bucket=bucket, Key=result.key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["database"] == "shop"
    assert head["Metadata"]["manifest"] == result.manifest_key
    manifest_head = s3.head_object(Bucket=bucket, Key=result.manifest_key)
    assert manifest_head["ServerSideEncryption"] == "AES256"
    assert manifest_head["Metadata"] == {
        "sha256": result.sha256,
        "size": str(result.size),
        "data-key": result.key,
    }
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())["manifest"]
    assert (manifest["sha256"], manifest["size"], manifest["parts"]) == (
        result.sha256,
        result.size,
        result.parts,
    )
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    verified = restore_backup(job, s3=s3, verify=True)
    assert verified.ok, verified.tables
    assert {t.table for t in verified.tables} == {"public.customers", "public.orders"}
    orders = next(t for t in verified.tables if t.table == "public.orders")
    assert orders.restored is not None and orders.restored.rows == 250000
    assert orders.source == orders.restored
    report(
        f"postgres: {result.size / MIB:.1f} MiB in {result.parts} parts, backup {result.seconds:.2f}s, "
        f"restore+verify {verified.seconds:.2f}s"
    )
    # The scratch database is gone again.
    assert postgres.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'shop_verify_%'") == [["0"]]


def test_verify_reports_a_mismatch(postgres: PostgresServer, bucket: str, moto_s3: str):
    """Verify is not a rubber stamp: a source changed after the backup shows as a failed table."""
    postgres.sql("DROP DATABASE IF EXISTS drift")
    postgres.sql("CREATE DATABASE drift")
    postgres.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');", "drift"
    )
    job = pg_job(postgres, "drift", bucket, moto_s3)
    s3 = s3_client(moto_s3)
    run_backup(job, s3=s3)
    postgres.sql("UPDATE t SET v = 'changed' WHERE id = 2", "drift")
    verified = restore_backup(job, s3=s3, verify=True)
    assert not verified.ok
    (table,) = verified.tables
    assert table.source is not None and table.restored is not None
    assert table.source.rows == table.restored.rows == 2
    assert table.source.checksum != table.restored.checksum


def test_mariadb_round_trip_identical_checksums(
    mariadb: MariaDBServer, bucket: str, moto_s3: str, report: Callable[[str], None]
):
    """mariadb-dump --single-transaction, gzip in the stream; CHECKSUM TABLE equal after restore."""
    mariadb.sql("DROP DATABASE IF EXISTS app; CREATE DATABASE app")
    mariadb.sql(
        """
        CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100) UNIQUE, blob_col BLOB)
          ENGINE=InnoDB;
        CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, user_id INT, payload TEXT) ENGINE=InnoDB;
        INSERT INTO users (email, blob_col) SELECT CONCAT('u', seq, '@example.org'), UNHEX(MD5(seq))
          FROM seq_1_to_2000;
        INSERT INTO events (user_id, payload) SELECT 1 + seq % 2000, SHA2(seq, 256) FROM seq_1_to_50000;
        """,
        database="app",
    )
    job = maria_job(mariadb, "app", bucket, moto_s3)
    s3 = s3_client(moto_s3)
    result = run_backup(job, s3=s3)
    assert result.key.startswith("db2/app/mariadb/maria-app/") and result.key.endswith(".sql.gz")
    body = s3.get_object(Bucket=bucket, Key=result.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result.sha256
    assert body[:2] == b"\x1f\x8b"  # gzip

    verified = restore_backup(job, s3=s3, verify=True)
    assert verified.ok, verified.tables
    assert [(t.table, t.restored.rows if t.restored else None) for t in verified.tables] == [
        ("events", 50000),
        ("users", 2000),
    ]
    report(
        f"mariadb: {result.size / MIB:.1f} MiB, backup {result.seconds:.2f}s, verify {verified.seconds:.2f}s"
    )


def test_corrupt_gzip_download_is_one_line_error_nothing_restored(
    mariadb: MariaDBServer, bucket: str, moto_s3: str
):
    """A damaged .sql.gz in the bucket: restore refuses with a one-line error, before creating a database."""
    mariadb.sql("DROP DATABASE IF EXISTS damaged; CREATE DATABASE damaged")
    mariadb.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB;"
        "INSERT INTO t SELECT seq, SHA2(seq, 256) FROM seq_1_to_2000;",
        database="damaged",
    )
    job = maria_job(mariadb, "damaged", bucket, moto_s3)
    s3 = s3_client(moto_s3)
    result = run_backup(job, s3=s3)
    body = bytearray(s3.get_object(Bucket=bucket, Key=result.key)["Body"].read())
    middle = len(body) // 2
    body[middle : middle + 64] = bytes(b ^ 0xFF for b in body[middle : middle + 64])
    s3.put_object(Bucket=bucket, Key=result.key, Body=bytes(body))
    before = {row[0] for row in mariadb.sql("SHOW DATABASES")}

    with pytest.raises(HakitError, match=rf"^{re.escape(result.key)}: corrupt download: "):
        restore_backup(job, s3=s3, verify=True)
    assert {row[0] for row in mariadb.sql("SHOW DATABASES")} == before


def test_killed_dump_leaves_no_partial_object_and_next_run_succeeds(
    postgres: PostgresServer, pg_shop: str, bucket: str, moto_s3: str
):
    """SIGKILL pg_dump after the first part went up: upload aborted, nothing listed, a rerun works."""
    job = pg_job(postgres, pg_shop, bucket, moto_s3)
    s3 = s3_client(moto_s3)
    dumps: list[subprocess.Popen[bytes]] = []
    killed_after: list[int] = []

    def kill_after_first_part(number: int, sent: int) -> None:
        if number == 1:
            dumps[0].kill()
            killed_after.append(sent)

    with pytest.raises(HakitError, match=r"pg_dump failed \(killed by signal 9\)"):
        run_backup(job, s3=s3, on_start=dumps.append, on_part=kill_after_first_part)
    assert killed_after, "the dump must have been killed mid-stream"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    result = run_backup(job, s3=s3)
    backups = list_job(job, s3=s3)
    assert [(b.stamp, b.complete) for b in backups] == [(result.key.split("/")[-1][:20], True)]


def _seed_old_backups(job: BackupJobConfig, s3: Any, days: list[int]) -> list[str]:
    """Backups dated `days` ago (no pruning), as an older schedule would have left them."""
    now = datetime.now(UTC)
    return [run_backup(job, s3=s3, now=now - timedelta(days=d), do_prune=False).key for d in days]


def _keys(s3: Any, bucket: str) -> set[str]:
    return {obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hakit.cli", *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_s3_unreachable_clear_error_nothing_pruned(
    postgres: PostgresServer, bucket: str, moto_s3: str, tmp_path: Path
):
    """Dead endpoint: one-line error, exit 1, no traceback; old backups stay until a good run prunes them."""
    postgres.sql("DROP DATABASE IF EXISTS small")
    postgres.sql("CREATE DATABASE small")
    postgres.sql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g", "small")
    job = pg_job(postgres, "small", bucket, moto_s3)
    s3 = s3_client(moto_s3)
    seeded = _seed_old_backups(
        job, s3, [30, 20, 10, 9]
    )  # retention (2 daily, 1 weekly) keeps only 2 of these
    before = _keys(s3, bucket)
    assert len(before) == 8

    dead = json.loads(job.model_dump_json())
    dead["target"]["endpoint_url"] = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "job.json"
    config.write_text(json.dumps(dead))
    for command in (["backup", "run"], ["backup", "prune"]):
        proc = _run_cli(*command, "--config", str(config))
        assert proc.returncode == 1, proc
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"s3://{bucket}: "), lines
        assert "Could not connect to the endpoint URL" in lines[0]
    assert _keys(s3, bucket) == before

    # The same job against a reachable S3 prunes what retention drops: the test above could have failed.
    good = tmp_path / "good.json"
    good.write_text(job.model_dump_json())
    proc = _run_cli("backup", "run", "--config", str(good))
    assert proc.returncode == 0, proc.stderr
    after = _keys(s3, bucket)
    assert not (set(seeded[:2]) & after), "the two oldest backups fall out of retention"


def test_object_lock_retention_headers_and_locked_objects_kept(postgres: PostgresServer, moto_s3: str):
    """Uploads ask for mode + retain-until; locked backups are never deleted; unlocked expired ones are."""
    s3 = s3_client(moto_s3)
    creates: list[dict[str, Any]] = []
    s3.meta.events.register(
        "provide-client-params.s3.CreateMultipartUpload", lambda params, **_: creates.append(dict(params))
    )
    bucket = f"locked-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    postgres.sql("DROP DATABASE IF EXISTS tiny")
    postgres.sql("CREATE DATABASE tiny")
    postgres.sql("CREATE TABLE t AS SELECT 1 AS id", "tiny")
    unlocked = pg_job(postgres, "tiny", bucket, moto_s3)
    locked = pg_job(postgres, "tiny", bucket, moto_s3, object_lock={"mode": "GOVERNANCE", "days": 10})
    # Two old unlocked backups, then two locked ones on older days: retention (2 daily, 1 weekly) drops 3.
    old = _seed_old_backups(unlocked, s3, [40, 30])
    now = datetime.now(UTC)
    locked_keys = []
    for hours in (80, 50):
        key = run_backup(locked, s3=s3, now=now - timedelta(hours=hours), do_prune=False).key
        # moto ignores lock headers on CreateMultipartUpload (S3 applies them): lock the dump as S3 would.
        until = creates[-1]["ObjectLockRetainUntilDate"]
        s3.put_object_retention(
            Bucket=bucket, Key=key, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until}
        )
        locked_keys.append(key)
    newest = run_backup(locked, s3=s3)

    assert creates[-1]["ObjectLockMode"] == "GOVERNANCE"
    assert creates[-1]["ObjectLockRetainUntilDate"] > now + timedelta(days=9)
    assert creates[-1]["ServerSideEncryption"] == "AES256"
    assert "ObjectLockMode" not in creates[0]  # the unlocked job asks for nothing
    manifest_head = s3.head_object(Bucket=bucket, Key=newest.manifest_key)
    assert manifest_head["ObjectLockMode"] == "GOVERNANCE"
    assert manifest_head["ObjectLockRetainUntilDate"] > now + timedelta(days=9)

    assert newest.pruned is not None
    assert set(newest.pruned.deleted) == {k for key in old for k in (key, key + ".manifest.json")}
    assert {entry.split(" ")[0] for entry in newest.pruned.locked} == {
        locked_keys[0],
        locked_keys[0] + ".manifest.json",
    }
    remaining = _keys(s3, bucket)
    assert {locked_keys[0], locked_keys[0] + ".manifest.json"} <= remaining
    assert not (set(old) & remaining)
    # Versions are removed for real (no delete markers hiding still-billed data).
    assert not s3.list_object_versions(Bucket=bucket).get("DeleteMarkers")
    # And S3 itself refuses to delete the locked version: our skip is not hiding a working delete.
    version = s3.head_object(Bucket=bucket, Key=locked_keys[0])["VersionId"]
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=locked_keys[0], VersionId=version)


def test_restore_into_named_database(postgres: PostgresServer, bucket: str, moto_s3: str, tmp_path: Path):
    """`hakit backup restore --target-db` loads the newest backup into a new database; `list` shows it."""
    postgres.sql("DROP DATABASE IF EXISTS src")
    postgres.sql("DROP DATABASE IF EXISTS copy1")
    postgres.sql("CREATE DATABASE src")
    postgres.sql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 42) g", "src")
    job = pg_job(postgres, "src", bucket, moto_s3)
    config = tmp_path / "job.json"
    config.write_text(job.model_dump_json())
    run = _run_cli("backup", "run", "--config", str(config))
    assert run.returncode == 0, run.stderr
    listing = _run_cli("backup", "list", "--config", str(config))
    assert listing.returncode == 0 and "complete" in listing.stdout, listing
    restore = _run_cli("backup", "restore", "--config", str(config), "--target-db", "copy1")
    assert restore.returncode == 0, restore.stderr
    assert postgres.sql("SELECT count(*), sum(id) FROM t", "copy1") == [["42", "903"]]
    workdir = tmp_path / "work"
    workdir.mkdir()
    verify = _run_cli("backup", "restore", "--config", str(config), "--verify", "--workdir", str(workdir))
    assert verify.returncode == 0, verify.stderr
    assert "public.t" in verify.stdout
    assert list(workdir.iterdir()) == []  # the download is removed afterwards


def test_s3_lost_mid_stream_aborts_nothing_pruned_next_run_cleans_up(
    postgres: PostgresServer, pg_shop: str, bucket: str, moto_s3: str
):
    """S3 dies after part 1: clear error, no object, nothing pruned; the next run aborts the leftover."""
    from moto.server import ThreadedMotoServer

    s3 = s3_client(moto_s3)
    job = pg_job(postgres, pg_shop, bucket, moto_s3)
    postgres.sql("DROP DATABASE IF EXISTS seed")
    postgres.sql("CREATE DATABASE seed")
    seeded = _seed_old_backups(pg_job(postgres, "seed", bucket, moto_s3), s3, [40, 30, 20])
    before = _keys(s3, bucket)
    # A second endpoint on the same in-process moto backend, which we can take away mid-upload.
    port = free_port()
    doomed = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    doomed.start()
    flaky = json.loads(job.model_dump_json())
    flaky["target"]["endpoint_url"] = f"http://127.0.0.1:{port}"
    flaky_job = BackupJobConfig.model_validate(flaky)
    try:

        def cut_after_first_part(number: int, _sent: int) -> None:
            if number == 1:
                doomed.stop()

        with pytest.raises(HakitError) as caught:
            run_backup(flaky_job, on_part=cut_after_first_part)
    finally:
        doomed.stop()
    lines = caught.value.lines
    assert lines[0].startswith(f"s3://{bucket}: upload part 2 of db1/shop/"), lines
    assert "Could not connect to the endpoint URL" in lines[0]
    assert lines[1].startswith("could not abort upload"), lines  # said plainly, with what happens next
    assert _keys(s3, bucket) == before  # no partial object, and nothing pruned
    (left,) = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]

    # The next run (after the job's timeout, so the upload is surely dead) aborts it and succeeds.
    later = datetime.now(UTC) + timedelta(seconds=job.timeout_sec + 60)
    logs: list[str] = []
    result = run_backup(job, s3=s3, now=later, log=logs.append)
    assert f"aborted an unfinished upload left by an earlier run: {left['Key']}" in logs
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert result.key in _keys(s3, bucket) and set(seeded) <= _keys(s3, bucket)


def test_sigterm_aborts_the_upload(
    postgres: PostgresServer, pg_shop: str, bucket: str, moto_s3: str, tmp_path: Path
):
    """systemd stops units with SIGTERM: `hakit backup run` aborts its multipart upload and exits non-zero."""
    import signal
    import time

    s3 = s3_client(moto_s3)
    config = tmp_path / "job.json"
    config.write_text(pg_job(postgres, pg_shop, bucket, moto_s3).model_dump_json())
    proc = subprocess.Popen(
        [sys.executable, "-m", "hakit.cli", "backup", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not s3.list_multipart_uploads(Bucket=bucket).get("Uploads") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr
    assert stderr.strip().splitlines() == [
        f"warning: s3://{bucket} has neither versioning nor Object Lock: "
        "anyone with the hosts' PutObject/DeleteObject can overwrite or delete backups for good",
        f"stopped by signal {int(signal.SIGTERM)}: upload aborted",
    ]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_mariadb_dump_is_one_snapshot_under_writes(
    mariadb: MariaDBServer, bucket: str, moto_s3: str, report: Callable[[str], None]
):
    """Transfers run while mariadb-dump streams: the restored copy still balances (--single-transaction)."""
    import threading

    mariadb.sql("DROP DATABASE IF EXISTS bank; CREATE DATABASE bank")
    mariadb.sql(
        """
        CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
        CREATE TABLE ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, note TEXT) ENGINE=InnoDB;
        INSERT INTO accounts SELECT seq, 1000 FROM seq_1_to_100;
        INSERT INTO ledger (note) SELECT SHA2(seq, 512) FROM seq_1_to_50000;
        """,
        database="bank",
    )
    stop = threading.Event()
    transfers: list[int] = []

    def transfer() -> None:
        argv = ["mariadb", f"--defaults-file={mariadb.cnf}", "-uroot", "-N", "-B", "--unbuffered", "bank"]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        for n in range(20_000):  # bounded in count; the dump's end stops it sooner
            if stop.is_set():
                break
            src, dst = 1 + n % 100, 1 + (n * 7 + 3) % 100
            proc.stdin.write(
                f"START TRANSACTION; UPDATE accounts SET balance = balance - 5 WHERE id = {src};"
                f" UPDATE accounts SET balance = balance + 5 WHERE id = {dst}; COMMIT; SELECT {n};\n".encode()
            )
            proc.stdin.flush()
            proc.stdout.readline()
            transfers.append(n)
        proc.stdin.close()
        proc.wait(timeout=30)

    writer = threading.Thread(target=transfer, daemon=True)
    job = maria_job(mariadb, "bank", bucket, moto_s3)
    s3 = s3_client(moto_s3)
    writer.start()
    try:
        wait_for(lambda: len(transfers) > 50, 20, "transfers under way")
        before = len(transfers)
        run_backup(job, s3=s3)
        during = len(transfers) - before
    finally:
        stop.set()
        writer.join(timeout=30)
    assert during > 0, "no transfer ran while the dump streamed: the test proves nothing"
    mariadb.sql("DROP DATABASE IF EXISTS bank_copy")
    restore_backup(job, s3=s3, target_db="bank_copy")
    assert mariadb.sql("SELECT SUM(balance), COUNT(*) FROM accounts", "bank_copy") == [["100000", "100"]]
    assert mariadb.sql("SELECT COUNT(*) FROM ledger", "bank_copy") == [["50000"]]
    report(f"{during} transfers committed while the dump streamed; the restored copy balances")

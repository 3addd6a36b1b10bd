"""Backups that cannot be lost or poisoned: jobs apart in storage, signed manifests, versions, credentials.

Real PostgreSQL 15 / MariaDB and a moto S3 server (the fixtures of conftest.py). Each test here failed on
the code before manifests were signed and keys carried the engine and job name.
"""

# The fixtures imported from test_backup are parameters here: that is how pytest shares them (F811).
# ruff: noqa: F401, F811

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from db_servers import MariaDBServer, PostgresServer
from hakit.errors import HakitError
from hakit.ops.backup import list_job, restore_backup, run_backup
from hakit.ops.backup_manifest import Manifest, sign
from hakit.ops.backup_store import make_stamp
from hakit.spec.backup import BackupJobConfig
from test_backup import _job_keys, bucket, key_file, maria_job, pg_job, pg_shop, s3_client

pytestmark = pytest.mark.db


def _keys(s3: Any, bucket: str) -> set[str]:
    return {obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hakit.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def _small_pg(postgres: PostgresServer, database: str, rows: int = 42) -> None:
    postgres.sql(f"DROP DATABASE IF EXISTS {database}")
    postgres.sql(f"CREATE DATABASE {database}")
    postgres.sql(f"CREATE TABLE t AS SELECT g AS id FROM generate_series(1, {rows}) g", database)


def _small_maria(mariadb: MariaDBServer, database: str) -> None:
    mariadb.sql(f"DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}")
    mariadb.sql(
        "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO t SELECT seq FROM seq_1_to_7",
        database,
    )


def test_hourly_job_does_not_prune_the_nightly_job(postgres: PostgresServer, bucket: str, moto_s3: str):
    """Two jobs on one host and database: the hourly one (daily: 1) leaves the 10 nightly backups alone."""
    _small_pg(postgres, "twojobs")
    s3 = s3_client(moto_s3)
    nightly = pg_job(
        postgres, "twojobs", bucket, moto_s3, name="nightly", retention={"daily": 30, "weekly": 8}
    )
    hourly = pg_job(postgres, "twojobs", bucket, moto_s3, name="hourly", retention={"daily": 1, "weekly": 0})
    now = datetime.now(UTC)
    seeded = [
        run_backup(nightly, s3=s3, now=now - timedelta(days=d), do_prune=False).key for d in range(1, 11)
    ]
    for hours in (3, 2):
        run_backup(hourly, s3=s3, now=now - timedelta(hours=hours), do_prune=False)
    newest = run_backup(hourly, s3=s3)
    assert newest.pruned is not None
    assert set(seeded) <= _keys(s3, bucket), "the hourly job pruned nightly backups"
    assert all(key.startswith("db1/twojobs/postgresql/hourly/") for key in newest.pruned.deleted)
    assert [b.complete for b in list_job(nightly, s3=s3)] == [True] * 10


def test_same_database_name_in_two_engines_restores_its_own(
    postgres: PostgresServer, mariadb: MariaDBServer, bucket: str, moto_s3: str
):
    """PostgreSQL `samename` and MariaDB `samename` on one host: restore takes its own engine's dump."""
    _small_pg(postgres, "samename")
    _small_maria(mariadb, "samename")
    s3 = s3_client(moto_s3)
    pg = pg_job(postgres, "samename", bucket, moto_s3)
    maria = maria_job(mariadb, "samename", bucket, moto_s3, host="db1")
    pg_key = run_backup(pg, s3=s3).key
    maria_key = run_backup(maria, s3=s3).key  # the newest object for db1/samename
    assert pg_key.endswith(".pgdump") and maria_key.endswith(".sql.gz")
    report = restore_backup(pg, s3=s3, verify=True)
    assert report.ok and report.key == pg_key
    report = restore_backup(maria, s3=s3, verify=True)
    assert report.ok and report.key == maria_key


def _evil_sql(marker: Path) -> bytes:
    """A plain SQL dump whose first line is a mariadb client shell escape."""
    return gzip.compress(f"\\! touch {marker}\nCREATE TABLE evil (id INT);\n".encode())


def _plant(s3: Any, job: BackupJobConfig, stamp: str, dump: bytes, manifest_body: bytes) -> str:
    """Put a dump and a manifest into the job's folder, as anyone with PutObject could."""
    key = f"{job.storage_prefix}{stamp}.sql.gz"
    s3.put_object(Bucket=job.target.bucket, Key=key, Body=dump)
    s3.put_object(Bucket=job.target.bucket, Key=key + ".manifest.json", Body=manifest_body)
    return key


def _manifest_for(
    job: BackupJobConfig, key: str, stamp: str, dump: bytes, version_id: str | None
) -> Manifest:
    moment = datetime.now(UTC).isoformat()
    return Manifest(
        format=2,
        job=job.name,
        host=job.host,
        engine="mariadb",
        database=job.source.database,
        key=key,
        stamp=stamp,
        version_id=version_id,
        compression="gzip",
        started=moment,
        finished=moment,
        size=len(dump),
        sha256=hashlib.sha256(dump).hexdigest(),
        parts=1,
        part_size=5 * 1024 * 1024,
        etag="x",
        encryption="AES256",
    )


def test_planted_dumps_are_never_restored(mariadb: MariaDBServer, bucket: str, moto_s3: str, tmp_path: Path):
    """A far-future unsigned plant and a signed-with-another-key plant: restore takes the real backup."""
    _small_maria(mariadb, "planted")
    s3 = s3_client(moto_s3)
    job = maria_job(mariadb, "planted", bucket, moto_s3)
    genuine = run_backup(job, s3=s3)
    marker = tmp_path / "pwned"
    evil = _evil_sql(marker)
    # 0. A sibling of the genuine dump under the same stamp (both version "null" in this bucket).
    genuine_stamp = genuine.key.rsplit("/", 1)[1][:20]
    s3.put_object(Bucket=bucket, Key=f"{job.storage_prefix}{genuine_stamp}.a.sql.gz", Body=evil)
    # 1. What an attacker would write with the old format: an unsigned manifest, stamp far in the future.
    future = "29991231T235959.000Z"
    future_key = f"{job.storage_prefix}{future}.sql.gz"
    unsigned = {"format": 1, "key": future_key, "size": len(evil), "sha256": hashlib.sha256(evil).hexdigest()}
    _plant(s3, job, future, evil, json.dumps(unsigned).encode())
    # 2. A current stamp, signed with a key that is not this job's.
    stamp = make_stamp(datetime.now(UTC) + timedelta(seconds=30))
    key = f"{job.storage_prefix}{stamp}.sql.gz"
    forged = sign(b"k" * 32, _manifest_for(job, key, stamp, evil, None))
    _plant(s3, job, stamp, evil, forged)

    states = {b.stamp: b.state for b in list_job(job, s3=s3)}
    assert states[future] == "future" and states[stamp] == "unauthenticated"
    report = restore_backup(job, s3=s3, verify=True)
    assert report.ok and report.key == genuine.key
    assert not marker.exists()
    with pytest.raises(HakitError, match=r"backup 2999.* is refused: future stamp"):
        restore_backup(job, s3=s3, stamp=future, target_db="planted_x")
    with pytest.raises(HakitError, match=r"unauthenticated manifest: signature does not match"):
        restore_backup(job, s3=s3, stamp=stamp, target_db="planted_x")
    assert not marker.exists()
    # Prune leaves what it cannot authenticate alone (and never counts it as a newer backup).
    pruned = run_backup(job, s3=s3).pruned
    assert pruned is not None and len(pruned.foreign) == 2
    assert pruned.deleted == [genuine.key, genuine.manifest_key]  # the older genuine one: same day


def test_signed_dump_with_shell_escape_runs_nothing(
    mariadb: MariaDBServer, bucket: str, moto_s3: str, tmp_path: Path
):
    """Even a dump whose manifest authenticates (a stolen key) cannot run `\\!`: mariadb --sandbox."""
    _small_maria(mariadb, "escape")
    s3 = s3_client(moto_s3)
    job = maria_job(mariadb, "escape", bucket, moto_s3)
    marker = tmp_path / "pwned"
    evil = _evil_sql(marker)
    stamp = make_stamp(datetime.now(UTC) - timedelta(minutes=1))
    key = f"{job.storage_prefix}{stamp}.sql.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=evil)
    signing_key = Path(key_file(job.name)).read_bytes().strip()
    manifest = _manifest_for(job, key, stamp, evil, None)
    s3.put_object(Bucket=bucket, Key=key + ".manifest.json", Body=sign(signing_key, manifest))
    before = {row[0] for row in mariadb.sql("SHOW DATABASES")}
    with pytest.raises(HakitError, match=r"mariadb failed .*sandbox"):
        restore_backup(job, s3=s3, target_db="escape_copy")
    assert not marker.exists()
    assert {
        row[0] for row in mariadb.sql("SHOW DATABASES")
    } == before  # the failed restore's database is gone


def test_damaged_or_forged_manifest_is_one_line(
    postgres: PostgresServer, bucket: str, moto_s3: str, tmp_path: Path
):
    """`hakit backup restore --stamp` on a damaged or edited manifest: one line, exit 1, no traceback."""
    _small_pg(postgres, "damaged")
    s3 = s3_client(moto_s3)
    job = pg_job(postgres, "damaged", bucket, moto_s3)
    config = tmp_path / "job.json"
    config.write_text(job.model_dump_json())
    result = run_backup(job, s3=s3)
    stamp = result.key.rsplit("/", 1)[1][:20]
    original = s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read()
    edited = json.loads(original)
    edited["manifest"]["size"] += 1
    # Every kind of damage is one line (test_backup_store checks them on verify()); here, through the CLI.
    cases = {
        b'{"manifest": {"format": 2,': "damaged manifest: not JSON",
        json.dumps(edited).encode(): "unauthenticated manifest: signature does not match this job's key",
    }
    for body, message in cases.items():
        s3.put_object(Bucket=bucket, Key=result.manifest_key, Body=body)
        proc = _run_cli("backup", "restore", "--config", str(config), "--stamp", stamp, "--target-db", "d2")
        assert proc.returncode == 1, proc
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (body, lines)
        listing = _run_cli("backup", "list", "--config", str(config))
        assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing
        problem = lines[0].split(" is refused: ", 1)[1]
        assert listing.stderr.strip().splitlines() == [f"{stamp}: {problem}"]


def test_overwrite_and_delete_marker_hide_nothing(postgres: PostgresServer, moto_s3: str, tmp_path: Path):
    """Versioned bucket: dump overwritten, manifest 'deleted': still listed and restored by VersionId."""
    s3 = s3_client(moto_s3)
    bucket = f"versioned-{os.urandom(6).hex()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    _small_pg(postgres, "versions", rows=99)
    job = pg_job(postgres, "versions", bucket, moto_s3)
    warnings: list[str] = []
    result = run_backup(job, s3=s3, warn=warnings.append)
    assert warnings == []  # versioning on: no warning
    s3.put_object(Bucket=bucket, Key=result.key, Body=b"overwritten by someone with PutObject")
    s3.delete_object(Bucket=bucket, Key=result.manifest_key)  # a delete marker on top
    assert result.manifest_key not in _keys(s3, bucket)

    (backup,) = list_job(job, s3=s3)
    assert backup.complete and backup.size == result.size
    config = tmp_path / "job.json"
    config.write_text(job.model_dump_json())
    listing = _run_cli("backup", "list", "--config", str(config), "--json")
    assert listing.returncode == 0, listing
    (row,) = json.loads(listing.stdout)["backups"]
    assert (row["state"], row["size"], row["sha256"]) == ("complete", result.size, result.sha256)
    assert row["version_id"] not in (None, "null")  # the first version, not the overwrite
    report = restore_backup(job, s3=s3, verify=True)
    assert report.ok and report.sha256 == result.sha256


def test_unversioned_bucket_warns_at_run(postgres: PostgresServer, bucket: str, moto_s3: str):
    """Neither versioning nor Object Lock: `backup run` says so, once."""
    _small_pg(postgres, "warned")
    warnings: list[str] = []
    run_backup(pg_job(postgres, "warned", bucket, moto_s3), s3=s3_client(moto_s3), warn=warnings.append)
    assert warnings == [
        f"warning: s3://{bucket} has neither versioning nor Object Lock: "
        "anyone with the hosts' PutObject/DeleteObject can overwrite or delete backups for good"
    ]


def test_aws_keys_never_reach_pg_dump(postgres: PostgresServer, pg_shop: str, bucket: str, moto_s3: str):
    """pg_dump's /proc/PID/environ holds no AWS variable (the job process keeps its keys to itself)."""
    assert os.environ.get("AWS_SECRET_ACCESS_KEY")  # the moto fixture's keys are in this process
    environs: list[bytes] = []

    def read_environ(proc: subprocess.Popen[bytes]) -> None:
        # The 10 MiB dump blocks on its pipe until this returns: the process is alive, not a zombie.
        environs.append(Path(f"/proc/{proc.pid}/environ").read_bytes())

    run_backup(pg_job(postgres, pg_shop, bucket, moto_s3), s3=s3_client(moto_s3), on_start=read_environ)
    names = {entry.split(b"=", 1)[0] for entry in environs[0].split(b"\0") if entry}
    assert b"PATH" in names, "empty environ: the test would prove nothing"
    assert not {name for name in names if name.startswith(b"AWS_")}


def test_job_reads_its_secrets_from_the_credentials_directory(
    postgres: PostgresServer, bucket: str, moto_s3: str, tmp_path: Path
):
    """Under systemd the keys come from $CREDENTIALS_DIRECTORY (LoadCredential=), not the environment."""
    _small_pg(postgres, "creds")
    job = pg_job(postgres, "creds", bucket, moto_s3)
    data = json.loads(job.model_dump_json())
    data["credentials"] = {"aws": "/nonexistent/creds.aws", "manifest_key": "/nonexistent/creds.key"}
    config = tmp_path / "job.json"
    config.write_text(json.dumps(data))
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "aws").write_text(
        "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    (credentials / "manifest-key").write_bytes(Path(key_file(job.name)).read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"CREDENTIALS_DIRECTORY": str(credentials), "AWS_CONFIG_FILE": "/nonexistent"}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}
    proc = _run_cli("backup", "run", "--config", str(config), env=env)
    assert proc.returncode == 0, proc.stderr
    assert [b.complete for b in list_job(job, s3=s3_client(moto_s3))] == [True]
    # Without the directory the configured paths are used: missing, so one clear line.
    del env["CREDENTIALS_DIRECTORY"]
    proc = _run_cli("backup", "list", "--config", str(config), env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"backup {job.name}: manifest key /nonexistent/creds.key: No such file or directory; "
        "create it with `hakit backup keygen`"
    ]


def test_postgres_restore_as_non_superuser(postgres: PostgresServer, bucket: str, moto_s3: str):
    """restore_user: pg_restore connects as a plain role owning the new database; a superuser is refused."""
    _small_pg(postgres, "asrole")
    postgres.sql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'restorer') "
        "THEN CREATE ROLE restorer LOGIN NOSUPERUSER; END IF; END $$"
    )
    postgres.sql("DROP DATABASE IF EXISTS asrole_copy")
    s3 = s3_client(moto_s3)
    data = json.loads(pg_job(postgres, "asrole", bucket, moto_s3).model_dump_json())
    data["source"]["restore_user"] = "restorer"
    job = BackupJobConfig.model_validate(data)
    run_backup(job, s3=s3)
    warnings: list[str] = []
    restore_backup(job, s3=s3, target_db="asrole_copy", warn=warnings.append)
    assert warnings == []
    assert postgres.sql("SELECT tableowner FROM pg_tables WHERE tablename = 't'", "asrole_copy") == [
        ["restorer"]
    ]
    assert postgres.sql("SELECT count(*) FROM t", "asrole_copy") == [["42"]]

    data["source"]["restore_user"] = "postgres"
    with pytest.raises(HakitError, match=r"restore_user 'postgres' is a superuser"):
        restore_backup(BackupJobConfig.model_validate(data), s3=s3, target_db="asrole_copy2")
    data["source"].pop("restore_user")
    restore_backup(
        BackupJobConfig.model_validate(data), s3=s3, target_db="asrole_copy3", warn=warnings.append
    )
    assert len(warnings) == 1 and "set source.restore_user" in warnings[0]
    postgres.sql("DROP DATABASE asrole_copy3")

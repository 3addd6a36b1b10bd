"""Real servers for the ops tests: PostgreSQL 15, MariaDB, and a moto S3 server, shared per session.

mariadb-install-db costs 5-7 s, so it runs once into a template datadir that every MariaDB instance copies.
Every server is stopped by its own PID in a finalizer and its directory removed, even when a test fails.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from db_servers import (
    PG_BIN,
    MariaDBServer,
    PostgresServer,
    free_port,
    mariadb_server_cnf,
    new_mariadb_dirs,
    wait_for,
    world_traversable,
)
from failover_support import moto_reset, moto_server
from support import require_binaries


@pytest.fixture(scope="session")
def mariadb_template() -> Iterator[Path]:
    """A freshly initialised MariaDB datadir (root via unix socket), copied by every instance."""
    require_binaries("mariadbd", "mariadb", "mariadb-dump", "mariadb-install-db", "mariadb-admin")
    # Not under pytest's 0700 tmp root: mariadbd runs as mysql and must reach its files.
    base = world_traversable(Path(tempfile.mkdtemp(prefix="hakit-mariadb-template-")))
    for sub in ("data", "run", "log"):
        world_traversable(base / sub)
    cnf = base / "my.cnf"
    cnf.write_text(mariadb_server_cnf(base, free_port()))
    try:
        proc = subprocess.run(
            [
                "mariadb-install-db",
                f"--defaults-file={cnf}",
                f"--datadir={base}/data",
                "--user=mysql",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {proc.stderr.decode()[-2000:]}")
        yield base / "data"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb(mariadb_template: Path) -> Iterator[MariaDBServer]:
    """A standalone MariaDB server for the backup tests."""
    base = world_traversable(Path(tempfile.mkdtemp(prefix="hakit-mariadb-")))
    port = free_port()
    new_mariadb_dirs(mariadb_template, base)
    cnf = base / "my.cnf"
    cnf.write_text(mariadb_server_cnf(base, port))
    server = MariaDBServer(base=base, cnf=cnf, port=port, socket=base / "run" / "mysqld.sock")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server on 127.0.0.1 and a private socket directory."""
    require_binaries("initdb", "pg_ctl", "pg_dump", "pg_restore", "psql")
    base = world_traversable(Path(tempfile.mkdtemp(prefix="hakit-pg-")))
    pid_file = base / "data" / "postmaster.pid"
    try:
        for sub in ("data", "run"):
            (base / sub).mkdir()
        subprocess.run(["chown", "-R", "postgres:postgres", str(base)], check=True)
        port = free_port()
        as_pg = ["runuser", "-u", "postgres", "--"]
        data = str(base / "data")
        initdb = [str(PG_BIN / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"]
        subprocess.run([*as_pg, *initdb], check=True, capture_output=True)
        options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base}/run"
        options += " -c fsync=off"  # a throwaway test cluster
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", data, "-w", "-l", f"{base}/server.log", "-o", options]
        subprocess.run([*as_pg, *pg_ctl, "start"], check=True, capture_output=True)
        yield PostgresServer(base=base, port=port)
    finally:
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGINT)  # fast shutdown of the postmaster we started
            wait_for(lambda: not pid_file.exists(), 30, "postgres shutdown")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """A moto server on a free loopback port; yields its endpoint URL. Fake credentials for boto3."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per S3 call otherwise

    saved = {
        k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    try:
        with moto_server() as url:
            yield url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def failover_moto() -> Iterator[str]:
    """One moto server for the failover and status tests (Route 53, DynamoDB), apart from the S3 one."""
    with moto_server() as url:
        yield url


@pytest.fixture
def moto_url(failover_moto: str) -> str:
    """The failover moto server, emptied for this test."""
    moto_reset(failover_moto)
    return failover_moto


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a measurement to the terminal even while pytest captures output (numbers the docs quote)."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print(f"\n    [measured] {line.strip()}")

    return emit

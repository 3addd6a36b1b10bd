"""Test-side handles on real database servers (MariaDB, PostgreSQL 15) started by the ops fixtures."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def world_traversable(path: Path) -> Path:
    """Daemons drop privileges (mysql, postgres): let them reach their directories under a 0700 temp dir."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


# ------------------------------------------------------------------------------------------ MariaDB


def mariadb_server_cnf(base: Path, port: int) -> str:
    """A self-contained server option file for a test instance living entirely under `base`."""
    return f"""[client]
socket = {base}/run/mysqld.sock
port = {port}

[mariadbd]
user = mysql
datadir = {base}/data
socket = {base}/run/mysqld.sock
pid-file = {base}/run/mysqld.pid
port = {port}
bind-address = 127.0.0.1
log-error = {base}/log/error.log
skip-name-resolve
innodb_buffer_pool_size = 64M
innodb_log_file_size = 16M
"""


@dataclass
class MariaDBServer:
    """One mariadbd we started: its option file, PID, and a `sql()` helper over the unix socket."""

    base: Path
    cnf: Path
    port: int
    socket: Path
    proc: subprocess.Popen[bytes] | None = None
    log: list[str] = field(default_factory=list)
    netns: str | None = None  # run inside this network namespace (`ip netns exec` execs: same PID)

    def start(self, timeout: float = 30.0) -> None:
        """Start mariadbd in the foreground (as a child) and wait until it answers."""
        inside = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(
            [*inside, "mariadbd", f"--defaults-file={self.cnf}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"mariadbd exited with {self.proc.returncode}; see {self.base}/log/error.log"
                )
            return self.socket.exists() and self._ping()

        wait_for(up, timeout, f"mariadbd on port {self.port}")

    def _ping(self) -> bool:
        return (
            subprocess.run(
                ["mariadb-admin", f"--defaults-file={self.cnf}", "-uroot", "--connect-timeout=1", "ping"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )

    def kill(self) -> None:
        """SIGKILL the server (a crash), and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Clean shutdown (SIGTERM), falling back to SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def sql(self, query: str, database: str | None = None) -> list[list[str]]:
        """Run SQL as root over the socket; rows as lists of strings."""
        argv = ["mariadb", f"--defaults-file={self.cnf}", "-uroot", "--batch", "--skip-column-names"]
        if database:
            argv.append(database)
        proc = subprocess.run(argv, input=query.encode(), capture_output=True, check=False, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"mariadb on port {self.port}: {proc.stderr.decode().strip()}")
        return [line.split("\t") for line in proc.stdout.decode().splitlines() if line]


# ------------------------------------------------------------------------------------------ PostgreSQL


@dataclass
class PostgresServer:
    """A PostgreSQL 15 cluster we started as the postgres user (it refuses root)."""

    base: Path
    port: int

    @property
    def socket_dir(self) -> str:
        """Directory of the unix socket (what libpq calls the host)."""
        return str(self.base / "run")

    def sql(self, query: str, database: str = "postgres") -> list[list[str]]:
        """Run SQL as postgres; rows as lists of strings."""
        argv = [str(PG_BIN / "psql"), "-h", self.socket_dir, "-p", str(self.port), "-U", "postgres"]
        argv += ["-d", database, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
        proc = subprocess.run(argv, input=query.encode(), capture_output=True, check=False, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"psql: {proc.stderr.decode().strip()}")
        return [line.split("\t") for line in proc.stdout.decode().splitlines() if line]


# ------------------------------------------------------------------------------------------ S3 (moto)


def new_mariadb_dirs(template: Path, base: Path) -> None:
    """Lay out run/log dirs and a copy of the template datadir under `base`, owned by mysql."""
    for sub in ("run", "log"):
        world_traversable(base / sub)
    shutil.copytree(template, base / "data", symlinks=True)
    subprocess.run(
        ["chown", "-R", "mysql:mysql", str(base / "data"), str(base / "run"), str(base / "log")], check=True
    )

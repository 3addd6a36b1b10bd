"""Database side of backups: dump commands, restores into a scratch database, row counts and checksums.

Everything goes through the engines' own client programs (pg_dump/pg_restore/psql, mariadb-dump/mariadb),
so a host needs no Python database driver. Passwords never appear in argv: PostgreSQL reads the PGPASSFILE
the job points at (its `pgpass` credential), MariaDB reads a 0600 option file (`defaults_file`). The child
environment never holds the AWS keys. Restores treat the dump as untrusted input even after its manifest
authenticated: `mariadb --sandbox` refuses the client's shell and file commands (`\\!`, `source`, ...),
and pg_restore can connect as a non-superuser role (no COPY ... PROGRAM, no server-side files).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hakit.errors import HakitError
from hakit.spec.backup import MariaDBSource, PostgresSource

# Identifiers we put in SQL must be plain; the spec already restricts database names to this.
_IDENT = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")


@dataclass(frozen=True)
class TableStat:
    """Row count and content checksum of one table (checksums are only comparable within one engine)."""

    rows: int
    checksum: str


class Engine(Protocol):
    """What the backup program needs from a database engine."""

    name: str
    extension: str
    compressed_by_us: bool
    env: dict[str, str] | None

    def dump_argv(self) -> list[str]: ...

    def restore_file(self, path: Path, database: str) -> None: ...

    def create_database(self, database: str) -> None: ...

    def drop_database(self, database: str) -> None: ...

    def table_stats(self, database: str) -> dict[str, TableStat]: ...

    def restore_caution(self) -> str | None: ...


def _ident(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise HakitError(f"refusing unusual identifier {name!r}")
    return name


def _run(
    argv: list[str],
    env: dict[str, str] | None,
    *,
    stdin: bytes | None = None,
    stdin_file: Path | None = None,
) -> str:
    """Run a client program; on failure raise a one-line error carrying its last stderr line."""
    try:
        if stdin_file is not None:
            with stdin_file.open("rb") as fh:
                proc = subprocess.run(argv, stdin=fh, capture_output=True, check=False, env=env)
        else:
            proc = subprocess.run(argv, input=stdin, capture_output=True, check=False, env=env)
    except FileNotFoundError as err:
        raise HakitError(f"{argv[0]}: not installed ({err.strerror})") from err
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no message)"]
        raise HakitError(f"{Path(argv[0]).name} failed (exit {proc.returncode}): {tail[0]}")
    return proc.stdout.decode()


def _rows(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.splitlines() if line]


class Postgres:
    """PostgreSQL through pg_dump -Fc / pg_restore / psql."""

    name = "postgresql"
    extension = "pgdump"
    compressed_by_us = False  # the custom format is already compressed

    def __init__(self, source: PostgresSource, env: dict[str, str] | None = None) -> None:
        self.source = source
        self.env = env

    def _bin(self, program: str) -> str:
        return str(Path(self.source.bin_dir) / program)

    def _conn(self, user: str | None = None) -> list[str]:
        return ["-h", self.source.host, "-p", str(self.source.port), "-U", user or self.source.user]

    def _psql(self, database: str, sql: str) -> str:
        argv = [self._bin("psql"), *self._conn(), "-d", database, "-X", "-q", "-A", "-t", "-F", "\t"]
        return _run([*argv, "-v", "ON_ERROR_STOP=1", "-c", sql], self.env)

    def restore_caution(self) -> str | None:
        """A warning when the restore would run the dump's SQL as the (usually superuser) dump role."""
        if self.source.restore_user is not None:
            return None
        return (
            f"warning: pg_restore connects as {self.source.user!r}, the dump role; set source.restore_user "
            "to a non-superuser role so a dump's SQL cannot run server-side programs or read files"
        )

    def dump_argv(self) -> list[str]:
        """pg_dump in custom format to stdout."""
        return [self._bin("pg_dump"), "-Fc", *self._conn(), "-d", self.source.database]

    def create_database(self, database: str) -> None:
        """Create an empty database (owned by the restore role, which must not be a superuser)."""
        owner = self.source.restore_user
        if owner is None:
            self._psql("postgres", f'CREATE DATABASE "{_ident(database)}"')
            return
        found = self._psql("postgres", f"SELECT rolsuper FROM pg_roles WHERE rolname = '{_ident(owner)}'")
        if found.strip() != "f":
            state = "is a superuser" if found.strip() == "t" else "does not exist"
            raise HakitError(f"restore_user {owner!r} {state}: the restore needs a non-superuser role")
        self._psql("postgres", f'CREATE DATABASE "{_ident(database)}" OWNER "{owner}"')

    def drop_database(self, database: str) -> None:
        """Drop a database, disconnecting its sessions."""
        self._psql("postgres", f'DROP DATABASE IF EXISTS "{_ident(database)}" WITH (FORCE)')

    def restore_file(self, path: Path, database: str) -> None:
        """pg_restore a custom-format file into an existing database."""
        argv = [self._bin("pg_restore"), *self._conn(self.source.restore_user), "-d", database]
        _run([*argv, "--no-owner", "--exit-on-error", str(path)], self.env)

    def table_stats(self, database: str) -> dict[str, TableStat]:
        """Rows and an order-independent md5 over the rows' text form, for every user table."""
        tables = _rows(
            self._psql(
                database,
                "SELECT schemaname, tablename FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
            )
        )
        if not tables:
            return {}
        parts = [
            f"SELECT '{schema}.{table}', count(*), "
            f"coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') "
            f'FROM "{_ident(schema)}"."{_ident(table)}" t'
            for schema, table in tables
        ]
        return {
            name: TableStat(int(rows), digest)
            for name, rows, digest in _rows(self._psql(database, " UNION ALL ".join(parts)))
        }


class MariaDB:
    """MariaDB through mariadb-dump --single-transaction / mariadb; CHECKSUM TABLE for content."""

    name = "mariadb"
    extension = "sql.gz"
    compressed_by_us = True  # plain SQL: the backup program gzips the stream

    def __init__(self, source: MariaDBSource, env: dict[str, str] | None = None) -> None:
        self.source = source
        self.env = env

    def _conn(self) -> list[str]:
        # --defaults-file must come first on the command line.
        argv = [f"--defaults-file={self.source.defaults_file}"] if self.source.defaults_file else []
        if self.source.socket:
            argv.append(f"--socket={self.source.socket}")
        if self.source.host:
            argv += [f"--host={self.source.host}", f"--port={self.source.port}"]
        return argv

    def _sql(self, sql: str, database: str | None = None) -> str:
        argv = ["mariadb", *self._conn(), "--batch", "--skip-column-names"]
        if database:
            argv.append(database)
        return _run(argv, self.env, stdin=sql.encode())

    def dump_argv(self) -> list[str]:
        """A consistent InnoDB dump (one snapshot, no global lock) of one database to stdout."""
        return [
            "mariadb-dump",
            *self._conn(),
            "--single-transaction",
            "--quick",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            self.source.database,
        ]

    def create_database(self, database: str) -> None:
        """Create an empty database."""
        self._sql(f"CREATE DATABASE `{_ident(database)}`")

    def drop_database(self, database: str) -> None:
        """Drop a database."""
        self._sql(f"DROP DATABASE IF EXISTS `{_ident(database)}`")

    def restore_file(self, path: Path, database: str) -> None:
        """Load a plain SQL dump (decompressed) into an existing database, client commands sandboxed."""
        argv = ["mariadb", *self._conn(), "--sandbox", "--batch", _ident(database)]
        _run(argv, self.env, stdin_file=path)

    def restore_caution(self) -> str | None:
        """Nothing to add: the client runs in --sandbox mode."""
        return None

    def table_stats(self, database: str) -> dict[str, TableStat]:
        """Rows and CHECKSUM TABLE for every base table."""
        db = _ident(database)
        tables = [
            row[0]
            for row in _rows(
                self._sql(
                    "SELECT table_name FROM information_schema.tables "
                    f"WHERE table_schema = '{db}' AND table_type = 'BASE TABLE' ORDER BY 1"
                )
            )
        ]
        stats: dict[str, TableStat] = {}
        for table in tables:
            name = f"`{db}`.`{_ident(table)}`"
            rows = int(self._sql(f"SELECT COUNT(*) FROM {name}").strip())
            checksum = _rows(self._sql(f"CHECKSUM TABLE {name} EXTENDED"))[0][1]
            stats[table] = TableStat(rows, checksum)
        return stats


def engine_for(source: PostgresSource | MariaDBSource, env: dict[str, str] | None = None) -> Engine:
    """The engine adapter for a job's source; `env` is its client programs' environment."""
    if isinstance(source, PostgresSource):
        return Postgres(source, env)
    return MariaDB(source, env)

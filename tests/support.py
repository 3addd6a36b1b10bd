"""Helpers shared by the test suites: binary and privilege requirements that skip locally, fail in CI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import NamedTuple

import pytest

REQUIRE = os.environ.get("HAKIT_REQUIRE_BINARIES") == "1"

# Which package provides a binary, for the skip message.
_PACKAGE_OF = {
    "haproxy": "haproxy",
    "keepalived": "keepalived",
    "nginx": "nginx-light",
    "ip": "iproute2",
    "wrk": "wrk",
    "dot": "graphviz",
    "mariadbd": "mariadb-server",
    "mariadb": "mariadb-client",
    "mariadb-dump": "mariadb-client",
    "mariadb-install-db": "mariadb-server",
    "pg_dump": "postgresql-client",
    "pg_restore": "postgresql-client",
    "psql": "postgresql-client",
}

_PG_BIN = "/usr/lib/postgresql/15/bin"


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (HAKIT_REQUIRE_BINARIES=1 forbids skipping)")
    pytest.skip(reason)


def which(name: str) -> str | None:
    """Find a binary on PATH, in sbin, or in PostgreSQL's versioned bin directory."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin" + os.pathsep + _PG_BIN
    return shutil.which(name, path=path)


def require_binaries(*names: str) -> dict[str, str]:
    """Return {name: path}; skip (or fail in CI) naming the package to install when one is missing."""
    found: dict[str, str] = {}
    for name in names:
        path = which(name)
        if path is None:
            package = _PACKAGE_OF.get(name, name)
            _unavailable(f"{name} not found: install it with 'sudo make system-deps' (Debian {package})")
        else:
            found[name] = path
    return found


def require_root() -> None:
    """Network namespaces need root (CAP_NET_ADMIN)."""
    if os.geteuid() != 0:
        _unavailable("needs root for network namespaces: run the lab tests with sudo")


class CliResult(NamedTuple):
    """What the `hakit` console script did: exit code and both streams (the `hakit_cli` fixture)."""

    code: int
    out: str
    err: str


HakitCli = Callable[..., CliResult]

"""Dual-primary MariaDB pairs for bare metal (the inventory `databases:` section).

Both nodes accept writes; GTID replication runs both ways. Writes go through one VIP that keepalived keeps
on one healthy node at a time, so clients write to one primary while the other is a hot, writable standby.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from decimal import Decimal
from ipaddress import IPv4Interface
from typing import Annotated, Literal

from pydantic import Field

from hakit.spec.backup import AbsPath
from hakit.spec.base import DurationMs, IfName, Name, Port, Problem, SpecModel
from hakit.spec.hosts import Host

ServerId = Annotated[int, Field(ge=1, le=4294967295)]
# Server options passed through to [mariadbd]: names as mariadbd spells them, plain values.
_OPTION_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,63}$")
_OPTION_VALUE = re.compile(r"^[A-Za-z0-9_./:,+-]{1,200}$")
# Everything the pair's option file sets (plus the aliases and switches that change the same settings):
# a site option reaching one of them could break replication safety (e.g. two nodes with one server_id).
MANAGED_OPTIONS = frozenset(
    {
        "user",
        "datadir",
        "socket",
        "pid-file",
        "port",
        "bind-address",
        "networking",  # skip-networking: the VIP and replication need TCP
        "log-error",
        "skip-name-resolve",
        "server-id",
        "gtid-domain-id",
        "auto-increment-increment",
        "auto-increment-offset",
        "log-bin",
        "log-bin-index",
        "binlog-format",
        "log-slave-updates",
        "sync-binlog",
        "innodb-flush-log-at-trx-commit",
        "binlog-expire-logs-seconds",
        "expire-logs-days",  # the same setting in days: the later one wins
        "relay-log",
        "relay-log-index",
        "relay-log-recovery",
        "slave-net-timeout",
    }
)
# mariadbd's option parser (my_getopt) reads `loose-X`, `skip-X`, `disable-X`, `enable-X`, `maximum-X` and
# `autoset-X` as option X, treats `-` and `_` alike, and takes an unambiguous prefix of a name as that name.
_OPTION_PREFIXES = ("loose-", "skip-", "disable-", "enable-", "maximum-", "autoset-")
# Real mariadbd 10.11 options that are a proper prefix of a managed name (found with `mariadbd --verbose
# --help`): an exact name wins over an abbreviation, so these do not reach the managed option.
_EXACT_NOT_MANAGED = frozenset({"innodb"})


def managed_target(name: str) -> str | None:
    """The managed option that mariadbd would set for a site option called `name`, or None."""
    spelled = name.lower().replace("_", "-")
    candidates = [spelled]
    while True:
        prefix = next((p for p in _OPTION_PREFIXES if candidates[-1].startswith(p)), None)
        if prefix is None:
            break
        candidates.append(candidates[-1][len(prefix) :])
    for candidate in candidates:
        if not candidate or candidate in _EXACT_NOT_MANAGED:
            continue
        if candidate in MANAGED_OPTIONS:
            return candidate
        # An abbreviation: mariadbd expands a prefix of an option name to that option.
        expanded = sorted(m for m in MANAGED_OPTIONS if m.startswith(candidate))
        if expanded:
            return expanded[0]
    return None


class MariaDBNode(SpecModel):
    """One node of the pair; the key in `nodes` is the inventory host name."""

    server_id: ServerId = Field(description="unique in the replication topology")
    gtid_domain_id: int = Field(
        ge=0, le=4294967295, description="distinct per node: each primary owns a domain"
    )
    port: Port = 3306
    priority: int = Field(default=100, ge=1, le=254, description="keepalived priority for the write VIP")


class WriteVip(SpecModel):
    """The address clients write to; keepalived holds it on one node whose MariaDB passes the check."""

    interface: IfName
    address: IPv4Interface = Field(
        description="VIP with the prefix of the interface subnet, e.g. 10.0.0.10/24"
    )
    vrid: int = Field(ge=1, le=255)
    advert_int: Decimal = Field(default=Decimal(1), ge=Decimal("0.01"), le=Decimal(255))
    check_interval: DurationMs = Field(default=1000, ge=1000, description="keepalived runs scripts each N s")
    check_timeout: DurationMs = Field(default=2000, ge=1000)
    fall: int = Field(default=2, ge=1, le=255)
    rise: int = Field(default=2, ge=1, le=255)


class DatabasePair(SpecModel):
    """Two MariaDB primaries replicating to each other with GTIDs, plus an optional write VIP."""

    engine: Literal["mariadb"] = "mariadb"
    nodes: dict[Name, MariaDBNode] = Field(description="exactly two: inventory host name -> node settings")
    interface: IfName | None = Field(
        default=None, description="host interface whose address carries replication (default: the first)"
    )
    replication_user: str = Field(default="repl", pattern=r"^[A-Za-z0-9_]{1,32}$")
    replication_from: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.%:_-]{1,60}$",
        description="host part of the replication account (default: the peer's address)",
    )
    credentials_file: AbsPath | None = Field(
        default=None,
        description="0600 file with `password=...` for the replication account; never rendered "
        "(default /etc/hakit/mariadb/<pair>.credentials)",
    )
    datadir: AbsPath = "/var/lib/mysql"
    run_dir: AbsPath = "/run/mysqld"
    log_dir: AbsPath = "/var/log/mysql"
    binlog_expire_days: int = Field(default=7, ge=1, le=99)
    slave_net_timeout: int = Field(
        default=10, ge=2, le=3600, description="seconds before a silent peer is redialled"
    )
    options: dict[str, str | int] = Field(
        default_factory=dict, description="extra [mariadbd] options, e.g. innodb_buffer_pool_size: 8G"
    )
    write_vip: WriteVip | None = None

    def rules(self) -> Iterator[Problem]:
        """Two nodes, distinct ids and domains, and no option that overrides what the pair manages."""
        if len(self.nodes) != 2:
            yield Problem(("nodes",), f"a dual-primary pair has exactly 2 nodes, not {len(self.nodes)}")
        ports = {node.port for node in self.nodes.values()}
        if self.write_vip is not None and len(ports) > 1:
            yield Problem(
                ("write_vip",),
                f"the nodes listen on different ports ({', '.join(map(str, sorted(ports)))}): clients of "
                "the VIP would reach a different port after a failover",
            )
        for field in ("server_id", "gtid_domain_id"):
            seen: dict[int, str] = {}
            for host, node in self.nodes.items():
                value = getattr(node, field)
                if value in seen:
                    yield Problem(("nodes", host, field), f"{value} is also used by {seen[value]}")
                seen[value] = host
        for name, value in self.options.items():
            target = managed_target(name)
            if not _OPTION_NAME.fullmatch(name):
                yield Problem(("options", name), "not a mariadbd option name")
            elif target is not None:
                # Prefixes (loose-, skip-, disable-...) and abbreviations reach the same option.
                yield Problem(
                    ("options", name),
                    f"managed by hakit for the pair (mariadbd reads it as {target!r}); "
                    "set the pair's field instead",
                )
            if not _OPTION_VALUE.fullmatch(str(value)):
                yield Problem(("options", name), f"value {value!r} has characters an option file cannot hold")

    def credentials_path(self, pair_name: str) -> str:
        """Where the bootstrap script reads the replication password."""
        return self.credentials_file or f"/etc/hakit/mariadb/{pair_name}.credentials"


Databases = dict[Name, DatabasePair]


def replication_address(host: Host, interface: str | None) -> str | None:
    """The address a node's peer connects to: the named interface's, else the host's first."""
    if interface is None:
        return host.primary_address()
    spec = host.interfaces.get(interface)
    if spec is None:
        return None
    chosen = spec.address or spec.address6
    return str(chosen.ip) if chosen is not None else None


def database_rules(
    databases: Databases, hosts: Mapping[str, Host], load_balancer_nodes: Collection[str]
) -> Iterator[Problem]:
    """Inventory-level rules: known hosts, one pair per host, interfaces and VIP subnets that exist."""
    owner: dict[str, str] = {}
    for pair_name, pair in databases.items():
        base = ("databases", pair_name)
        for node in pair.nodes:
            if node not in hosts:
                yield Problem((*base, "nodes", node), f"unknown host {node!r} (define it under hosts)")
                continue
            if node in owner:
                yield Problem(
                    (*base, "nodes", node), f"host {node!r} is already a node of pair {owner[node]!r}"
                )
            owner[node] = pair_name
            if pair.interface is not None and pair.interface not in hosts[node].interfaces:
                yield Problem((*base, "interface"), f"host {node!r} has no interface {pair.interface!r}")
            vip = pair.write_vip
            if vip is None:
                continue
            if node in load_balancer_nodes:
                yield Problem(
                    (*base, "write_vip"),
                    f"host {node!r} is a load-balancer node: its keepalived.conf belongs to that cluster",
                )
            own = hosts[node].interfaces.get(vip.interface)
            if own is None or own.address is None:
                yield Problem(
                    (*base, "write_vip", "interface"), f"host {node!r} has no IPv4 on {vip.interface!r}"
                )
            elif vip.address.ip not in own.address.network:
                yield Problem(
                    (*base, "write_vip", "address"),
                    f"{vip.address.ip} is outside {node}.{vip.interface}'s subnet {own.address.network}",
                )
            elif vip.address.ip == own.address.ip:
                yield Problem(
                    (*base, "write_vip", "address"), f"{vip.address.ip} is the address of host {node!r}"
                )

"""What a lab runs: the hosts, their addresses and the config files, independent of how they were produced."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hakit.lab.load import LoadConfig
from hakit.lab.netns import LabHost, LabInterface

ProxyKind = Literal["haproxy", "nginx"]


@dataclass(frozen=True)
class LabFile:
    """A config file to write under a host's root (path relative to that root)."""

    relpath: str
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class NodePlan:
    """An LB node: VRRP priority, interfaces, and where its rendered configs live (relative to its root)."""

    name: str
    priority: int
    interfaces: tuple[LabInterface, ...]
    keepalived_conf: str
    proxy_conf: str
    files: tuple[LabFile, ...] = ()


@dataclass(frozen=True)
class BackendPlan:
    """A backend server of the proxy layer, run by the lab's stdlib backend."""

    name: str
    address: str
    port: int
    segment: str
    prefix_len: int = 24
    backup: bool = False
    health_path: str = "/health"
    pool: str = ""
    """The inventory backend (pool) the server belongs to."""
    host: str = ""
    """The backend namespace it runs in (default: its own); servers sharing an address share one."""

    @property
    def host_name(self) -> str:
        """Host (namespace suffix) this server runs in."""
        return backend_host(self.host or self.name)


@dataclass(frozen=True)
class RateLimitPlan:
    """A rate-limited frontend: where to reach it and its limit (rate + burst, the inventory's meaning)."""

    frontend: str
    port: int
    requests: int
    period_ms: int
    burst: int = 0
    tls: bool = False

    @property
    def per_s(self) -> float:
        """The sustained rate per client address."""
        return self.requests * 1000 / self.period_ms

    @property
    def capacity(self) -> int:
        """Requests a quiet client may send at once."""
        return self.requests + self.burst


@dataclass(frozen=True)
class LabPlan:
    """One inventory cluster, flattened into what the lab needs to start and to drill it."""

    cluster: str
    proxy: ProxyKind
    vip: str
    port: int
    advert_int: float
    nopreempt: bool
    proxy_backend: str
    nodes: tuple[NodePlan, ...]
    backends: tuple[BackendPlan, ...]
    client_addresses: tuple[str, ...]
    client_segment: str
    health_path: str = "/health"
    client_deadline_ms: float = 1000.0
    rate_limit_port: int | None = None
    rate_limit_per_s: float | None = None
    circuit_breaker: bool = False
    frontend: str = ""
    ca_file: str | None = None
    """TLS: the drill frontend is reached over TLS and the client trusts this (throwaway) certificate."""
    load_sources: tuple[str, ...] = ()
    """Client addresses the drill load is spread over (several when the drill frontend has a rate limit)."""
    source_rate: float | None = None
    """Most requests per second one client address may send to the drill frontend (half its limit)."""
    rate_limits: tuple[RateLimitPlan, ...] = ()
    server_return_s: float = 0.0
    """How long the proxy may keep a recovered server out (nginx: the breaker's fail_timeout)."""
    certificate: str | None = None
    """The lab's throwaway certificate (every TLS frontend presents it), for clients to trust."""
    replay_window_s: float = 2.0
    """How long after a request the proxy may still resend it (retries x (connect + server timeout))."""
    probe_sources: tuple[str, ...] = ()
    """Addresses of their own for the rate-limit drills (a quiet client each: no state from other load)."""

    def load_config(self, **overrides: object) -> LoadConfig:
        """The drill load through the VIP: TLS when the frontend speaks it, below any per-client limit."""
        config = LoadConfig(
            host=self.vip,
            port=self.port,
            deadline_ms=self.client_deadline_ms,
            max_seconds=30.0,
            source=",".join(self.load_sources) or None,
            ca_file=self.ca_file,
            # A TLS handshake costs a few ms more than a TCP one on a busy machine.
            connect_timeout_ms=300.0 if self.ca_file else 100.0,
        )
        if self.source_rate is not None:
            # One keep-alive connection on the first address at the per-address rate, new connections
            # in turn over the others, each address below half of its limit.
            spread = max(1, len(self.load_sources) - 1)
            config = dataclasses.replace(
                config,
                keepalive_interval_ms=1000.0 / self.source_rate,
                new_interval_ms=max(10.0, 1000.0 / (self.source_rate * spread)),
            )
        return dataclasses.replace(config, **overrides)  # type: ignore[arg-type]

    def backend(self, name: str) -> BackendPlan:
        """Look a backend server up by name."""
        return next(b for b in self.backends if b.name == name)

    def pool(self) -> list[BackendPlan]:
        """The servers of the drilled backend (the drilled frontend's default pool)."""
        return [b for b in self.backends if b.pool in (self.proxy_backend, "")]

    @property
    def segments(self) -> list[str]:
        """Every L2 segment, in first-seen order."""
        seen: list[str] = []
        for node in self.nodes:
            for iface in node.interfaces:
                if iface.segment not in seen:
                    seen.append(iface.segment)
        for backend in self.backends:
            if backend.segment not in seen:
                seen.append(backend.segment)
        if self.client_segment not in seen:
            seen.append(self.client_segment)
        return seen

    @property
    def master(self) -> NodePlan:
        """The node with the highest priority (the one that should hold the VIP)."""
        return max(self.nodes, key=lambda n: n.priority)

    @property
    def standby(self) -> NodePlan:
        """The highest-priority node other than the master."""
        return max((n for n in self.nodes if n is not self.master), key=lambda n: n.priority)

    def node(self, name: str) -> NodePlan:
        """Look a node up by name."""
        return next(n for n in self.nodes if n.name == name)

    def skew(self, node: NodePlan) -> float:
        """VRRPv3 Skew_Time of a node: ((256 - priority) * advert_int) / 256 (RFC 5798)."""
        return (256 - node.priority) * self.advert_int / 256

    def crash_limit(self) -> float:
        """Protocol bound for a master crash: Master_Down_Interval of the standby (3 x advert + skew)."""
        return 3 * self.advert_int + self.skew(self.standby)

    def clean_stop_limit(self) -> float:
        """Protocol bound for a clean stop: the standby acts on the priority-0 advert within one advert."""
        return self.advert_int

    def hosts(self) -> dict[str, LabHost]:
        """Namespaces to create: LB nodes, one per backend, one client."""
        hosts: dict[str, LabHost] = {}
        for node in self.nodes:
            hosts[lb_host(node.name)] = LabHost(lb_host(node.name), "lb", node.interfaces)
        for backend in self.backends:
            if backend.host_name in hosts:
                continue  # another port of a server already placed
            iface = LabInterface("eth0", backend.segment, (f"{backend.address}/{backend.prefix_len}",))
            hosts[backend.host_name] = LabHost(backend.host_name, "backend", (iface,))
        hosts["client"] = LabHost(
            "client", "client", (LabInterface("eth0", self.client_segment, self.client_addresses),)
        )
        return hosts


def root_of(workdir: Path, host: str) -> Path:
    """The directory standing for `/` of a host: rendered absolute paths are prefixed with it."""
    return workdir / "hosts" / host


def lb_host(node: str) -> str:
    """Host (namespace suffix) of an LB node."""
    return f"lb-{node}"


def backend_host(backend: str) -> str:
    """Host (namespace suffix) of a backend server."""
    return f"be-{backend}"

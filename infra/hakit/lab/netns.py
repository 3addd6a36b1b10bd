"""Network-namespace topology: one bridge namespace, one namespace per host, veth links named as configured.

Each L2 segment is a bridge (`br0`, `br1`, ...) inside the bridge namespace; every host interface is one end
of a veth pair whose other end is a port of that bridge. Addresses exist only inside the lab's namespaces.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
from dataclasses import dataclass, field

from hakit.errors import HakitError
from hakit.lab.procs import ProcRecord, proc_start_time, stop_records
from hakit.render.sandbox import require_binary

MAX_IFNAME = 15


@dataclass(frozen=True)
class LabInterface:
    """One interface of a lab host: its name inside the host namespace, segment, and addresses (CIDR)."""

    name: str
    segment: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabHost:
    """One namespace: an LB node, a backend or a client."""

    name: str
    role: str
    interfaces: tuple[LabInterface, ...]


@dataclass
class Topology:
    """The namespaces of one lab run and the bridge ports that link them."""

    prefix: str
    hosts: dict[str, LabHost]
    segments: list[str]
    # host name -> interface name -> bridge-side veth name
    ports: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def bridge_ns(self) -> str:
        """Name of the namespace holding the bridges."""
        return f"{self.prefix}-br"

    def ns(self, host: str) -> str:
        """Name of a host's namespace."""
        return f"{self.prefix}-{host}"

    def namespaces(self) -> list[str]:
        """Every namespace of the lab, bridge first."""
        return [self.bridge_ns, *(self.ns(h) for h in self.hosts)]


def new_prefix() -> str:
    """A unique per-run namespace prefix."""
    return f"hk{secrets.token_hex(3)}"


def run_ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Run `ip [-n NS] ARGS`; raise a HakitError naming the command when it fails."""
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise HakitError(f"lab: `{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc.stdout


def existing_namespaces() -> set[str]:
    """Names of the network namespaces that exist now."""
    out = run_ip("-j", "netns", "list", check=False).strip()
    if not out:
        return set()
    return {entry["name"] for entry in json.loads(out)}


def build(topology: Topology) -> None:
    """Create the namespaces, bridges and veth links; on any error remove what was made and re-raise."""
    try:
        _build(topology)
    except BaseException:
        destroy(topology.namespaces())
        raise


def _build(topology: Topology) -> None:
    for host in topology.hosts.values():
        for iface in host.interfaces:
            if len(iface.name) > MAX_IFNAME:
                raise HakitError(
                    f"lab: interface name {iface.name!r} of {host.name} is longer than 15 characters"
                )
    bridge = topology.bridge_ns
    run_ip("netns", "add", bridge)
    run_ip("link", "set", "lo", "up", netns=bridge)
    for index, _segment in enumerate(topology.segments):
        run_ip("link", "add", f"br{index}", "type", "bridge", netns=bridge)
        # No STP and no forwarding delay: ports forward as soon as they are up.
        run_ip(
            "link",
            "set",
            f"br{index}",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            netns=bridge,
        )
        run_ip("link", "set", f"br{index}", "up", netns=bridge)
    port = 0
    for host in topology.hosts.values():
        ns = topology.ns(host.name)
        run_ip("netns", "add", ns)
        run_ip("link", "set", "lo", "up", netns=ns)
        topology.ports[host.name] = {}
        for iface in host.interfaces:
            bridge_port = f"p{port}"
            port += 1
            run_ip(
                "link",
                "add",
                bridge_port,
                "type",
                "veth",
                "peer",
                "name",
                iface.name,
                "netns",
                ns,
                netns=bridge,
            )
            segment = topology.segments.index(iface.segment)
            run_ip("link", "set", bridge_port, "master", f"br{segment}", "up", netns=bridge)
            for address in iface.addresses:
                run_ip("addr", "add", address, "dev", iface.name, netns=ns)
            run_ip("link", "set", iface.name, "up", netns=ns)
            topology.ports[host.name][iface.name] = bridge_port


def set_sysctl(ns: str, key: str, value: str) -> None:
    """Set a sysctl inside a namespace (net.* keys are per namespace)."""
    # By absolute path: `ip netns exec` looks it up on PATH, and cron's PATH (/usr/bin:/bin) has no sbin.
    run_ip("netns", "exec", ns, require_binary("sysctl"), "-q", "-w", f"{key}={value}")


def link_down(topology: Topology, host: str) -> None:
    """Cut a host off the network: its bridge ports go down (as a pulled cable or a dead NIC would)."""
    for bridge_port in topology.ports.get(host, {}).values():
        run_ip("link", "set", bridge_port, "down", netns=topology.bridge_ns)


def link_up(topology: Topology, host: str) -> None:
    """Plug a host back in."""
    for bridge_port in topology.ports.get(host, {}).values():
        run_ip("link", "set", bridge_port, "up", netns=topology.bridge_ns)


def namespace_processes(ns: str) -> list[ProcRecord]:
    """The processes living in a namespace (`ip netns pids`), as records stopped by PID and start time."""
    records = []
    for word in run_ip("netns", "pids", ns, check=False).split():
        if word.isdigit() and (start := proc_start_time(int(word))) is not None:
            records.append(ProcRecord(f"{ns}-{word}", int(word), start, ns))
    return records


def destroy(namespaces: list[str]) -> None:
    """Delete the given namespaces (their veth ends go with them); missing ones are ignored.

    Whatever still runs inside them is ended first: the namespaces are the lab's own, so are their
    processes (e.g. sshd sessions of a deploy, which would otherwise wait forever on a link that is gone).
    """
    present = existing_namespaces()
    mine = [ns for ns in namespaces if ns in present]
    stop_records([record for ns in mine for record in namespace_processes(ns)])
    for ns in mine:
        with contextlib.suppress(HakitError):
            run_ip("netns", "del", ns)


def addresses(ns: str) -> dict[str, list[str]]:
    """Interface name -> IPv4 addresses (without prefix length) inside a namespace."""
    out = run_ip("-j", "-4", "addr", "show", netns=ns, check=False).strip()
    result: dict[str, list[str]] = {}
    for link in json.loads(out) if out else []:
        result[link["ifname"]] = [a["local"] for a in link.get("addr_info", [])]
    return result

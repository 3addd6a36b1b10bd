"""The bare-metal inventory: hosts defined once, sections that refer to them by name.

Extending it: add an optional section field to `Inventory` whose models refer to hosts by name, and
add its cross-section checks to `Inventory.rules` (host references are checked by `_host_refs`).
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Interface, IPv6Interface, ip_network
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from hakit.spec.backup import Backups, backup_rules
from hakit.spec.base import Name, Problem, SpecModel
from hakit.spec.hosts import Host
from hakit.spec.loadbalancer import LoadBalancer
from hakit.spec.loader import load_model
from hakit.spec.mariadb import Databases, database_rules


class Inventory(SpecModel):
    """Top level of `inventory.yaml`; top-level `x-*` keys are ignored (YAML anchors live there)."""

    model_config = ConfigDict(json_schema_extra={"patternProperties": {"^x-": {}}})

    @model_validator(mode="before")
    @classmethod
    def _drop_extension_keys(cls, data: Any) -> Any:
        """`x-defaults: &anchor {...}` holds shared YAML fragments, as in docker-compose files."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if not str(key).startswith("x-")}
        return data

    version: Literal[1] = 1
    hosts: dict[Name, Host] = Field(min_length=1)
    load_balancers: dict[Name, LoadBalancer] = Field(
        default_factory=dict, description="keepalived + HAProxy/nginx clusters"
    )
    backups: Backups = Field(default_factory=dict, description="database dumps to S3 on systemd timers")
    databases: Databases = Field(default_factory=dict, description="dual-primary MariaDB pairs")

    def rules(self) -> Iterator[Problem]:
        """Cross-section rules: host references, interfaces, VIP subnets, VRID per segment."""
        yield from self._unique_addresses()
        owner: dict[str, str] = {}
        for cluster_name, cluster in self.load_balancers.items():
            base = ("load_balancers", cluster_name)
            for node in cluster.nodes:
                if node not in self.hosts:
                    yield Problem((*base, "nodes", node), f"unknown host {node!r} (define it under hosts)")
                elif node in owner:
                    yield Problem(
                        (*base, "nodes", node),
                        f"host {node!r} is already a node of load balancer {owner[node]!r}",
                    )
                else:
                    owner[node] = cluster_name
            if all(node in self.hosts for node in cluster.nodes):
                yield from self._interface_rules(cluster_name, cluster)
        yield from self._vrid_rules()
        yield from backup_rules(self.backups, self.hosts)
        yield from database_rules(self.databases, self.hosts, owner)

    def _unique_addresses(self) -> Iterator[Problem]:
        seen: dict[str, str] = {}
        for host_name, host in self.hosts.items():
            for if_name, interface in host.interfaces.items():
                for field, value in (("address", interface.address), ("address6", interface.address6)):
                    if value is None:
                        continue
                    ip = str(value.ip)
                    if ip in seen:
                        yield Problem(
                            ("hosts", host_name, "interfaces", if_name, field),
                            f"{ip} is already used by {seen[ip]}",
                        )
                    seen.setdefault(ip, f"{host_name}.{if_name}")

    def _interface_rules(self, cluster_name: str, cluster: LoadBalancer) -> Iterator[Problem]:
        for name, spec in cluster.vrrp.instances.items():
            loc = ("load_balancers", cluster_name, "vrrp", "instances", name)
            family = spec.family()
            for node in cluster.nodes:
                interface = self.hosts[node].interfaces.get(spec.interface)
                if interface is None:
                    yield Problem((*loc, "interface"), f"host {node!r} has no interface {spec.interface!r}")
                    continue
                own: IPv4Interface | IPv6Interface | None = (
                    interface.address if family == 4 else interface.address6
                )
                if own is None:
                    field = "address" if family == 4 else "address6"
                    yield Problem(
                        (*loc, "vips"),
                        f"IPv{family} VIPs need an IPv{family} {field} on {node}.{spec.interface}",
                    )
                    continue
                for position, vip in enumerate(spec.vips):
                    if vip.ip not in own.network:
                        yield Problem(
                            (*loc, "vips", position),
                            f"{vip.ip} is outside {node}.{spec.interface}'s subnet {own.network} "
                            "(move it to routed_vips if it is routed to the nodes)",
                        )
                    if vip.ip == own.ip:
                        yield Problem((*loc, "vips", position), f"{vip.ip} is the address of host {node!r}")
                for position, track in enumerate(spec.track_interfaces):
                    if track not in self.hosts[node].interfaces:
                        yield Problem(
                            (*loc, "track_interfaces", position), f"host {node!r} has no interface {track!r}"
                        )

    def segment_of(self, node: str, interface: str, family: int) -> str | None:
        """The L2 segment (subnet) that `node`'s `interface` sits on for an address family."""
        spec = self.hosts[node].interfaces.get(interface)
        if spec is None:
            return None
        own = spec.address if family == 4 else spec.address6
        return str(own.network) if own is not None else None

    def _vrid_rules(self) -> Iterator[Problem]:
        """A VRID may appear once per segment and family: two routers with one VRID fight over the VIPs."""
        seen: dict[tuple[str, int, int], str] = {}
        for cluster_name, cluster in self.load_balancers.items():
            if not all(node in self.hosts for node in cluster.nodes):
                continue
            for name, spec in cluster.vrrp.instances.items():
                segments = {
                    segment
                    for node in cluster.nodes
                    if (segment := self.segment_of(node, spec.interface, spec.family())) is not None
                }
                for segment in sorted(segments, key=lambda text: ip_network(text)):
                    key = (segment, spec.family(), spec.vrid)
                    if key in seen:
                        yield Problem(
                            ("load_balancers", cluster_name, "vrrp", "instances", name, "vrid"),
                            f"VRID {spec.vrid} is already used on segment {segment} by {seen[key]}",
                        )
                        break
                    seen[key] = f"{cluster_name}.{name}"

    def hosts_of(self, cluster_name: str) -> list[str]:
        """The node host names of a load-balancer cluster, in inventory order."""
        return list(self.load_balancers[cluster_name].nodes)


def load_inventory(path: str | Path) -> Inventory:
    """Load and validate an inventory file; problems raise `SpecError` (exit 2) with FILE:LINE lines."""
    return load_model(path, Inventory)

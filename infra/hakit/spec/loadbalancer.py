"""A load-balancer cluster: 2+ nodes sharing VIPs through VRRP, each running the same proxy."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Literal

from pydantic import Field

from hakit.spec.base import AddressKey, Problem, SpecModel, address_key, parse_ip
from hakit.spec.proxy import Proxy
from hakit.spec.vrrp import Priority, Vrrp


class Node(SpecModel):
    """A host's role in a cluster: its VRRP priority (highest is the master) and optional initial state."""

    priority: Priority
    state: Literal["MASTER", "BACKUP"] | None = Field(
        default=None, description="initial state; default: MASTER for the highest priority unless nopreempt"
    )


class LoadBalancer(SpecModel):
    """VIPs (keepalived) in front of a proxy (HAProxy or nginx) on every node."""

    nodes: dict[str, Node] = Field(
        min_length=2, description="host name -> role; hosts are defined in `hosts`"
    )
    vrrp: Vrrp
    proxy: Proxy

    def priorities(self, instance: str) -> dict[str, int]:
        """The effective priority of every node in `instance` (instance override, else the node's)."""
        overrides = self.vrrp.instances[instance].priorities
        return {node: overrides.get(node, role.priority) for node, role in self.nodes.items()}

    def priority(self, instance: str, node: str) -> int:
        """The effective priority of `node` in `instance`."""
        return self.priorities(instance)[node]

    def master_of(self, instance: str) -> str:
        """The node that holds the VIPs of `instance` when every node is healthy."""
        ranks = self.priorities(instance)
        return max(ranks, key=ranks.__getitem__)

    def initial_state(self, instance: str, node: str) -> str:
        """MASTER for the expected master unless preemption is restricted (keepalived needs BACKUP then)."""
        explicit = self.nodes[node].state
        if explicit is not None:
            return explicit
        spec = self.vrrp.instances[instance]
        if spec.nopreempt or spec.preempt_delay:
            return "BACKUP"
        return "MASTER" if node == self.master_of(instance) else "BACKUP"

    def vip_addresses(self) -> set[str]:
        """Every VIP of the cluster, without prefix."""
        return {str(vip.ip) for spec in self.vrrp.instances.values() for vip in spec.all_vips()}

    def rules(self) -> Iterator[Problem]:
        """One clear master per instance, coherent states, tracking weight, frontends on cluster VIPs."""
        for name, spec in self.vrrp.instances.items():
            unknown = [node for node in spec.priorities if node not in self.nodes]
            for node in unknown:
                yield Problem(
                    ("vrrp", "instances", name, "priorities", node), f"{node!r} is not a node of this cluster"
                )
            if not unknown:
                yield from self._priority_rules(name)
        if any(role.state == "MASTER" for role in self.nodes.values()):
            yield from self._state_rules()
        vips = {address_key(vip) for spec in self.vrrp.instances.values() for vip in spec.all_vips()}
        for name, frontend in self.proxy.frontends.items():
            for position, address in enumerate(frontend.addresses):
                if address not in ("*", "::") and _address_key(address) not in vips:
                    yield Problem(
                        ("proxy", "frontends", name, "addresses", position),
                        f"{address} is not a VIP of this cluster "
                        f"(VIPs: {', '.join(sorted(self.vip_addresses()))})",
                    )

    def _priority_rules(self, name: str) -> Iterator[Problem]:
        overrides = self.vrrp.instances[name].priorities
        # Highest first; `sorted` is stable, so equal priorities keep node order.
        ranked = sorted(((value, node) for node, value in self.priorities(name).items()), key=lambda e: -e[0])
        by_priority: dict[int, str] = {}
        for value, node in ranked:
            if value in by_priority:
                loc: tuple[str | int, ...] = (
                    ("vrrp", "instances", name, "priorities", node)
                    if node in overrides
                    else ("nodes", node, "priority")
                )
                yield Problem(
                    loc,
                    f"priority {value} of {node!r} equals {by_priority[value]!r} in instance {name!r}: "
                    "priorities must be distinct so that one node is clearly the master",
                )
            by_priority.setdefault(value, node)
        weight = self.vrrp.track_proxy.weight
        if self.vrrp.track_proxy.enabled and weight < 0 and len(ranked) > 1:
            (top, master), (second, _) = ranked[0], ranked[1]
            if top + weight >= second:
                yield Problem(
                    ("vrrp", "track_proxy", "weight"),
                    f"a failing proxy on {master!r} lowers priority {top} to {top + weight}, "
                    f"not below {second}: the VIPs of {name!r} would not move",
                )

    def _state_rules(self) -> Iterator[Problem]:
        for node, role in self.nodes.items():
            if role.state != "MASTER":
                continue
            for name, spec in self.vrrp.instances.items():
                if spec.nopreempt or spec.preempt_delay:
                    yield Problem(
                        ("nodes", node, "state"),
                        f"instance {name!r} uses nopreempt/preempt_delay, which need initial state BACKUP",
                    )
                elif self.master_of(name) != node:
                    yield Problem(
                        ("nodes", node, "state"),
                        f"{node!r} is not the highest priority in {name!r}: it cannot start as MASTER",
                    )


@lru_cache(maxsize=1 << 16)
def _address_key(address: str) -> AddressKey | None:
    """The `AddressKey` of an IP address text ('fd00:0::1' and 'fd00::1' alike); None for other text."""
    try:
        return address_key(parse_ip(address))
    except ValueError:
        return None

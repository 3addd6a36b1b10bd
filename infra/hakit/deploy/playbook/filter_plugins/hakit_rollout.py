"""Rollout order and VIP-holder rules for the hakit deploy playbook (stdlib only: runs inside Ansible).

`hakit.deploy.order` re-exports these functions; the playbook uses them as Jinja filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def rollout_order(priorities: Mapping[str, int], holders: Sequence[str]) -> list[str]:
    """Nodes in push order: non-holders by ascending VRRP priority (BACKUPs first), VIP holders last."""
    held = set(holders)
    rank = {name: position for position, name in enumerate(priorities)}
    backups = sorted((n for n in priorities if n not in held), key=lambda n: (priorities[n], rank[n]))
    last = sorted((n for n in priorities if n in held), key=lambda n: (priorities[n], rank[n]))
    return backups + last


def holder_problems(
    cluster: str,
    holds: Mapping[str, Mapping[str, bool]],
    instances: Sequence[str],
    keepalived_running: Mapping[str, bool] | None = None,
) -> list[str]:
    """One line per VRRP instance that does not have exactly one holder among the cluster's nodes.

    No holder is accepted only when keepalived runs on none of the nodes (a first install: the push
    starts it); keepalived running somewhere without a holder is a broken cluster.
    """
    problems = []
    running = sorted(node for node, up in (keepalived_running or {}).items() if up)
    fresh = keepalived_running is not None and not running
    for instance in instances:
        holding = sorted(node for node, held in holds.items() if held.get(instance))
        if not holding and not fresh:
            where = f"keepalived runs on {', '.join(running)}" if running else "is keepalived running?"
            problems.append(f"{cluster}: VRRP instance {instance}: no node holds its VIP ({where})")
        elif len(holding) > 1:
            problems.append(
                f"{cluster}: VRRP instance {instance}: {len(holding)} nodes hold its VIP "
                f"({', '.join(holding)}): split brain, refusing to push"
            )
    return problems


def hakit_vip_problems(
    hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]], fact: str
) -> list[str]:
    """`holder_problems` over every hakit cluster group, from each node's `fact` (pre-flight)."""
    problems: list[str] = []
    for group in sorted(groups):
        if not group.startswith(("hakit_lb_", "hakit_db_")):
            continue
        nodes = list(groups[group])
        if not nodes:
            continue
        first = hostvars[nodes[0]]
        instances = list(first.get("hakit_vrrp", {}))
        facts = {node: hostvars[node].get(fact, {}) for node in nodes}
        holds = {node: dict(facts[node].get("holds", {})) for node in nodes}
        running = {node: bool(facts[node].get("running", {}).get("keepalived", True)) for node in nodes}
        problems += holder_problems(str(first.get("hakit_cluster", group)), holds, instances, running)
    return problems


def hakit_fresh(hostvars: Mapping[str, Any], nodes: Sequence[str], fact: str) -> bool:
    """A cluster with VIPs that nobody holds (pre-flight let it through: keepalived runs nowhere)."""
    if not nodes or not hostvars[nodes[0]].get("hakit_vrrp"):
        return False
    return not any(any(hostvars[n].get(fact, {}).get("holds", {}).values()) for n in nodes)


def hakit_push_plays(
    hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]], fact: str, targets: Sequence[str]
) -> list[dict[str, str]]:
    """Each node's rollout play (hakit_fresh / hakit_first / hakit_last / hakit_skip), in push order.

    A cluster group lists its nodes by ascending priority (`hakit deploy`'s inventory): BACKUPs first,
    and a fresh pair reversed (the node meant to hold the VIP takes it once, the others join as BACKUPs).
    The playbook adds the hosts to their play's group in this order, once: `group_by` ran per host and
    grouped them in the order their results came back, which reversed a fresh pair under load.
    """
    wanted = set(targets)
    plays: list[dict[str, str]] = []
    for group in sorted(groups):
        if not group.startswith(("hakit_lb_", "hakit_db_", "hakit_hosts")):
            continue
        nodes = list(groups[group])
        fresh = hakit_fresh(hostvars, nodes, fact)
        for node in reversed(nodes) if fresh else nodes:
            if node not in wanted:
                play = "hakit_skip"
            elif any(hostvars[node].get(fact, {}).get("holds", {}).values()):
                play = "hakit_last"
            else:
                play = "hakit_fresh" if fresh else "hakit_first"
            plays.append({"host": node, "play": play})
    return plays


def hakit_holders(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Hosts that hold any VIP, from the looped `holds` step results (item = the host asked)."""
    return sorted(str(r["item"]) for r in results if any(r.get("holds", {}).values()))


class FilterModule:
    """Jinja filters of the hakit deploy playbook."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {
            "hakit_vip_problems": hakit_vip_problems,
            "hakit_holders": hakit_holders,
            "hakit_push_plays": hakit_push_plays,
        }

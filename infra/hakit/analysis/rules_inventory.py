"""The same rules on bare-metal inventories, where they apply (plus a few that only exist there)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

# The cloud rules must exist first: several inventory checks attach to them.
from hakit.analysis import rules_ha, rules_security  # noqa: F401
from hakit.analysis.model import Severity, inventory_rule

if TYPE_CHECKING:
    from hakit.spec.inventory import Inventory

Hit = Iterator[tuple[str, str]]


@inventory_rule("HA003")
def single_lb_node(inventory: Inventory) -> Hit:
    """A load-balancer cluster with one node has no standby for its VIPs."""
    for name, cluster in inventory.load_balancers.items():
        if len(cluster.nodes) < 2:
            yield (
                f"load_balancers.{name}.nodes",
                f"load balancer {name} has {len(cluster.nodes)} node(s): no standby",
            )


@inventory_rule("HA007")
def equal_priorities(inventory: Inventory) -> Hit:
    """Two nodes with one priority in an instance: the master is decided by IP address."""
    for name, cluster in inventory.load_balancers.items():
        for instance in cluster.vrrp.instances:
            seen: dict[int, str] = {}
            for node in cluster.nodes:
                priority = cluster.priority(instance, node)
                if priority in seen:
                    yield (
                        f"load_balancers.{name}.vrrp.instances.{instance}",
                        f"{node} and {seen[priority]} both have priority {priority} in instance {instance}",
                    )
                seen.setdefault(priority, node)


@inventory_rule("HA009")
def backend_without_health_check(inventory: Inventory) -> Hit:
    """Without an active check a dead server is found only by failing client requests."""
    for name, cluster in inventory.load_balancers.items():
        for backend_name, backend in cluster.proxy.backends.items():
            path = f"load_balancers.{name}.proxy.backends.{backend_name}"
            if cluster.proxy.kind != "nginx":
                if backend.health_check is None:
                    yield (
                        f"{path}.health_check",
                        f"backend {backend_name} of {name} has no active health check",
                    )
                continue
            # nginx: the model fills a default health_check the renderer ignores; only one the user wrote
            # is a promise nginx breaks. Its own detection is the passive breaker (max_fails).
            if "health_check" in backend.model_fields_set and backend.health_check is not None:
                yield (
                    f"{path}.health_check",
                    f"backend {backend_name} of {name}: nginx (open source) checks passively only; "
                    "the health_check settings are not enforced",
                )
            elif backend.circuit_breaker is None:
                yield (
                    f"{path}.circuit_breaker",
                    f"backend {backend_name} of {name}: nginx without a circuit breaker has no way to take a "
                    "failed server out (no active check, no max_fails)",
                )


@inventory_rule(
    "HA011",
    "backend-single-server",
    Severity.MEDIUM,
    "ha",
    "A proxy backend has at least two servers that take traffic (bare metal).",
)
def backend_single_server(inventory: Inventory) -> Hit:
    """One active server (even with a 'sorry' backup) is a single point of failure."""
    for name, cluster in inventory.load_balancers.items():
        for backend_name, backend in cluster.proxy.backends.items():
            active = [s for s, server in backend.servers.items() if not server.backup]
            if len(active) < 2:
                yield (
                    f"load_balancers.{name}.proxy.backends.{backend_name}.servers",
                    f"backend {backend_name} of {name} has {len(active)} active server(s)",
                )


@inventory_rule(
    "HA012",
    "circuit-breaker-blind-to-500",
    Severity.MEDIUM,
    "ha",
    "A proxy circuit breaker can see servers answering 500 (retry_on allows it; bare metal).",
)
def circuit_breaker_blind_to_500(inventory: Inventory) -> Hit:
    """Retry settings that hide 500s from the breaker keep a failing server in rotation (lab drill 8)."""
    for name, cluster in inventory.load_balancers.items():
        kind = cluster.proxy.kind
        for backend_name, backend in cluster.proxy.backends.items():
            if not backend.breaker_blind_to_500(kind):
                continue
            path = f"load_balancers.{name}.proxy.backends.{backend_name}"
            if kind == "haproxy":
                yield (
                    f"{path}.retry_on",
                    f"backend {backend_name} of {name} retries 500s: observe layer7 never counts a retried "
                    "answer, so a server answering 500 is never marked down (drop 500 and "
                    "all-retryable-errors from retry_on)",
                )
            elif backend.retries == 0:
                yield (
                    f"{path}.retries",
                    f"backend {backend_name} of {name} has retries 0: nginx max_fails counts a 500 only "
                    "when it retries it, so a server answering 500 is never taken out",
                )
            else:
                yield (
                    f"{path}.retry_on",
                    f"backend {backend_name} of {name} does not retry 500s: nginx max_fails counts only what "
                    "proxy_next_upstream retries, so a server answering 500 is never taken out (add 500)",
                )


@inventory_rule("SEC003")
def frontend_without_tls(inventory: Inventory) -> Hit:
    """A frontend that serves plain HTTP and does not redirect to HTTPS."""
    for name, cluster in inventory.load_balancers.items():
        for frontend_name, frontend in cluster.proxy.frontends.items():
            if frontend.tls is None:
                yield (
                    f"load_balancers.{name}.proxy.frontends.{frontend_name}",
                    f"frontend {frontend_name} of {name} serves plain HTTP on port {frontend.port} (no tls)",
                )


@inventory_rule(
    "SEC007",
    "vrrp-v2-without-auth-on-shared-segment",
    Severity.MEDIUM,
    "security",
    "VRRPv2 on a segment other hosts share (or over multicast) uses authentication (bare metal).",
)
def vrrp_v2_without_auth(inventory: Inventory) -> Hit:
    """Any host on the segment can send adverts with a higher priority and take the VIPs."""
    for name, cluster in inventory.load_balancers.items():
        vrrp = cluster.vrrp
        if vrrp.version != 2 or vrrp.auth is not None:
            continue
        for instance_name, instance in vrrp.instances.items():
            segments = {
                segment
                for node in cluster.nodes
                if node in inventory.hosts
                and (segment := inventory.segment_of(node, instance.interface, instance.family())) is not None
            }
            others = sorted(
                host
                for host in inventory.hosts
                if host not in cluster.nodes
                and any(
                    inventory.segment_of(host, interface, instance.family()) in segments
                    for interface in inventory.hosts[host].interfaces
                )
            )
            if others or not vrrp.unicast:
                why = f"shared with {', '.join(others)}" if others else "multicast adverts"
                yield (
                    f"load_balancers.{name}.vrrp",
                    f"VRRPv2 instance {instance_name} of {name} has no auth on a shared segment ({why})",
                )


@inventory_rule(
    "HA013",
    "unmodelled-proxy-config",
    Severity.LOW,
    "ha",
    "Proxy settings come from the model, not raw lines or template overrides (bare metal).",
)
def unmodelled_proxy_config(inventory: Inventory) -> Hit:
    """Raw lines are checked by the daemons, but no hakit rule (retries, limits, redundancy) sees them."""
    for name, cluster in inventory.load_balancers.items():
        for field in cluster.proxy.unmodelled():
            yield (
                f"load_balancers.{name}.proxy.{field}",
                f"raw {cluster.proxy.kind} lines in {field} of {name}: not modelled, not analysed",
            )

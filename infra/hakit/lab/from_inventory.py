"""Turn one inventory cluster into a `LabPlan`, with configs rendered by hakit under each node's root."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address
from pathlib import Path

from hakit.errors import HakitError
from hakit.lab.netns import LabInterface
from hakit.lab.plan import BackendPlan, LabFile, LabPlan, NodePlan, root_of
from hakit.render import render_host
from hakit.render.haproxy import CONFIG as HAPROXY_CONFIG
from hakit.render.keepalived import CONFIG as KEEPALIVED_CONFIG
from hakit.render.nginx import CONFIG as NGINX_CONFIG
from hakit.spec.inventory import Inventory
from hakit.spec.loadbalancer import LoadBalancer


def choose_cluster(inv: Inventory, cluster: str | None) -> str:
    """The cluster to build: the one named, or the only one."""
    names = list(inv.load_balancers)
    if cluster is None:
        if len(names) != 1:
            raise HakitError(
                f"lab: name a cluster with --cluster (the inventory has: {', '.join(names) or 'none'})"
            )
        return names[0]
    if cluster not in inv.load_balancers:
        raise HakitError(
            f"lab: unknown cluster {cluster!r} (the inventory has: {', '.join(names)})", exit_code=2
        )
    return cluster


def _networks(inv: Inventory, nodes: list[str]) -> list[IPv4Network]:
    found: list[IPv4Network] = []
    for node in nodes:
        for spec in inv.hosts[node].interfaces.values():
            if spec.address is not None and spec.address.network not in found:
                found.append(spec.address.network)
    return found


def _free_addresses(network: IPv4Network, used: set[IPv4Address], count: int) -> tuple[str, ...]:
    """`count` unused host addresses from the top of the subnet, as CIDR strings."""
    chosen: list[str] = []
    for offset in range(network.num_addresses - 2, 0, -1):
        candidate = network.network_address + offset
        if candidate not in used:
            chosen.append(f"{candidate}/{network.prefixlen}")
            if len(chosen) == count:
                return tuple(chosen)
    raise HakitError(f"lab: no free addresses left in {network} for the client namespace")


def build_plan(inv: Inventory, cluster_name: str, *, source: str, workdir: Path) -> LabPlan:
    """Flatten a cluster into a lab plan, rendering every node's files rooted under `workdir`."""
    cluster: LoadBalancer = inv.load_balancers[cluster_name]
    instance_name, instance = next(iter(cluster.vrrp.instances.items()))
    if instance.family() != 4:
        raise HakitError(f"lab: instance {instance_name!r} carries IPv6 VIPs; the lab drives IPv4 only")
    vip = instance.vips[0]
    proxy = cluster.proxy
    main_fe = next((f for f in proxy.frontends.values() if f.rate_limit is None and f.tls is None), None)
    if main_fe is None:
        raise HakitError(f"lab: cluster {cluster_name!r} needs a plain HTTP frontend without a rate limit")
    limited = next((f for f in proxy.frontends.values() if f.rate_limit is not None and f.tls is None), None)
    backend_name = main_fe.backend
    backend = proxy.backends[backend_name]
    nodes_list = list(cluster.nodes)
    networks = _networks(inv, nodes_list)

    nodes = []
    for node in nodes_list:
        root = root_of(workdir, node)
        rendered = render_host(inv, node, source=source, root=str(root))
        interfaces = tuple(
            LabInterface(if_name, str(spec.address.network), (spec.address.with_prefixlen,))
            for if_name, spec in inv.hosts[node].interfaces.items()
            if spec.address is not None
        )
        nodes.append(
            NodePlan(
                name=node,
                priority=cluster.priority(instance_name, node),
                interfaces=interfaces,
                keepalived_conf=KEEPALIVED_CONFIG,
                proxy_conf=HAPROXY_CONFIG if proxy.kind == "haproxy" else NGINX_CONFIG,
                files=tuple(LabFile(path, f.content, f.effective_mode) for path, f in rendered.items()),
            )
        )

    used: set[IPv4Address] = {IPv4Address(str(vip.ip))}
    for node in nodes_list:
        used.update(s.address.ip for s in inv.hosts[node].interfaces.values() if s.address is not None)
    backends = []
    for server_name, server in backend.servers.items():
        try:
            address = ip_address(server.address)
        except ValueError:
            raise HakitError(
                f"lab: server {server_name!r} must have an IPv4 address, not {server.address!r}"
            ) from None
        network = next((n for n in networks if address in n), None)
        if not isinstance(address, IPv4Address) or network is None:
            raise HakitError(f"lab: server {server_name} {server.address} is on no subnet of the LB nodes")
        used.add(address)
        backends.append(
            BackendPlan(
                server_name, str(address), server.port, str(network), network.prefixlen, server.backup
            )
        )
    vip_network = IPv4Interface(vip.with_prefixlen).network
    clients = _free_addresses(vip_network, used, 2)

    timeouts = proxy.timeouts
    # A patient client outlasts the proxy's own retry sequence (connect turn-arounds, one server timeout).
    deadline_ms = max(1000, timeouts.connect * (backend.retries + 1) + timeouts.server + 500)
    rate_port: int | None = None
    rate_per_s: float | None = None
    if limited is not None and limited.rate_limit is not None:
        rate_port = limited.port
        rate_per_s = limited.rate_limit.requests * 1000 / limited.rate_limit.period
    check = backend.health_check
    return LabPlan(
        cluster=cluster_name,
        proxy=proxy.kind,
        vip=str(vip.ip),
        port=main_fe.port,
        advert_int=float(cluster.vrrp.advert_int),
        nopreempt=instance.nopreempt,
        proxy_backend=backend_name,
        nodes=tuple(nodes),
        backends=tuple(backends),
        client_addresses=clients,
        client_segment=str(vip_network),
        health_path=check.path if check is not None else "/healthz",
        client_deadline_ms=float(deadline_ms),
        rate_limit_port=rate_port,
        rate_limit_per_s=rate_per_s,
        circuit_breaker=backend.circuit_breaker is not None,
    )

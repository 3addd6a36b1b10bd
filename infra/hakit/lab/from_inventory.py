"""Turn one inventory cluster into a `LabPlan`, with configs rendered by hakit under each node's root."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address
from pathlib import Path

from hakit.errors import HakitError
from hakit.lab.netns import LabInterface
from hakit.lab.plan import BackendPlan, LabFile, LabPlan, NodePlan, RateLimitPlan, root_of
from hakit.render import render_host
from hakit.render.haproxy import CONFIG as HAPROXY_CONFIG
from hakit.render.keepalived import CONFIG as KEEPALIVED_CONFIG
from hakit.render.nginx import CONFIG as NGINX_CONFIG
from hakit.spec.inventory import Inventory
from hakit.spec.loadbalancer import LoadBalancer
from hakit.spec.proxy import Frontend, Proxy


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


def _free_count(network: IPv4Network, used: set[IPv4Address]) -> int:
    """Host addresses of the subnet nobody uses."""
    hosts = max(0, network.num_addresses - 2)
    return hosts - sum(
        1
        for address in used
        if address in network and address not in (network.network_address, network.broadcast_address)
    )


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


MAX_LOAD_SOURCES = 64
"""Client addresses the load may spread over when the drilled frontend limits each client's rate."""
PROBE_SOURCES = 3
"""Quiet client addresses of their own: drill 9's polite client, the parity and the stick-table drills."""


def _drill_frontend(proxy: Proxy, chosen: str | None = None) -> tuple[str, Frontend]:
    """The frontend the drills load: plain HTTP without a limit if there is one, else the closest to it.

    Any frontend can be drilled: a rate limit is kept below (the load spreads over client addresses), TLS
    is spoken with a throwaway certificate, a TCP frontend carries the HTTP load as bytes.
    """

    def cost(item: tuple[str, Frontend]) -> tuple[int, int, int, int]:
        frontend = item[1]
        return (
            int(_unreachable(frontend) is not None),
            int(frontend.mode == "tcp"),
            int(frontend.rate_limit is not None),
            int(frontend.tls is not None),
        )

    if chosen is not None:
        if chosen not in proxy.frontends:
            raise HakitError(
                f"lab: unknown frontend {chosen!r} (the proxy has: {', '.join(proxy.frontends)})", exit_code=2
            )
        name, frontend = chosen, proxy.frontends[chosen]
    else:
        name, frontend = min(proxy.frontends.items(), key=cost)
    why = _unreachable(frontend)
    if why is not None:
        raise HakitError(f"lab: frontend {name!r} {why}, which the lab's load client does not speak")
    return name, frontend


def _unreachable(frontend: Frontend) -> str | None:
    """Why the lab's load client cannot talk to a frontend (None: it can)."""
    if frontend.accept_proxy:
        return "expects the PROXY protocol from its clients"
    if frontend.tls is not None and frontend.tls.client_ca is not None:
        return "asks clients for a certificate (mTLS)"
    return None


def _self_signed(workdir: Path, vip: str) -> tuple[str, str]:
    """A throwaway certificate for the VIP (key + cert PEM, and the cert alone for the client to trust)."""
    tls = workdir / "tls"
    key, cert = tls / "lab.key", tls / "lab.crt"
    if key.exists() and cert.exists():
        # Re-planning a running lab (`lab drill` after `lab up`): its proxies present this one already.
        return cert.read_text() + key.read_text(), str(cert)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise HakitError("lab: TLS frontends need the openssl command (Debian package openssl)")
    tls.mkdir(mode=0o700, exist_ok=True)
    argv = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    argv += ["-days", "2", "-subj", "/CN=hakit-lab", "-addext", f"subjectAltName=IP:{vip}"]
    argv += ["-keyout", str(key), "-out", str(cert)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise HakitError(f"lab: openssl could not make the lab certificate: {proc.stderr.strip()[-200:]}")
    return cert.read_text() + key.read_text(), str(cert)


def _tls_files(proxy: Proxy, pem: str) -> list[LabFile]:
    """The lab certificate at every path the rendered configs name (HAProxy: cert + key in one file)."""
    paths: set[str] = set()
    for frontend in proxy.frontends.values():
        if frontend.tls is not None:
            paths.add(frontend.tls.cert)
            if frontend.tls.key:
                paths.add(frontend.tls.key)
    return [LabFile(path.lstrip("/"), pem, 0o600) for path in sorted(paths)]


def _servers(inv: Inventory, proxy: Proxy, networks: list[IPv4Network]) -> list[BackendPlan]:
    """Every server of every backend (routed frontends reach them all), one namespace per address."""
    plans: list[BackendPlan] = []
    names: set[str] = set()
    by_address: dict[str, str] = {}
    for backend_name, backend in proxy.backends.items():
        check = backend.health_check
        for server_name, server in backend.servers.items():
            try:
                address = ip_address(server.address)
            except ValueError:
                raise HakitError(
                    f"lab: server {server_name!r} must have an IPv4 address, not {server.address!r}"
                ) from None
            network = next((n for n in networks if address in n), None)
            if not isinstance(address, IPv4Address) or network is None:
                raise HakitError(
                    f"lab: server {server_name} {server.address} is on no subnet of the LB nodes"
                )
            name = server_name if server_name not in names else f"{backend_name}-{server_name}"
            names.add(name)
            plans.append(
                BackendPlan(
                    name,
                    str(address),
                    server.port,
                    str(network),
                    network.prefixlen,
                    server.backup,
                    health_path=check.path if check is not None else "/healthz",
                    pool=backend_name,
                    host=by_address.setdefault(str(address), name),
                )
            )
    return plans


def build_plan(
    inv: Inventory, cluster_name: str, *, source: str, workdir: Path, frontend: str | None = None
) -> LabPlan:
    """Flatten a cluster into a lab plan, rendering every node's files rooted under `workdir`.

    `frontend` names the frontend the drills load (default: the closest to plain HTTP, see `_drill_frontend`).
    """
    cluster: LoadBalancer = inv.load_balancers[cluster_name]
    instance_name, instance = next(iter(cluster.vrrp.instances.items()))
    if instance.family() != 4:
        raise HakitError(f"lab: instance {instance_name!r} carries IPv6 VIPs; the lab drives IPv4 only")
    vip = instance.vips[0]
    proxy = cluster.proxy
    fe_name, main_fe = _drill_frontend(proxy, frontend)
    backend_name = main_fe.backend  # routed frontends: the default backend
    backend = proxy.backends[backend_name]
    nodes_list = list(cluster.nodes)
    networks = _networks(inv, nodes_list)
    tls_pem, ca_file = ("", None)
    if any(f.tls is not None for f in proxy.frontends.values()):
        tls_pem, ca_file = _self_signed(workdir, str(vip.ip))

    nodes = []
    for node in nodes_list:
        root = root_of(workdir, node)
        rendered = render_host(inv, node, source=source, root=str(root))
        interfaces = tuple(
            LabInterface(if_name, str(spec.address.network), (spec.address.with_prefixlen,))
            for if_name, spec in inv.hosts[node].interfaces.items()
            if spec.address is not None
        )
        files = [LabFile(path, f.content, f.effective_mode) for path, f in rendered.items()]
        nodes.append(
            NodePlan(
                name=node,
                priority=cluster.priority(instance_name, node),
                interfaces=interfaces,
                keepalived_conf=KEEPALIVED_CONFIG,
                proxy_conf=HAPROXY_CONFIG if proxy.kind == "haproxy" else NGINX_CONFIG,
                files=tuple(files + _tls_files(proxy, tls_pem)) if tls_pem else tuple(files),
            )
        )

    used: set[IPv4Address] = {IPv4Address(str(vip.ip))}
    for node in nodes_list:
        used.update(s.address.ip for s in inv.hosts[node].interfaces.values() if s.address is not None)
    backends = _servers(inv, proxy, networks)
    used.update(IPv4Address(b.address) for b in backends)
    vip_network = IPv4Interface(vip.with_prefixlen).network

    rate_limits = tuple(
        RateLimitPlan(
            name,
            frontend.tls.port if frontend.tls is not None and frontend.redirect_https else frontend.port,
            frontend.rate_limit.requests,
            frontend.rate_limit.period,
            frontend.rate_limit.burst,
            tls=frontend.tls is not None and frontend.redirect_https,
        )
        for name, frontend in proxy.frontends.items()
        if frontend.rate_limit is not None and frontend.mode != "tcp"
    )
    limit = main_fe.rate_limit
    # The drill load stays below half of a per-client limit on every address it uses.
    wanted = 1 + PROBE_SOURCES + (MAX_LOAD_SOURCES - 1 if limit is not None else 0)
    clients = _free_addresses(vip_network, used, min(wanted, _free_count(vip_network, used)))
    if len(clients) < 2:
        raise HakitError(f"lab: {vip_network} has no 2 free addresses left for the client namespace")
    plain = [c.split("/")[0] for c in clients]
    probes = tuple(plain[1 : 1 + PROBE_SOURCES])
    load_sources = (plain[0], *plain[1 + PROBE_SOURCES :])
    source_rate = None if limit is None else limit.requests * 1000 / limit.period / 2

    timeouts = proxy.timeouts
    # A patient client outlasts the proxy's own retry sequence (connect turn-arounds, one server timeout).
    deadline_ms = max(1000, timeouts.connect * (backend.retries + 1) + timeouts.server + 500)
    polite = next((r for r in rate_limits if not r.tls), None)
    check = backend.health_check
    return LabPlan(
        cluster=cluster_name,
        proxy=proxy.kind,
        vip=str(vip.ip),
        port=main_fe.tls.port if main_fe.tls is not None else main_fe.port,
        advert_int=float(cluster.vrrp.advert_int),
        nopreempt=instance.nopreempt,
        proxy_backend=backend_name,
        nodes=tuple(nodes),
        backends=tuple(backends),
        client_addresses=clients,
        client_segment=str(vip_network),
        health_path=check.path if check is not None else "/healthz",
        client_deadline_ms=float(deadline_ms),
        rate_limit_port=polite.port if polite is not None else None,
        rate_limit_per_s=polite.per_s if polite is not None else None,
        circuit_breaker=backend.circuit_breaker is not None,
        frontend=fe_name,
        ca_file=ca_file if main_fe.tls is not None else None,
        load_sources=load_sources,
        source_rate=source_rate,
        rate_limits=rate_limits,
        probe_sources=probes,
        certificate=ca_file,
        server_return_s=(backend.circuit_breaker.fail_timeout / 1000 if backend.circuit_breaker else 0.0),
        replay_window_s=(backend.retries + 1) * (timeouts.connect + timeouts.server) / 1000 + 0.3,
    )

"""haproxy.cfg and its error files for a load-balancer cluster (the same on every node)."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv6Address, ip_address

from hakit.render.environment import header, rooted
from hakit.render.haproxy_rules import HTTP_LOG_FORMAT, TCP_LOG_FORMAT, frontend_rules, log_format
from hakit.render.overrides import render_template
from hakit.render.pages import error_page_bodies, error_page_statuses, http_error_file
from hakit.render.quoting import haproxy_quote
from hakit.render.tls import TLS_CIPHERS
from hakit.render.tree import HostFiles, RenderedFile
from hakit.spec.base import format_duration
from hakit.spec.inventory import Inventory
from hakit.spec.proxy import CONNECTION_RETRIES, Backend, Frontend, Proxy

CONFIG = "etc/haproxy/haproxy.cfg"
ERRORS_DIR = "etc/haproxy/errors"
SOCKET = "/run/haproxy/admin.sock"
PIDFILE = "/run/haproxy.pid"
CHROOT = "/var/lib/haproxy"
PEERS = "hakit"

TLS13_CIPHERSUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
"""Mozilla's intermediate profile, TLS 1.3 suites (OpenSSL 3 defaults, stated so they cannot drift)."""


def bind_address(address: str, port: int) -> str:
    """HAProxy bind syntax: '*' -> ':80', '::' -> ':::80 v6only', IPv6 literal -> '[addr]:80'."""
    if address == "*":
        return f":{port}"
    if address == "::":
        return f":::{port} v6only"
    parsed = ip_address(address)
    if isinstance(parsed, IPv6Address):
        return f"[{parsed}]:{port}"
    return f"{parsed}:{port}"


def https_location(port: int) -> str:
    """The redirect target: the request's host without its port, then the TLS port unless it is 443."""
    host = "%[req.hdr(host),regsub(:[0-9]+$,)]"
    return f"https://{host}{'' if port == 443 else f':{port}'}%[pathq]"


_CHECK_OPTIONS = {
    "mysql": "option mysql-check user {user} post-41",
    "pgsql": "option pgsql-check user {user}",
    "redis": "option redis-check",
    "ssl-hello": "option ssl-hello-chk",
}
"""HAProxy's protocol-aware checks (the server answers its own protocol's greeting, not just the SYN)."""


def _binds(frontend: Frontend, root: str) -> list[str]:
    proxy_protocol = " accept-proxy" if frontend.accept_proxy else ""
    binds = [bind_address(address, frontend.port) + proxy_protocol for address in frontend.addresses]
    if frontend.tls is not None:
        tls = frontend.tls
        options = f"ssl crt {rooted(root, tls.cert)} alpn h2,http/1.1"
        if tls.client_ca is not None:
            options += f" ca-file {rooted(root, tls.client_ca)} verify {tls.client_verify}"
        binds += [
            f"{bind_address(address, tls.port)}{proxy_protocol} {options}" for address in frontend.addresses
        ]
    return binds


def _frontend(name: str, frontend: Frontend, root: str, peers: bool) -> dict[str, object]:
    binds = _binds(frontend, root)
    rate = None
    if frontend.rate_limit is not None:
        limit = frontend.rate_limit
        rate = {
            "requests": limit.requests,
            "period": format_duration(limit.period),
            "capacity": limit.capacity(),
            "window": format_duration(limit.window_ms()),
            "expire": format_duration(2 * limit.window_ms()),
            "size": limit.table_size,
            "peers": f" peers {PEERS}" if peers else "",
        }
    return {
        "name": name,
        "mode": frontend.mode,
        "binds": binds,
        "sni_routing": frontend.mode == "tcp" and bool(frontend.routes),
        **frontend_rules(frontend),
        "raw": list(frontend.raw),
        "maxconn": frontend.max_connections,
        "tls": frontend.tls is not None,
        "redirect_https": https_location(frontend.tls.port)
        if frontend.redirect_https and frontend.tls
        else None,
        "hsts": frontend.tls.hsts_max_age if frontend.tls is not None else None,
        "rate_limit": rate,
        "backend": frontend.backend,
    }


def replay_guard(backend: Backend) -> str | None:
    """The methods HAProxy may replay after the server saw the request (None: no layer-7 retry to guard)."""
    if backend.retries == 0:
        return None
    retry_on = set(backend.effective_retry_on("haproxy"))
    if retry_on <= CONNECTION_RETRIES:
        return None
    return " ".join(dict.fromkeys(backend.idempotent_methods))


def _server_tls(backend: Backend, root: str) -> list[str]:
    tls = backend.tls
    if tls is None:
        return []
    options = ["ssl"]
    if tls.verify:
        assert tls.ca_file is not None  # BackendTls.rules
        options += ["verify required", f"ca-file {rooted(root, tls.ca_file)}"]
        if tls.sni is not None:
            options.append(f"verifyhost {tls.sni}")
    else:
        options.append("verify none")
    if tls.sni is not None:
        options.append(f"sni str({tls.sni})")
    if backend.mode == "http":
        options.append("alpn http/1.1")
    return options


def _check(backend: Backend) -> dict[str, object] | None:
    kind = backend.check_type()
    check = backend.health_check
    if kind is None or check is None:
        return None
    found: dict[str, object] = {"type": kind, "timeout": format_duration(check.timeout), "option": None}
    if kind == "http":
        found.update(
            {
                "uri": haproxy_quote(check.path),
                "host": haproxy_quote(check.host),
                "expect_status": check.expect_status,
            }
        )
    elif kind in _CHECK_OPTIONS:
        found["option"] = _CHECK_OPTIONS[kind].format(user=check.user)
    return found


def _backend(name: str, backend: Backend, root: str = "") -> dict[str, object]:
    check = backend.health_check if backend.check_type() is not None else None
    default_server = []
    if check is not None:
        default_server += [
            f"inter {format_duration(check.interval)}",
            f"fall {check.fall}",
            f"rise {check.rise}",
        ]
    if backend.circuit_breaker is not None:
        breaker = backend.circuit_breaker
        default_server += [
            "observe layer4" if backend.mode == "tcp" else "observe layer7",
            f"error-limit {breaker.error_limit}",
            f"on-error {breaker.on_error}",
        ]
    servers = []
    for server_name, server in backend.servers.items():
        options = []
        if check is not None:
            options.append("check")
        options.append(f"weight {server.weight}")
        if server.maxconn is not None:
            options.append(f"maxconn {server.maxconn}")
        if server.backup:
            options.append("backup")
        if backend.cookie is not None:
            options.append(f"cookie {server_name}")
        if backend.send_proxy:
            options.append("send-proxy-v2")
        options += _server_tls(backend, root)
        servers.append(
            {"name": server_name, "endpoint": server.endpoint(), "options": " " + " ".join(options)}
        )
    http = backend.mode == "http"
    cookie = None
    if backend.cookie is not None:
        secure = " secure" if backend.cookie.secure else ""
        cookie = f"cookie {backend.cookie.name} insert indirect nocache httponly{secure}"
    return {
        "name": name,
        "mode": backend.mode,
        "balance": backend.balance,
        "check": _check(backend),
        "cookie": cookie,
        "retries": backend.retries,
        "redispatch": backend.redispatch and backend.retries > 0,
        "retry_on": " ".join(backend.effective_retry_on("haproxy")) if http and backend.retries > 0 else "",
        "replay_methods": replay_guard(backend) if http else None,
        "keepalive": backend.keepalive if http else 0,
        "raw": list(backend.raw),
        "default_server": " ".join(default_server) or "init-addr last,libc,none",
        "servers": servers,
    }


def haproxy_context(
    proxy: Proxy,
    cluster_name: str,
    *,
    source: str,
    root: str,
    peers: dict[str, str] | None = None,
    local_peer: str | None = None,
) -> dict[str, object]:
    """The template variables of `haproxy.cfg`; `peers`: node -> address, `local_peer`: this node."""
    sync = proxy.uses_peers() and bool(peers) and local_peer is not None
    user, group = proxy.user()
    stats = None
    if proxy.stats.enabled:
        auth = None
        if proxy.stats.user is not None and proxy.stats.password is not None:
            auth = f"{proxy.stats.user}:{proxy.stats.password.get_secret_value()}"
        stats = {"bind": bind_address(str(proxy.stats.address), proxy.stats.port), "auth": auth}
    timeouts = {field: format_duration(value) for field, value in proxy.timeouts.model_dump().items()}
    return {
        "header": header(source),
        "cluster": cluster_name,
        "syslog": proxy.syslog,
        "log_targets": list(proxy.log_targets),
        "http_log": log_format(HTTP_LOG_FORMAT) if proxy.log_format == "structured" else None,
        "tcp_log": log_format(TCP_LOG_FORMAT) if proxy.log_format == "structured" else None,
        "raw": {"global": list(proxy.raw.global_), "defaults": list(proxy.raw.defaults)},
        "chroot": proxy.chroot,
        "paths": {
            "chroot": rooted(root, CHROOT),
            "pidfile": rooted(root, PIDFILE),
            "socket": rooted(root, SOCKET),
        },
        "max_connections": proxy.max_connections,
        "user": user,
        "group": group,
        "hard_stop_after": format_duration(proxy.hard_stop_after),
        "idle_close_on_response": proxy.idle_close_on_response,
        "tls_ciphers": TLS_CIPHERS,
        "tls13_ciphersuites": TLS13_CIPHERSUITES,
        "peers": (
            {
                "name": PEERS,
                "local": local_peer,
                "nodes": [
                    {"name": node, "address": bind_address(address, proxy.peers.port)}
                    for node, address in (peers or {}).items()
                ],
            }
            if sync
            else None
        ),
        "timeouts": timeouts,
        "health_port": proxy.health_port,
        "stats": stats,
        "error_pages": [
            {"status": status, "path": rooted(root, f"/{ERRORS_DIR}/{status}.http")}
            for status in error_page_statuses(proxy)
        ],
        "frontends": [_frontend(name, frontend, root, sync) for name, frontend in proxy.frontends.items()],
        "backends": [_backend(name, backend, root) for name, backend in proxy.backends.items()],
    }


def peer_addresses(inv: Inventory, cluster_name: str) -> dict[str, str]:
    """Node name -> the address its peers listener binds (the host's first address)."""
    return {node: inv.hosts[node].primary_address() for node in inv.load_balancers[cluster_name].nodes}


def haproxy_files(
    inv: Inventory, cluster_name: str, *, source: str, root: str, node: str | None = None
) -> HostFiles:
    """haproxy.cfg (0600 when it holds the stats password) and one errorfile per status.

    With stick tables the file names `node` as the local peer (default: the cluster's first node).
    """
    local = node or next(iter(inv.load_balancers[cluster_name].nodes))
    return haproxy_node_files(inv, cluster_name, [local], source=source, root=root)[local]


def haproxy_node_files(
    inv: Inventory, cluster_name: str, nodes: Iterable[str], *, source: str, root: str
) -> dict[str, HostFiles]:
    """`haproxy_files` of each of `nodes`: the context is built once, only the local peer differs."""
    cluster = inv.load_balancers[cluster_name]
    proxy = cluster.proxy
    chosen = list(nodes)
    context = haproxy_context(
        proxy,
        cluster_name,
        source=source,
        root=root,
        peers=peer_addresses(inv, cluster_name),
        local_peer=chosen[0] if chosen else None,
    )
    secret = proxy.stats.password is not None
    errors = {
        f"{ERRORS_DIR}/{status}.http": RenderedFile(http_error_file(status, html))
        for status, html in error_page_bodies(proxy, source).items()
    }
    found: dict[str, HostFiles] = {}
    peers = context["peers"]
    if isinstance(peers, dict) and len(chosen) > 1 and proxy.template_dir is None:
        # hakit's template writes the local peer in one place, verbatim (`localpeer NAME`): render once
        # with a marker no config can hold (a NUL) and put each node's name in its place. A site's
        # template may do anything with it: that one is rendered per node.
        context["peers"] = {**peers, "local": _LOCAL_PEER}
        shared = render_template(None, "haproxy/haproxy.cfg.j2", **context)
        texts = {node: shared.replace(_LOCAL_PEER, node) for node in chosen}
    else:
        texts = {}
        for node in chosen:
            if isinstance(peers, dict):
                context["peers"] = {**peers, "local": node}
            texts[node] = render_template(proxy.template_dir, "haproxy/haproxy.cfg.j2", **context)
    for node, text in texts.items():
        found[node] = {CONFIG: RenderedFile(text, mode=0o644, secret=secret), **errors}
    return found


_LOCAL_PEER = "\0hakit-local-peer\0"

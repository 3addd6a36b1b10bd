"""haproxy.cfg and its error files for a load-balancer cluster (the same on every node)."""

from __future__ import annotations

from ipaddress import IPv6Address, ip_address

from hakit.render.environment import header, render, rooted
from hakit.render.pages import error_page_bodies, error_page_statuses, http_error_file
from hakit.render.tree import HostFiles, RenderedFile
from hakit.spec.base import format_duration
from hakit.spec.inventory import Inventory
from hakit.spec.proxy import Backend, Frontend, Proxy

CONFIG = "etc/haproxy/haproxy.cfg"
ERRORS_DIR = "etc/haproxy/errors"
SOCKET = "/run/haproxy/admin.sock"
PIDFILE = "/run/haproxy.pid"
CHROOT = "/var/lib/haproxy"


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


def _frontend(name: str, frontend: Frontend, root: str) -> dict[str, object]:
    binds = [bind_address(address, frontend.port) for address in frontend.addresses]
    if frontend.tls is not None:
        cert = rooted(root, frontend.tls.cert)
        binds += [
            f"{bind_address(address, frontend.tls.port)} ssl crt {cert} alpn h2,http/1.1"
            for address in frontend.addresses
        ]
    rate = None
    if frontend.rate_limit is not None:
        limit = frontend.rate_limit
        rate = {
            "requests": limit.requests,
            "period": format_duration(limit.period),
            "expire": format_duration(2 * limit.period),
            "size": limit.table_size,
        }
    return {
        "name": name,
        "binds": binds,
        "maxconn": frontend.max_connections,
        "tls": frontend.tls is not None,
        "redirect_https": frontend.redirect_https,
        "hsts": frontend.tls.hsts_max_age if frontend.tls is not None else None,
        "rate_limit": rate,
        "backend": frontend.backend,
    }


def _backend(name: str, backend: Backend) -> dict[str, object]:
    check = backend.health_check
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
            "observe layer7",
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
        servers.append(
            {"name": server_name, "endpoint": server.endpoint(), "options": " " + " ".join(options)}
        )
    return {
        "name": name,
        "balance": backend.balance,
        "check": (
            {
                "path": check.path,
                "host": check.host,
                "expect_status": check.expect_status,
                "timeout": format_duration(check.timeout),
            }
            if check is not None
            else None
        ),
        "retries": backend.retries,
        "redispatch": backend.redispatch and backend.retries > 0,
        "retry_on": " ".join(backend.effective_retry_on("haproxy")) if backend.retries > 0 else "",
        "keepalive": backend.keepalive,
        "default_server": " ".join(default_server) or "init-addr last,libc,none",
        "servers": servers,
    }


def haproxy_context(proxy: Proxy, cluster_name: str, *, source: str, root: str) -> dict[str, object]:
    """The template variables of `haproxy.cfg`."""
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
        "chroot": proxy.chroot,
        "paths": {
            "chroot": rooted(root, CHROOT),
            "pidfile": rooted(root, PIDFILE),
            "socket": rooted(root, SOCKET),
        },
        "max_connections": proxy.max_connections,
        "timeouts": timeouts,
        "health_port": proxy.health_port,
        "stats": stats,
        "error_pages": [
            {"status": status, "path": rooted(root, f"/{ERRORS_DIR}/{status}.http")}
            for status in error_page_statuses(proxy)
        ],
        "frontends": [_frontend(name, frontend, root) for name, frontend in proxy.frontends.items()],
        "backends": [_backend(name, backend) for name, backend in proxy.backends.items()],
    }


def haproxy_files(inv: Inventory, cluster_name: str, *, source: str, root: str) -> HostFiles:
    """haproxy.cfg (0600 when it holds the stats password) and one errorfile per status."""
    proxy = inv.load_balancers[cluster_name].proxy
    context = haproxy_context(proxy, cluster_name, source=source, root=root)
    files: HostFiles = {
        CONFIG: RenderedFile(
            render("haproxy/haproxy.cfg.j2", **context), mode=0o644, secret=proxy.stats.password is not None
        )
    }
    for status, html in error_page_bodies(proxy, source).items():
        files[f"{ERRORS_DIR}/{status}.http"] = RenderedFile(http_error_file(status, html))
    return files

"""nginx.conf and its error pages for a load-balancer cluster (the same on every node)."""

from __future__ import annotations

from ipaddress import IPv6Address, ip_address

from hakit.render.environment import header, rooted
from hakit.render.nginx_rules import (
    HTTP_LOG_FORMAT,
    STREAM_LOG_FORMAT,
    request_headers,
    response_header_lines,
    route_maps,
    syslog_target,
    variable_prefix,
)
from hakit.render.overrides import render_template
from hakit.render.pages import error_page_bodies, error_page_statuses
from hakit.render.tls import TLS_CIPHERS
from hakit.render.tree import HostFiles, RenderedFile
from hakit.spec.base import format_duration
from hakit.spec.inventory import Inventory
from hakit.spec.proxy import Backend, Frontend, Proxy, RateLimit

CONFIG = "etc/nginx/nginx.conf"
ERRORS_DIR = "etc/nginx/errors"
PIDFILE = "/run/nginx.pid"
LOG_DIR = "/var/log/nginx"
TEMP_DIR = "/var/lib/nginx"

LIMIT_REQ_STATES_PER_MB = 8000
"""limit_req states a megabyte of zone holds on 64-bit (128-byte states; nginx documentation)."""

STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
"""Debian's dynamic stream module (package libnginx-mod-stream), loaded when a frontend is mode tcp."""

HTTP2_DIRECTIVE = (1, 25, 1)
"""From this nginx version on, `http2 on;` replaces the `http2` parameter of `listen`."""

_BALANCE = {
    "roundrobin": "",
    "leastconn": "least_conn",
    "source": "hash $remote_addr consistent",
    "random": "random two least_conn",
    "uri": "hash $request_uri consistent",
}
_NEXT_UPSTREAM = {
    "conn-failure": ["error"],
    "empty-response": ["error"],
    "junk-response": ["invalid_header"],
    "response-timeout": ["timeout"],
    "all-retryable-errors": [
        "error",
        "timeout",
        "invalid_header",
        "http_500",
        "http_502",
        "http_503",
        "http_504",
    ],
    "500": ["http_500"],
    "502": ["http_502"],
    "503": ["http_503"],
    "504": ["http_504"],
}
"""HAProxy retry-on conditions -> nginx proxy_next_upstream conditions."""


def listen_address(address: str, port: int) -> str:
    """nginx listen syntax: '*' -> '80', '::' -> '[::]:80', IPv6 literal -> '[addr]:80'."""
    if address == "*":
        return str(port)
    if address == "::":
        return f"[::]:{port}"
    parsed = ip_address(address)
    if isinstance(parsed, IPv6Address):
        return f"[{parsed}]:{port}"
    return f"{parsed}:{port}"


def next_upstream(backend: Backend) -> str:
    """The `proxy_next_upstream` conditions of a backend (order kept, duplicates dropped).

    `non_idempotent` only when the backend lists POST and PATCH as safe to replay (never by default).
    """
    if backend.retries == 0:
        return "off"
    conditions: list[str] = []
    for retry in backend.effective_retry_on("nginx"):
        for condition in _NEXT_UPSTREAM[retry]:
            if condition not in conditions:
                conditions.append(condition)
    if {"POST", "PATCH"} <= set(backend.idempotent_methods):
        conditions.append("non_idempotent")
    return " ".join(conditions)


def zone_size(table_size: int) -> str:
    """A limit_req zone that holds `table_size` clients (whole megabytes, at least 1)."""
    return f"{max(1, -(-table_size // LIMIT_REQ_STATES_PER_MB))}m"


def limit_rate(limit: RateLimit) -> str:
    """The sustained rate as nginx writes it: whole requests per second, else per minute (rounded down)."""
    if (limit.requests * 1000) % limit.period == 0:
        return f"{limit.requests * 1000 // limit.period}r/s"
    return f"{limit.per_minute()}r/m"


def _upstream(name: str, backend: Backend) -> dict[str, object]:
    servers = []
    breaker = backend.circuit_breaker
    for server in backend.servers.values():
        options = [f"weight={server.weight}"]
        if breaker is not None:
            options += [
                f"max_fails={breaker.error_limit}",
                f"fail_timeout={format_duration(breaker.fail_timeout)}",
            ]
        if server.maxconn is not None:
            options.append(f"max_conns={server.maxconn}")
        if server.backup:
            options.append("backup")
        servers.append({"endpoint": server.endpoint(), "options": " " + " ".join(options)})
    return {
        "name": name,
        "mode": backend.mode,
        "balance": _BALANCE[backend.balance],
        "servers": servers,
        "keepalive": backend.keepalive if backend.mode == "http" else 0,
        "raw": raw_block(list(backend.raw)),
    }


def _tls_lines(backend: Backend, root: str) -> list[str]:
    """proxy_ssl_* lines of a backend reached over TLS (http and stream share the names)."""
    tls = backend.tls
    if tls is None:
        return []
    lines = ["proxy_ssl on;"] if backend.mode == "tcp" else []
    lines.append("proxy_ssl_protocols TLSv1.2 TLSv1.3;")
    if tls.verify:
        assert tls.ca_file is not None  # BackendTls.rules
        lines += ["proxy_ssl_verify on;", f"proxy_ssl_trusted_certificate {rooted(root, tls.ca_file)};"]
    if tls.sni is not None:
        lines += ["proxy_ssl_server_name on;", f"proxy_ssl_name {tls.sni};"]
    return lines


def _location(name: str, backend: Backend, root: str) -> dict[str, object]:
    """The proxy settings of one backend inside a location (http) or a server (stream)."""
    scheme = "https" if backend.tls is not None else "http"
    proxy_pass = f"{scheme}://{name}" if backend.mode == "http" else name
    lines = [
        f"proxy_pass {proxy_pass};",
        f"proxy_next_upstream {next_upstream(backend)};",
        f"proxy_next_upstream_tries {backend.retries + 1};",
        "# No overall limit (the tries bound it): a limit equal to proxy_read_timeout leaves no time",
        "# to retry a hung server, which then costs a 504 per request (lab drill 2).",
        "proxy_next_upstream_timeout 0;",
    ]
    return {
        "name": name,
        "proxy_pass": proxy_pass,
        "next_upstream": next_upstream(backend),
        "tries": backend.retries + 1,
        "tls": _tls_lines(backend, root),
        "lines": lines + _tls_lines(backend, root),
        "send_proxy": backend.send_proxy,
    }


def raw_block(lines: list[str]) -> list[str]:
    """Raw inventory lines under a comment that says where they come from (nothing when there are none)."""
    return ["# Raw lines from the inventory (not modelled by hakit).", *lines] if lines else []


def https_location(port: int) -> str:
    """The redirect target: the request's host (nginx's `$host` has no port), then the TLS port unless 443."""
    return f"https://$host{'' if port == 443 else f':{port}'}$request_uri"


def _rate(name: str, frontend: Frontend) -> dict[str, object] | None:
    limit = frontend.rate_limit
    if limit is None:
        return None
    return {
        "zone": f"rl_{name}",
        "size": zone_size(limit.table_size),
        "rate": limit_rate(limit),
        "requests": limit.requests,
        "period": format_duration(limit.period),
        "capacity": limit.capacity(),
        # nginx admits one request plus `burst` at once: the capacity minus the first.
        "burst": limit.capacity() - 1,
    }


def _frontend(
    index: int, name: str, frontend: Frontend, proxy: Proxy, root: str, http2_listen: bool
) -> dict[str, object]:
    proxy_protocol = " proxy_protocol" if frontend.accept_proxy else ""
    listens = [listen_address(address, frontend.port) + proxy_protocol for address in frontend.addresses]
    tls = None
    tls_listens: list[str] = []
    if frontend.tls is not None:
        tls = {
            "cert": rooted(root, frontend.tls.cert),
            "key": rooted(root, frontend.tls.key or frontend.tls.cert),
            "client_ca": rooted(root, frontend.tls.client_ca) if frontend.tls.client_ca else None,
            "client_verify": "on" if frontend.tls.client_verify == "required" else "optional",
        }
        http2 = " http2" if http2_listen else ""
        tls_listens = [
            f"{listen_address(a, frontend.tls.port)} ssl{http2}{proxy_protocol}" for a in frontend.addresses
        ]
    maps: list[str] = []
    codes: dict[str, int] = {}
    route_variable = None
    if frontend.routes and frontend.mode == "http":
        maps, codes = route_maps(index, frontend, frontend.backend)
        route_variable = f"${variable_prefix(index)}_route"
    elif frontend.routes:
        route_variable = f"${variable_prefix(index)}_sni"
        lines = [f"map $ssl_preread_server_name {route_variable} {{", "    hostnames;"]
        lines.append(f"    default {frontend.backend};")
        for route in frontend.routes:
            lines += [f"    {host.lower()} {route.backend};" for host in route.hosts if host]
        lines.append("}")
        maps = ["\n".join(lines)]
    backend = proxy.backends[frontend.backend]
    return {
        "name": name,
        "mode": frontend.mode,
        "listens": listens,
        "tls_listens": tls_listens,
        "tls": tls,
        "accept_proxy": frontend.accept_proxy,
        "redirect_https": https_location(frontend.tls.port)
        if frontend.redirect_https and frontend.tls
        else None,
        "hsts": frontend.tls.hsts_max_age if frontend.tls is not None else None,
        "rate_limit": _rate(name, frontend),
        "maps": maps,
        "route_variable": route_variable,
        "routes": [
            {
                "code": code,
                "location": f"@{variable_prefix(index)}_{be}",
                **_location(be, proxy.backends[be], root),
            }
            for be, code in codes.items()
        ],
        "request_headers": request_headers(frontend),
        "response_headers": response_header_lines(frontend.response_headers),
        "raw": raw_block(list(frontend.raw)),
        "raw_location": raw_block(list(frontend.raw_location)),
        "backend": _location(frontend.backend, backend, root),
    }


def nginx_context(proxy: Proxy, cluster_name: str, *, source: str, root: str) -> dict[str, object]:
    """The template variables of `nginx.conf`."""
    upstreams = [_upstream(name, backend) for name, backend in proxy.backends.items()]
    timeouts = {field: format_duration(value) for field, value in proxy.timeouts.model_dump().items()}
    http2_listen = proxy.version_tuple() < HTTP2_DIRECTIVE
    user, _group = proxy.user()
    frontends = [
        _frontend(index, name, fe, proxy, root, http2_listen)
        for index, (name, fe) in enumerate(proxy.frontends.items())
    ]
    stream = any(fe["mode"] == "tcp" for fe in frontends) or any(up["mode"] == "tcp" for up in upstreams)
    structured = proxy.log_format == "structured"
    return {
        "user": user,
        "hard_stop_after": format_duration(proxy.hard_stop_after),
        "http2_directive": not http2_listen,
        "tls_ciphers": TLS_CIPHERS,
        "header": header(source),
        "cluster": cluster_name,
        "paths": {
            "pidfile": rooted(root, PIDFILE),
            "error_log": rooted(root, f"{LOG_DIR}/error.log"),
            "access_log": rooted(root, f"{LOG_DIR}/access.log"),
            "stream_log": rooted(root, f"{LOG_DIR}/stream.log"),
            "temp": rooted(root, TEMP_DIR),
            "errors": rooted(root, "/" + ERRORS_DIR),
        },
        "stream_module": STREAM_MODULE if stream else None,
        "log": {
            "http_format": f"'{HTTP_LOG_FORMAT}'" if structured else None,
            "stream_format": f"'{STREAM_LOG_FORMAT}'" if structured else None,
            "targets": [syslog_target(target) for target in proxy.log_targets],
        },
        "raw_http": raw_block(list(proxy.raw.http)),
        "max_connections": proxy.max_connections,
        "timeouts": timeouts,
        "health_port": proxy.health_port,
        "stats": (
            {"listen": listen_address(str(proxy.stats.address), proxy.stats.port)}
            if proxy.stats.enabled
            else None
        ),
        "error_pages": [{"status": status} for status in error_page_statuses(proxy)],
        "backends": upstreams,
        "frontends": frontends,
    }


def nginx_files(inv: Inventory, cluster_name: str, *, source: str, root: str) -> HostFiles:
    """nginx.conf and one HTML error page per status."""
    proxy = inv.load_balancers[cluster_name].proxy
    context = nginx_context(proxy, cluster_name, source=source, root=root)
    text = render_template(proxy.template_dir, "nginx/nginx.conf.j2", **context)
    files: HostFiles = {CONFIG: RenderedFile(text)}
    for status, html in error_page_bodies(proxy, source).items():
        files[f"{ERRORS_DIR}/{status}.html"] = RenderedFile(html)
    return files

"""HAProxy lines for routing, header rules and access-log formats (pure functions over the proxy model)."""

from __future__ import annotations

import re

from hakit.render.quoting import haproxy_quote
from hakit.spec.proxy import Frontend
from hakit.spec.proxy_routing import HeaderRule, Route

HOST_WITHOUT_PORT = "req.hdr(host),regsub(:[0-9]+$,)"
"""The Host header without its port (an IPv6 literal keeps its brackets)."""

HTTP_LOG_FORMAT = (
    '{"time":"%tr","client":"%ci:%cp","frontend":"%ft","backend":"%b","server":"%s",'
    '"upstream":"%si:%sp","method":"%HM","uri":"%{+E}HU","status":%ST,"bytes":%B,'
    '"connect_ms":%Tc,"response_ms":%Tr,"queue_ms":%Tw,"total_ms":%Ta,"retries":"%rc",'
    '"termination":"%tsc"}'
)
"""Structured HTTP access log (JSON): upstream address, status, timings, retries, termination state.

`%rc` is a string because HAProxy prefixes it with '+' after a redispatch.
"""

TCP_LOG_FORMAT = (
    '{"time":"%t","client":"%ci:%cp","frontend":"%ft","backend":"%b","server":"%s",'
    '"upstream":"%si:%sp","bytes":%B,"connect_ms":%Tc,"queue_ms":%Tw,"total_ms":%Tt,'
    '"retries":"%rc","termination":"%ts"}'
)
"""Structured TCP access log (JSON)."""


def log_format(text: str) -> str:
    """A log-format argument in single quotes (HAProxy takes everything literally inside them)."""
    assert "'" not in text  # the formats above are constants
    return f"'{text}'"


def host_regex(hosts: list[str]) -> str:
    """One anchored, case-insensitive regex for exact names and '*.domain' wildcards (any depth)."""
    parts = [rf".+\.{re.escape(host[2:])}" if host.startswith("*.") else re.escape(host) for host in hosts]
    return f"^({'|'.join(parts)})$"


def route_condition(route: Route, tcp: bool) -> str:
    """The anonymous ACLs of a route, ANDed (HAProxy evaluates `use_backend` lines in order)."""
    acls: list[str] = []
    if route.hosts:
        fetch = "req_ssl_sni" if tcp else HOST_WITHOUT_PORT
        acls.append(f"{{ {fetch} -m reg -i {haproxy_quote(host_regex(route.hosts))} }}")
    if route.path_prefixes:
        acls.append(f"{{ path_beg {' '.join(haproxy_quote(p) for p in route.path_prefixes)} }}")
    if route.path_regex is not None:
        acls.append(f"{{ path_reg {haproxy_quote(route.path_regex)} }}")
    if route.methods:
        acls.append(f"{{ method {' '.join(dict.fromkeys(route.methods))} }}")
    if route.header is not None:
        fetch = f"req.hdr({route.header.name})"
        if route.header.value is not None:
            acls.append(f"{{ {fetch} -m str {haproxy_quote(route.header.value)} }}")
        else:
            assert route.header.regex is not None
            acls.append(f"{{ {fetch} -m reg {haproxy_quote(route.header.regex)} }}")
    return " ".join(acls)


def header_line(direction: str, rule: HeaderRule) -> str:
    """`http-request|http-response set-header|add-header|del-header` with the value taken literally."""
    if rule.action == "del":
        return f"{direction} del-header {rule.name}"
    assert rule.value is not None
    # Header values are log-format strings: '%' starts an expression unless doubled.
    return f"{direction} {rule.action}-header {rule.name} {haproxy_quote(rule.value.replace('%', '%%'))}"


def frontend_rules(frontend: Frontend) -> dict[str, list[str]]:
    """Routing and header lines of a frontend, in the order the model gives them."""
    tcp = frontend.mode == "tcp"
    return {
        "routes": [
            f"use_backend {route.backend} if {route_condition(route, tcp)}" for route in frontend.routes
        ],
        "request_headers": [header_line("http-request", rule) for rule in frontend.request_headers],
        "response_headers": [header_line("http-response", rule) for rule in frontend.response_headers],
    }

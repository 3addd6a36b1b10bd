"""nginx routing maps, header rules and log formats (pure functions over the proxy model).

nginx selects a `location` by URI only, so routes by host, header or method become `map` blocks: one
map per condition of a route yields "1" or "0", and one map over their concatenation yields the status
code of the first matching route (regex entries of a map are tried in order). `location /` turns that
code into an internal redirect to the route's named location (`error_page CODE = @name`), which holds
the backend's own proxy settings (retries, TLS). Codes 470-489 never reach a client.
"""

from __future__ import annotations

import re

from hakit.render.quoting import nginx_quote
from hakit.spec.proxy import Frontend
from hakit.spec.proxy_routing import HeaderRule, Route

FIRST_ROUTE_CODE = 470
MAX_ROUTED_BACKENDS = 20
"""nginx: at most this many distinct backends behind the routes of one frontend (codes 470-489)."""

HTTP_LOG_FORMAT = (
    '{"time":"$time_iso8601","client":"$remote_addr:$remote_port","host":"$host",'
    '"method":"$request_method","uri":"$request_uri","status":$status,"bytes":$body_bytes_sent,'
    '"request_time":$request_time,"upstream":"$upstream_addr","upstream_status":"$upstream_status",'
    '"upstream_connect_time":"$upstream_connect_time","upstream_response_time":"$upstream_response_time"}'
)
"""Structured access log (JSON; `escape=json`). Each attempt appears in `upstream` ("a, b" after a retry)."""

STREAM_LOG_FORMAT = (
    '{"time":"$time_iso8601","client":"$remote_addr:$remote_port","status":$status,'
    '"bytes_sent":$bytes_sent,"bytes_received":$bytes_received,"session_time":$session_time,'
    '"upstream":"$upstream_addr","upstream_connect_time":"$upstream_connect_time"}'
)
"""Structured TCP (stream) access log."""

DEFAULT_REQUEST_HEADERS: dict[str, str] = {
    "Connection": '""',
    "Host": "$host",
    "X-Real-IP": "$remote_addr",
    "X-Forwarded-For": "$proxy_add_x_forwarded_for",
    "X-Forwarded-Proto": "$scheme",
}
"""What hakit sends upstream (http block); a server with header rules repeats them (nothing is inherited)."""


def variable_prefix(index: int) -> str:
    """nginx variable names allow only letters, digits and '_': frontends are numbered instead of named."""
    return f"hakit_f{index}"


def _pcre_literal(text: str) -> str:
    """`text` as a PCRE matching it literally."""
    return re.sub(r"([^A-Za-z0-9_/-])", r"\\\1", text)


def _condition_map(name: str, route: Route, kind: str) -> str:
    entries: list[str]
    source = "$uri"
    hostnames = False
    if kind == "hosts":
        source, hostnames = "$host", True
        entries = [f"{host.lower()} 1;" for host in route.hosts]
    elif kind == "path_prefixes":
        entries = [f"{nginx_quote('~^' + _pcre_literal(p), regex=True)} 1;" for p in route.path_prefixes]
    elif kind == "path_regex":
        assert route.path_regex is not None
        entries = [f"{nginx_quote('~' + route.path_regex, regex=True)} 1;"]
    elif kind == "methods":
        source = "$request_method"
        entries = [f'"~^({"|".join(dict.fromkeys(route.methods))})$" 1;']
    else:
        assert route.header is not None
        source = "$http_" + route.header.name.lower().replace("-", "_")
        if route.header.value is not None:
            pattern = f"~^{_pcre_literal(route.header.value)}$"
        else:
            assert route.header.regex is not None
            pattern = f"~{route.header.regex}"
        entries = [f"{nginx_quote(pattern, regex=True)} 1;"]
    lines = [f"map {source} ${name} {{"]
    if hostnames:
        lines.append("    hostnames;")
    lines.append("    default 0;")
    lines += [f"    {entry}" for entry in entries]
    lines.append("}")
    return "\n".join(lines)


def route_maps(index: int, frontend: Frontend, default_backend: str) -> tuple[list[str], dict[str, int]]:
    """The map blocks of a routed frontend and backend -> status code of its named location."""
    prefix = variable_prefix(index)
    maps: list[str] = []
    variables: list[str] = []
    patterns: list[tuple[str, int]] = []
    codes: dict[str, int] = {}
    for position, route in enumerate(frontend.routes):
        mine: list[int] = []
        for kind in route.conditions():
            name = f"{prefix}_r{position}_{kind}"
            maps.append(_condition_map(name, route, kind))
            mine.append(len(variables))
            variables.append(name)
        code = 0
        if route.backend != default_backend:
            code = codes.setdefault(route.backend, FIRST_ROUTE_CODE + len(codes))
        pattern = "".join("1" if slot in mine else "." for slot in range(max(mine) + 1))
        patterns.append((pattern, code))
    key = "".join(f"${name}" for name in variables)
    lines = [f'map "{key}" ${prefix}_route {{', "    default 0;"]
    lines += [f'    "~^{pattern}" {code};' for pattern, code in patterns]
    lines.append("}")
    maps.append("\n".join(lines))
    return maps, codes


def request_headers(frontend: Frontend) -> dict[str, str] | None:
    """The full `proxy_set_header` set of a server with request header rules (None: inherit http's)."""
    if not frontend.request_headers:
        return None
    headers = dict(DEFAULT_REQUEST_HEADERS)
    for rule in frontend.request_headers:
        matching = [name for name in headers if name.lower() == rule.name.lower()]
        for name in matching:
            del headers[name]
        # An empty value makes nginx leave the header out: that is how a header is deleted.
        headers[rule.name] = '""' if rule.action == "del" else nginx_quote(rule.value or "")
    return headers


def response_header_lines(rules: list[HeaderRule]) -> list[str]:
    """`add_header`/`proxy_hide_header` lines for response header rules (set = hide the backend's, add)."""
    lines: list[str] = []
    for rule in rules:
        if rule.action in ("set", "del"):
            lines.append(f"proxy_hide_header {rule.name};")
        if rule.action in ("set", "add"):
            lines.append(f"add_header {rule.name} {nginx_quote(rule.value or '')} always;")
    return lines


def syslog_target(target: str) -> str:
    """nginx's `syslog:server=` form of a log target ('/dev/log' -> 'unix:/dev/log')."""
    return f"syslog:server=unix:{target}" if target.startswith("/") else f"syslog:server={target}"

"""The proxy layer of a load-balancer cluster: HAProxy or nginx frontends, backends, limits and pages.

Defaults are the settings that lost 0 requests in the failover measurements (DESIGN.md): HAProxy
`retries 3` + `option redispatch` + `retry-on` + `observe layer7` circuit breaking; nginx
`proxy_next_upstream error timeout http_502 http_503`. With a circuit breaker the default retry sets
leave the breaker able to see 500s (measured in the lab, drill 8): HAProxy retries every retryable
error except 500 (a retried 500 is never counted by `observe layer7`), nginx adds `http_500` (its
`max_fails` counts only what `proxy_next_upstream` retries).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, SecretStr

from hakit.spec.base import (
    DurationMs,
    IpAddress,
    Multiline,
    Name,
    Port,
    Problem,
    SpecModel,
    Token,
    parse_ip,
    shared_default,
)
from hakit.spec.proxy_routing import (
    HeaderRule,
    HostName,
    HttpMethod,
    HttpPath,
    ProxyRaw,
    RawLine,
    Route,
    haproxy_raw_problems,
    nginx_raw_problems,
)

AbsPath = Annotated[Token, Field(pattern=r"^/", description="absolute path on the host")]
"""A host path written bare into configs: one word without comment, quote, brace or variable signs."""
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}$"
)

RetryOn = Literal[
    "conn-failure",
    "empty-response",
    "junk-response",
    "response-timeout",
    "0rtt-rejected",
    "all-retryable-errors",
    "500",
    "502",
    "503",
    "504",
]
"""Retry conditions (HAProxy `retry-on` vocabulary; mapped to nginx `proxy_next_upstream`)."""

ALL_RETRYABLE_ERRORS: tuple[RetryOn, ...] = (
    "conn-failure",
    "empty-response",
    "junk-response",
    "response-timeout",
    "0rtt-rejected",
    "500",
    "502",
    "503",
    "504",
)
"""What HAProxy 2.6's `retry-on all-retryable-errors` activates (configuration.txt, `retry-on`)."""

NGINX_IDEMPOTENT: tuple[HttpMethod, ...] = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
"""What nginx replays without `non_idempotent` in `proxy_next_upstream` (all but POST, LOCK, PATCH)."""

CONNECTION_RETRIES: frozenset[str] = frozenset({"conn-failure", "0rtt-rejected"})
"""Retry conditions met before the backend received the request: safe for any method."""

DEFAULT_RETRY_ON: dict[str, list[RetryOn]] = {
    "haproxy": ["all-retryable-errors"],
    "nginx": ["conn-failure", "response-timeout", "502", "503"],
}
"""The measured zero-loss retry sets per proxy kind (used when `retry_on` is not given, without a breaker)."""

BREAKER_RETRY_ON: dict[str, list[RetryOn]] = {
    "haproxy": [retry for retry in ALL_RETRYABLE_ERRORS if retry != "500"],
    "nginx": ["conn-failure", "response-timeout", "500", "502", "503"],
}
"""The default retry sets of a backend with a circuit breaker: the breaker still sees servers answering 500.

HAProxy's `observe layer7` never counts a response it retries; nginx's `max_fails` counts a 500 only when
`proxy_next_upstream` retries it.
"""

ERROR_PAGE_STATUSES = (400, 403, 404, 405, 408, 429, 500, 502, 503, 504)
"""Statuses both HAProxy (`errorfile`) and nginx (`error_page`) can replace."""

MAX_ERROR_PAGE_BYTES = 12_000
"""HAProxy serves an error file from one buffer (16 kB by default, headers and hakit's frame included)."""

DEFAULT_ERROR_PAGES = (429, 502, 503, 504)
"""Statuses that get hakit's built-in page when `error_pages` does not name them."""


@lru_cache(maxsize=1 << 16)
def address_problem(value: str) -> str | None:
    """Why `value` is neither an IPv4/IPv6 literal nor a DNS host name (None when it is one).

    A name whose last label is all digits ('10.20.1.300') is a mistyped IPv4 address, not a host name:
    resolvers would pass it to inet_aton or DNS depending on the library.
    """
    try:
        parse_ip(value)
        return None
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", value) or re.fullmatch(r".*\.[0-9]+", value):
        return f"not a valid IPv4 address (and not a host name): {value!r}"
    if not _HOSTNAME_RE.fullmatch(value):
        return f"not an IP address or hostname: {value!r}"
    return None


def is_hostname_or_ip(value: str) -> bool:
    """True for an IPv4/IPv6 literal or a DNS hostname."""
    return address_problem(value) is None


CheckType = Literal["http", "tcp", "mysql", "pgsql", "redis", "ssl-hello"]
"""Active check protocols: HTTP request, plain TCP connect, or HAProxy's protocol-aware checks."""


class HealthCheck(SpecModel):
    """Active health check of each server (HAProxy); nginx open source checks passively only."""

    model_config = ConfigDict(frozen=True)  # one default instance is shared (`shared_default`)

    type: CheckType = Field(
        default="http", description="default for TCP backends without a health_check: tcp (connect)"
    )
    user: Token | None = Field(default=None, description="mysql/pgsql: the user the check logs in as")
    path: HttpPath = "/healthz"
    expect_status: int = Field(default=200, ge=100, le=599)
    host: Token = Field(default="localhost", pattern=r"^[A-Za-z0-9.-]+(:\d+)?$", description="Host header")
    interval: DurationMs = 2000
    timeout: DurationMs = 2000
    fall: int = Field(default=3, ge=1, le=100)
    rise: int = Field(default=2, ge=1, le=100)

    def rules(self) -> Iterator[Problem]:
        """Checks need a positive interval and timeout; database checks log in as a user."""
        for name, value in (("interval", self.interval), ("timeout", self.timeout)):
            if value < 10:
                yield Problem((name,), "must be at least 10ms")
        if self.type in ("mysql", "pgsql") and self.user is None:
            yield Problem(("user",), f"a {self.type} check logs in: give the user (no password is sent)")
        if self.user is not None and self.type not in ("mysql", "pgsql"):
            yield Problem(("user",), "only mysql and pgsql checks log in")


class CircuitBreaker(SpecModel):
    """Take a server out after N errors seen on live traffic (HAProxy `observe layer7`, nginx `max_fails`)."""

    model_config = ConfigDict(frozen=True)  # one default instance is shared (`shared_default`)

    error_limit: int = Field(
        default=10, ge=1, le=1000, description="consecutive errors (nginx: within fail_timeout)"
    )
    on_error: Literal["mark-down", "fail-check", "sudden-death", "fastinter"] = "mark-down"
    fail_timeout: DurationMs = Field(
        default=10_000, description="nginx: error window and time out of rotation"
    )


class Server(SpecModel):
    """One upstream server."""

    address: str = Field(description="IP address or hostname")
    port: Port
    weight: int = Field(default=100, ge=1, le=256)
    backup: bool = Field(
        default=False, description="used only when every non-backup server is down ('sorry')"
    )
    maxconn: int | None = Field(
        default=None, ge=1, description="queue beyond this many concurrent connections"
    )

    def rules(self) -> Iterator[Problem]:
        """The address must be an IP or a hostname (a mistyped IPv4 address is not a hostname)."""
        problem = address_problem(self.address)
        if problem is not None:
            yield Problem(("address",), problem)

    def endpoint(self) -> str:
        """`host:port`, bracketing IPv6 literals."""
        try:
            if isinstance(parse_ip(self.address), IPv6Address):
                return f"[{self.address}]:{self.port}"
        except ValueError:
            pass
        return f"{self.address}:{self.port}"


class Cookie(SpecModel):
    """Session persistence by an inserted cookie naming the server (HAProxy `cookie ... insert`)."""

    name: Token = Field(default="SERVERID", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    secure: bool = Field(default=True, description="only sent over HTTPS (add `secure`)")


class BackendTls(SpecModel):
    """TLS from the proxy to the servers, verified against a CA file."""

    ca_file: AbsPath | None = Field(
        default=None, description="PEM CA bundle the server certificate must chain to"
    )
    verify: bool = Field(default=True, description="false: encrypt without checking the server (not advised)")
    sni: HostName | None = Field(default=None, description="server name sent and verified; default: none")

    def rules(self) -> Iterator[Problem]:
        """Verification needs a CA file."""
        if self.verify and self.ca_file is None:
            yield Problem(
                ("ca_file",), "verify needs ca_file (or set verify: false, which trusts any server)"
            )


class Backend(SpecModel):
    """A pool of servers behind a frontend."""

    mode: Literal["http", "tcp"] = Field(
        default="http", description="tcp: byte streams (databases, MQTT, TLS passthrough)"
    )
    balance: Literal["roundrobin", "leastconn", "source", "random", "first", "uri"] = Field(
        default="roundrobin",
        description="source/uri hash consistently on both proxies (keys stay put when a server leaves)",
    )
    servers: dict[Name, Server] = Field(min_length=1)
    health_check: HealthCheck | None = Field(default_factory=shared_default(HealthCheck))
    cookie: Cookie | None = Field(
        default=None, description="HAProxy: stick each client to a server by cookie"
    )
    tls: BackendTls | None = Field(default=None, description="TLS to the servers")
    send_proxy: bool = Field(default=False, description="PROXY protocol v2 to the servers (client address)")
    raw: list[RawLine] = Field(
        default_factory=list, description="raw lines: HAProxy backend / nginx upstream"
    )
    retries: int = Field(default=3, ge=0, le=10, description="extra attempts on another server")
    redispatch: bool = Field(default=True, description="retry on a different server, not the same one")
    retry_on: list[RetryOn] | None = Field(
        default=None, description="default: the measured zero-loss set, keeping 500s visible to the breaker"
    )
    idempotent_methods: list[HttpMethod] = Field(
        default_factory=lambda: list(NGINX_IDEMPOTENT),
        min_length=1,
        description="requests replayed after the backend may have seen them (HAProxy disable-l7-retry "
        "for every other method; connection failures are retried for all)",
    )
    circuit_breaker: CircuitBreaker | None = Field(default_factory=shared_default(CircuitBreaker))
    keepalive: int = Field(
        default=32, ge=0, le=10_000, description="idle upstream connections kept per worker"
    )
    allow_single_server: bool = Field(
        default=False, description="accept fewer than two non-backup servers (no redundancy)"
    )

    def rules(self) -> Iterator[Problem]:
        """Redundancy: at least two non-backup servers unless explicitly waived; unique endpoints."""
        active = [name for name, server in self.servers.items() if not server.backup]
        if not active:
            yield Problem(("servers",), "every server is a backup: at least one must take traffic")
        elif len(active) < 2 and not self.allow_single_server:
            yield Problem(
                ("servers",),
                "needs at least two non-backup servers for redundancy (or set allow_single_server: true)",
            )
        seen: dict[str, str] = {}
        for name, server in self.servers.items():
            endpoint = server.endpoint()
            if endpoint in seen:
                yield Problem(
                    ("servers", name, "address"), f"same address and port as server {seen[endpoint]!r}"
                )
            else:
                seen[endpoint] = name

    def check_type(self) -> CheckType | None:
        """The active check protocol: TCP backends default to a connect check, never to an HTTP probe."""
        if self.health_check is None:
            return None
        if self.mode == "tcp" and "health_check" not in self.model_fields_set:
            return "tcp"
        return self.health_check.type

    def effective_retry_on(self, kind: str) -> list[RetryOn]:
        """`retry_on`, or the default of the proxy kind (one that keeps a circuit breaker seeing 500s)."""
        if self.retry_on is not None:
            return list(self.retry_on)
        defaults = BREAKER_RETRY_ON if self.circuit_breaker is not None else DEFAULT_RETRY_ON
        return list(defaults[kind])

    def breaker_blind_to_500(self, kind: str) -> bool:
        """True when the circuit breaker can never count a 500 because of the retry settings."""
        if self.circuit_breaker is None:
            return False
        retry_on = self.effective_retry_on(kind)
        if kind == "haproxy":
            # No retries: HAProxy renders no retry-on and observe layer7 sees every answer.
            return self.retries > 0 and ("500" in retry_on or "all-retryable-errors" in retry_on)
        # nginx: max_fails counts a 500 only when proxy_next_upstream retries it (and tries remain).
        return self.retries == 0 or not ("500" in retry_on or "all-retryable-errors" in retry_on)


class Tls(SpecModel):
    """TLS termination on a frontend."""

    cert: AbsPath = Field(description="PEM certificate chain (HAProxy: with the key appended)")
    key: AbsPath | None = Field(default=None, description="nginx private key; default: the cert file")
    port: Port = 443
    hsts_max_age: int | None = Field(default=None, ge=0, description="send Strict-Transport-Security")
    client_ca: AbsPath | None = Field(
        default=None, description="mTLS: client certificates must chain to this CA"
    )
    client_verify: Literal["required", "optional"] = Field(
        default="required", description="with client_ca: refuse clients without a valid certificate"
    )


class RateLimit(SpecModel):
    """Per-client-IP request rate limit answered with 429 (HAProxy stick-table, nginx limit_req).

    One meaning on both proxies: a client may send `requests` per `period` sustained, and a client that
    has been quiet may send `requests + burst` at once. HAProxy counts only admitted requests over a
    sliding window of `window_ms()` (threshold `capacity()`); nginx uses a leaky bucket of the same
    rate with `burst = capacity() - 1 nodelay`.
    """

    requests: int = Field(ge=1, description="requests allowed per period and client IP (sustained rate)")
    period: DurationMs = Field(default=10_000, description="the window (whole seconds)")
    burst: int = Field(default=0, ge=0, description="extra requests a quiet client may send at once")
    table_size: int = Field(default=100_000, ge=1000, description="clients tracked")

    def rules(self) -> Iterator[Problem]:
        """Windows are whole seconds (HAProxy and nginx both count in seconds)."""
        if self.period < 1000 or self.period % 1000:
            yield Problem(("period",), "must be a whole number of seconds (at least 1s)")

    def capacity(self) -> int:
        """Requests a quiet client may send at once."""
        return self.requests + self.burst

    def window_ms(self) -> int:
        """HAProxy's sliding window: `capacity()` requests in it is the sustained rate."""
        return max(1, self.period * self.capacity() // self.requests)

    def per_minute(self) -> int:
        """The same limit as requests per minute (nginx `rate=Nr/m`, at least 1)."""
        return max(1, self.requests * 60_000 // max(self.period, 1))


class Frontend(SpecModel):
    """A listener: addresses and port, optional TLS, the backend it feeds and its rate limit."""

    addresses: list[str] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        description="VIPs of the cluster to bind, or '*' (any IPv4) / '::' (any IPv6)",
    )
    port: Port = 80
    tls: Tls | None = None
    redirect_https: bool = Field(default=False, description="answer plain HTTP with a 301 to https")
    backend: Name = Field(description="the default backend (when no route matches)")
    mode: Literal["http", "tcp"] = Field(default="http", description="tcp: forward byte streams")
    routes: list[Route] = Field(default_factory=list, description="ordered: the first matching route wins")
    request_headers: list[HeaderRule] = Field(default_factory=list, description="applied in order")
    response_headers: list[HeaderRule] = Field(default_factory=list, description="applied in order")
    accept_proxy: bool = Field(default=False, description="clients speak the PROXY protocol (v1 or v2)")
    rate_limit: RateLimit | None = None
    max_connections: int | None = Field(default=None, ge=1, description="HAProxy frontend maxconn")
    raw: list[RawLine] = Field(default_factory=list, description="raw lines: HAProxy frontend / nginx server")
    raw_location: list[RawLine] = Field(default_factory=list, description="raw lines: nginx location (HTTP)")

    def rules(self) -> Iterator[Problem]:
        """Addresses parse; a redirect needs TLS; the TLS port differs from the plain one."""
        for position, address in enumerate(self.addresses):
            if address not in ("*", "::"):
                try:
                    parse_ip(address)
                except ValueError:
                    yield Problem(("addresses", position), f"not an IP address, '*' or '::': {address!r}")
        if len(set(self.addresses)) != len(self.addresses):
            yield Problem(("addresses",), "an address is listed twice")
        if self.redirect_https and self.tls is None:
            yield Problem(("redirect_https",), "needs tls (nothing to redirect to)")
        if self.tls is not None and self.tls.port == self.port:
            yield Problem(("tls", "port"), f"the plain HTTP listener already uses port {self.port}")
        if self.mode == "tcp":
            yield from self._tcp_rules()

    def _tcp_rules(self) -> Iterator[Problem]:
        """A TCP frontend forwards bytes: nothing that reads HTTP (TLS passthrough routes by SNI only)."""
        for field in ("redirect_https", "rate_limit", "tls"):
            if getattr(self, field):
                yield Problem((field,), "needs mode http (a tcp frontend does not read HTTP)")
        for field in ("request_headers", "response_headers", "raw_location"):
            if getattr(self, field):
                yield Problem((field,), "needs mode http (a tcp frontend does not read HTTP)")
        for position, route in enumerate(self.routes):
            for kind in route.conditions():
                if kind != "hosts":
                    yield Problem(
                        ("routes", position, kind),
                        "a tcp frontend routes by TLS server name (hosts) only",
                    )

    def backends(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(field path, backend name) of the default backend and every route's."""
        found: list[tuple[tuple[str | int, ...], str]] = [(("backend",), self.backend)]
        found += [
            (("routes", position, "backend"), route.backend) for position, route in enumerate(self.routes)
        ]
        return found

    def ports(self) -> list[int]:
        """Every port this frontend listens on."""
        return [self.port] + ([self.tls.port] if self.tls else [])


class Timeouts(SpecModel):
    """Proxy timeouts (HAProxy names; nginx uses the matching directives).

    Fail fast: a hung server costs a client at most `server` before the request is retried elsewhere
    (idempotent methods) or answered 504; a server dropping SYNs costs `connect` per attempt.
    """

    model_config = ConfigDict(frozen=True)  # one default instance is shared (`shared_default`)

    connect: DurationMs = 1000
    client: DurationMs = 30_000
    server: DurationMs = 5000
    http_request: DurationMs = 5000
    http_keep_alive: DurationMs = 10_000
    queue: DurationMs = 5000
    tunnel: DurationMs = 3_600_000

    def rules(self) -> Iterator[Problem]:
        """A zero timeout means 'wait forever' to HAProxy: never a safe default."""
        for name in type(self).model_fields:
            if getattr(self, name) <= 0:
                yield Problem((name,), "must be longer than 0 (0 would mean: wait forever)")


class Stats(SpecModel):
    """Statistics: HAProxy stats page + Prometheus `/metrics`; nginx `stub_status`."""

    model_config = ConfigDict(frozen=True)  # one default instance is shared (`shared_default`)

    enabled: bool = True
    address: IpAddress = Field(default=IPv4Address("127.0.0.1"))
    port: Port = 8404
    user: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    password: SecretStr | None = None

    def rules(self) -> Iterator[Problem]:
        """Credentials come in pairs and are required when stats listen beyond loopback."""
        if (self.user is None) != (self.password is None):
            yield Problem(("password" if self.password is None else "user",), "user and password go together")
        # haproxy.cfg would cut the password at '#' (a comment) or strip quotes and backslashes from it.
        if self.password is not None and re.search(r"[\s:#'\"\\]", self.password.get_secret_value()):
            yield Problem(("password",), "must not contain spaces, ':', '#', quotes or '\\'")
        if self.enabled and not self.address.is_loopback and self.password is None:
            yield Problem(("password",), "stats beyond loopback need a user and password")


class Peers(SpecModel):
    """HAProxy `peers`: stick tables (rate-limit counters) synchronised between nodes and across reloads."""

    model_config = ConfigDict(frozen=True)  # one default instance is shared (`shared_default`)

    enabled: bool = Field(default=True, description="rendered when a stick table exists (HAProxy only)")
    port: Port = Field(default=10000, description="TCP port of the peers protocol on each node's address")


DISTRIBUTION_USERS: dict[str, dict[str, tuple[str, str]]] = {
    "debian": {"haproxy": ("haproxy", "haproxy"), "nginx": ("www-data", "www-data")},
    "rhel": {"haproxy": ("haproxy", "haproxy"), "nginx": ("nginx", "nginx")},
}
"""The account each distribution's package runs the proxy as (user, group)."""

DEFAULT_VERSIONS = {"haproxy": "2.6", "nginx": "1.22"}
"""The daemon versions of Debian 12, the tested target."""


class Proxy(SpecModel):
    """The proxy running on every node of a cluster."""

    kind: Literal["haproxy", "nginx"]
    frontends: dict[Name, Frontend] = Field(min_length=1)
    backends: dict[Name, Backend] = Field(min_length=1)
    timeouts: Timeouts = Field(default_factory=shared_default(Timeouts))
    stats: Stats = Field(default_factory=shared_default(Stats))
    health_port: Port = Field(default=8405, description="loopback liveness endpoint polled by keepalived")
    error_pages: dict[int, Multiline] = Field(
        default_factory=dict, description="status -> HTML body; 429/502/503/504 have built-in pages"
    )
    max_connections: int = Field(
        default=20_000, ge=64, description="HAProxy maxconn / nginx worker_connections"
    )
    chroot: bool = Field(default=True, description="HAProxy: chroot to /var/lib/haproxy")
    distribution: Literal["debian", "rhel"] = Field(
        default="debian", description="decides the account the proxy runs as"
    )
    version: Token | None = Field(
        default=None,
        pattern=r"^[0-9]{1,2}\.[0-9]{1,3}(\.[0-9]{1,3})?$",
        description="target daemon version (default: Debian 12's, HAProxy 2.6 / nginx 1.22)",
    )
    hard_stop_after: DurationMs = Field(
        default=30_000,
        description="old workers of a reload close their last connections after this long "
        "(HAProxy hard-stop-after, nginx worker_shutdown_timeout)",
    )
    idle_close_on_response: bool = Field(
        default=True, description="HAProxy: on reload, close idle keep-alive connections after a response"
    )
    peers: Peers = Field(default_factory=shared_default(Peers))
    log_format: Literal["structured", "classic"] = Field(
        default="structured",
        description="structured: JSON access log (upstream, status, timings, retries, termination)",
    )
    log_targets: list[
        Annotated[Token, Field(pattern=r"^(/\S+|[A-Za-z0-9.-]+:\d{1,5}|\[[0-9A-Fa-f:]+\]:\d{1,5})$")]
    ] = Field(
        default_factory=list,
        description="extra syslog targets: /dev/log style sockets or host:port (UDP)",
    )
    raw: ProxyRaw = Field(
        default_factory=shared_default(ProxyRaw), description="raw lines of the proxy-wide sections"
    )
    template_dir: AbsPath | None = Field(
        default=None,
        description="directory whose haproxy/haproxy.cfg.j2 or nginx/nginx.conf.j2 replaces hakit's",
    )
    syslog: Token = Field(default="/dev/log", pattern=r"^(/\S+|\d+\.\d+\.\d+\.\d+(:\d+)?)$")

    def rules(self) -> Iterator[Problem]:
        """References, port clashes, kind-specific limits."""
        for name, frontend in self.frontends.items():
            for loc, target in frontend.backends():
                if target not in self.backends:
                    yield Problem(
                        ("frontends", name, *loc),
                        f"unknown backend {target!r} (known: {', '.join(sorted(self.backends))})",
                    )
                elif self.backends[target].mode != frontend.mode:
                    yield Problem(
                        ("frontends", name, *loc),
                        f"backend {target!r} is mode {self.backends[target].mode}, "
                        f"the frontend mode {frontend.mode}",
                    )
        yield from self._raw_rules()
        yield from self._port_rules()
        for status, body in self.error_pages.items():
            if status not in ERROR_PAGE_STATUSES:
                yield Problem(
                    ("error_pages", status),
                    f"no custom page for {status}: use one of {', '.join(map(str, ERROR_PAGE_STATUSES))}",
                )
            elif len(body.encode()) > MAX_ERROR_PAGE_BYTES:
                yield Problem(
                    ("error_pages", status),
                    f"page of {len(body.encode())} bytes: HAProxy error files must fit one buffer "
                    f"(at most {MAX_ERROR_PAGE_BYTES} bytes here; link to assets instead of inlining them)",
                )
        for name, backend in self.backends.items():
            yield from _backend_mode_rules(name, backend)
        if self.kind == "nginx":
            yield from self._nginx_rules()
        else:
            for name, backend in self.backends.items():
                if backend.circuit_breaker is not None and backend.health_check is None:
                    yield Problem(
                        ("backends", name, "circuit_breaker"),
                        "needs health_check: a server the breaker marks down only comes back through checks",
                    )

    def user(self) -> tuple[str, str]:
        """The (user, group) the proxy runs as on the target distribution."""
        return DISTRIBUTION_USERS[self.distribution][self.kind]

    def version_tuple(self) -> tuple[int, ...]:
        """The target daemon version as numbers, e.g. (1, 22)."""
        return tuple(int(part) for part in (self.version or DEFAULT_VERSIONS[self.kind]).split("."))

    def stick_tables(self) -> bool:
        """True when some frontend keeps per-client state in a stick table (HAProxy)."""
        return any(frontend.rate_limit is not None for frontend in self.frontends.values())

    def uses_peers(self) -> bool:
        """HAProxy synchronises its stick tables with the other nodes."""
        return self.kind == "haproxy" and self.peers.enabled and self.stick_tables()

    def listeners(self) -> list[tuple[tuple[str | int, ...], str, int]]:
        """Every socket the proxy binds: (field path, address, port)."""
        found: list[tuple[tuple[str | int, ...], str, int]] = [
            (("health_port",), "127.0.0.1", self.health_port)
        ]
        if self.stats.enabled:
            found.append((("stats", "port"), str(self.stats.address), self.stats.port))
        for name, frontend in self.frontends.items():
            for address in frontend.addresses:
                found.append((("frontends", name, "port"), address, frontend.port))
                if frontend.tls:
                    found.append((("frontends", name, "tls", "port"), address, frontend.tls.port))
        if self.uses_peers():
            found.append((("peers", "port"), NODE_ADDRESS, self.peers.port))
        return found

    def _port_rules(self) -> Iterator[Problem]:
        listeners = self.listeners()
        for position, (loc, address, port) in enumerate(listeners):
            for other_loc, other_address, other_port in listeners[:position]:
                if port == other_port and _sockets_overlap(address, other_address):
                    where = ".".join(map(str, other_loc))
                    yield Problem(loc, f"{address} port {port} is already used by {where}")
                    break

    def _raw_rules(self) -> Iterator[Problem]:
        """Raw lines stay in their section: the checks of the daemon that reads them."""
        given = (
            self.raw.any()
            or any(frontend.raw or frontend.raw_location for frontend in self.frontends.values())
            or any(backend.raw for backend in self.backends.values())
        )
        if not given:
            return  # the usual case; a generator per empty section adds up in a large fleet
        if self.kind == "haproxy":
            yield from haproxy_raw_problems(self.raw.global_, ("raw", "global"))
            yield from haproxy_raw_problems(self.raw.defaults, ("raw", "defaults"))
            if self.raw.http:
                yield Problem(("raw", "http"), "nginx only (HAProxy: use global or defaults)")
            for name, frontend in self.frontends.items():
                yield from haproxy_raw_problems(frontend.raw, ("frontends", name, "raw"))
                if frontend.raw_location:
                    yield Problem(("frontends", name, "raw_location"), "nginx only (HAProxy: use raw)")
            for name, backend in self.backends.items():
                yield from haproxy_raw_problems(backend.raw, ("backends", name, "raw"))
            return
        yield from nginx_raw_problems(self.raw.http, ("raw", "http"))
        for field, lines in (("global", self.raw.global_), ("defaults", self.raw.defaults)):
            if lines:
                yield Problem(("raw", field), "HAProxy only (nginx: use http)")
        for name, frontend in self.frontends.items():
            yield from nginx_raw_problems(frontend.raw, ("frontends", name, "raw"))
            yield from nginx_raw_problems(frontend.raw_location, ("frontends", name, "raw_location"))
        for name, backend in self.backends.items():
            yield from nginx_raw_problems(backend.raw, ("backends", name, "raw"))

    def unmodelled(self) -> list[str]:
        """Dotted field paths (relative to the proxy) holding raw lines: what the model does not describe."""
        found = [
            f"raw.{field}"
            for field in ("global", "defaults", "http")
            if getattr(self.raw, field.replace("global", "global_"))
        ]
        for name, frontend in self.frontends.items():
            found += [
                f"frontends.{name}.{field}" for field in ("raw", "raw_location") if getattr(frontend, field)
            ]
        found += [f"backends.{name}.raw" for name, backend in self.backends.items() if backend.raw]
        if self.template_dir is not None:
            found.append("template_dir")
        return found

    def _nginx_sni_rules(self, name: str, frontend: Frontend) -> Iterator[Problem]:
        """nginx routes by SNI with one `proxy_pass $variable`: the backends share the server's settings."""
        default = _stream_settings(self.backends[frontend.backend])
        for position, route in enumerate(frontend.routes):
            if route.backend in self.backends and _stream_settings(self.backends[route.backend]) != default:
                yield Problem(
                    ("frontends", name, "routes", position, "backend"),
                    f"nginx: backend {route.backend!r} must match {frontend.backend!r} in send_proxy, tls "
                    "and retries (one stream server proxies to every route)",
                )

    def _nginx_rules(self) -> Iterator[Problem]:
        if self.stats.password is not None:
            yield Problem(("stats", "password"), "nginx stub_status takes no password: keep it on loopback")
        for name, backend in self.backends.items():
            if backend.balance == "first":
                yield Problem(("backends", name, "balance"), f"nginx has no {backend.balance!r} balancing")
            has_backup = any(server.backup for server in backend.servers.values())
            if has_backup and backend.balance in ("source", "random", "uri"):
                yield Problem(
                    ("backends", name, "balance"),
                    "nginx allows backup servers only with roundrobin or leastconn",
                )
            if backend.cookie is not None:
                yield Problem(
                    ("backends", name, "cookie"),
                    "nginx open source cannot insert a persistence cookie: use balance source (or uri)",
                )
            if backend.send_proxy and backend.mode == "http":
                yield Problem(
                    ("backends", name, "send_proxy"),
                    "nginx sends the PROXY protocol only in mode tcp (stream)",
                )
            if (
                backend.mode == "tcp"
                and backend.tls is not None
                and backend.tls.sni is None
                and backend.tls.verify
            ):
                yield Problem(
                    ("backends", name, "tls", "sni"),
                    "nginx stream verifies the server name it sends: give sni",
                )
            if backend.circuit_breaker is not None and backend.circuit_breaker.on_error != "mark-down":
                yield Problem(
                    ("backends", name, "circuit_breaker", "on_error"),
                    "nginx only marks servers down (max_fails/fail_timeout)",
                )
            for position, retry in enumerate(backend.retry_on or []):
                if retry == "0rtt-rejected":
                    yield Problem(
                        ("backends", name, "retry_on", position), "nginx has no 0rtt-rejected retry"
                    )
        for name, frontend in self.frontends.items():
            for position, rule in enumerate(frontend.request_headers):
                if rule.action == "add":
                    yield Problem(
                        ("frontends", name, "request_headers", position, "action"),
                        "nginx can only set or delete a request header (proxy_set_header replaces)",
                    )
            for field in ("request_headers", "response_headers"):
                for position, rule in enumerate(getattr(frontend, field)):
                    if rule.value is not None and "$" in rule.value:
                        yield Problem(
                            ("frontends", name, field, position, "value"),
                            "nginx cannot write '$' literally (it starts a variable)",
                        )
            for position, route in enumerate(frontend.routes):
                if route.header is not None and route.header.value is not None and "$" in route.header.value:
                    yield Problem(
                        ("frontends", name, "routes", position, "header", "value"),
                        "nginx cannot compare with a literal '$' (use regex with \\$)",
                    )
            routed = {route.backend for route in frontend.routes} - {frontend.backend}
            if len(routed) > 20:
                yield Problem(
                    ("frontends", name, "routes"), "nginx: at most 20 distinct backends behind the routes"
                )
            if frontend.mode == "tcp" and frontend.backend in self.backends:
                yield from self._nginx_sni_rules(name, frontend)
            if frontend.max_connections is not None:
                yield Problem(
                    ("frontends", name, "max_connections"),
                    "nginx has no per-frontend limit (use max_connections)",
                )
        for name, backend in self.backends.items():
            methods = set(backend.idempotent_methods)
            if methods != set(NGINX_IDEMPOTENT) and methods != set(NGINX_IDEMPOTENT) | {"POST", "PATCH"}:
                yield Problem(
                    ("backends", name, "idempotent_methods"),
                    "nginx replays every method but POST, LOCK and PATCH (or with them all): use "
                    f"[{', '.join(NGINX_IDEMPOTENT)}] or add POST and PATCH",
                )


def _stream_settings(backend: Backend) -> tuple[object, ...]:
    """What an nginx stream server sets for its backend (one server proxies to every SNI route)."""
    return (backend.send_proxy, backend.tls, backend.retries, backend.effective_retry_on("nginx"))


def _backend_mode_rules(name: str, backend: Backend) -> Iterator[Problem]:
    """What a TCP backend cannot do, and which checks need which mode."""
    check = backend.check_type()
    if backend.mode == "tcp":
        if backend.cookie is not None:
            yield Problem(("backends", name, "cookie"), "needs mode http (cookies are HTTP)")
        if backend.balance == "uri":
            yield Problem(("backends", name, "balance"), "needs mode http (a tcp backend sees no URI)")
    elif check in ("mysql", "pgsql", "redis", "ssl-hello"):
        yield Problem(("backends", name, "health_check", "type"), f"a {check} check needs mode tcp")


NODE_ADDRESS = "each node's address"
"""Stands for each node's own address in `Proxy.listeners` (it collides only with wildcards)."""


def _sockets_overlap(first: str, second: str) -> bool:
    """Two bind addresses collide on the same port: equal, or one is the wildcard of the other's family."""
    family_first, family_second = ":" in first, ":" in second
    if family_first != family_second:
        return False
    return first == second or first in ("*", "::") or second in ("*", "::")

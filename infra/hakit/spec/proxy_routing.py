"""Layer-7 routing, header rules and raw config lines of the proxy layer (HAProxy and nginx alike)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from hakit.spec.base import Name, Problem, SpecModel, Text

HttpMethod = Literal["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "POST", "PATCH"]
"""Methods a route can match and a backend may declare safe to replay."""

HttpPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$", max_length=2048)]
"""An absolute URL path (RFC 3986 characters); renderers quote it."""

HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")]
"""An HTTP header field name (letters, digits, '-'; nginx cannot name others in `$http_*`)."""

HostName = Annotated[
    str,
    Field(
        pattern=r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}$",
        max_length=253,
    ),
]
"""A DNS host name a request's Host header is compared with ('*.example.com' matches any subdomain)."""


class HeaderMatch(SpecModel):
    """A request header condition: exact value, or a PCRE regex."""

    name: HeaderName
    value: Text | None = Field(default=None, description="exact value (case-sensitive)")
    regex: Text | None = Field(default=None, description="PCRE the value must match")

    def rules(self) -> Iterator[Problem]:
        """Exactly one of value / regex."""
        if (self.value is None) == (self.regex is None):
            yield Problem(("value",), "give exactly one of value or regex")
        if self.regex is not None:
            yield from regex_problems(self.regex, ("regex",))


class Route(SpecModel):
    """Send matching requests to `backend`; every condition given must hold (AND), lists match any entry."""

    backend: Name
    hosts: list[HostName] = Field(default_factory=list, description="Host header without port, any of")
    path_prefixes: list[HttpPath] = Field(default_factory=list, description="path starts with any of")
    path_regex: Text | None = Field(default=None, description="PCRE over the path")
    methods: list[HttpMethod] = Field(default_factory=list, description="request method, any of")
    header: HeaderMatch | None = None

    def rules(self) -> Iterator[Problem]:
        """A route needs a condition (the frontend's `backend` is the default)."""
        if not (self.hosts or self.path_prefixes or self.path_regex or self.methods or self.header):
            yield Problem(
                ("backend",),
                "a route needs a condition (hosts, path_prefixes, path_regex, methods or header)",
            )
        if self.path_regex is not None:
            yield from regex_problems(self.path_regex, ("path_regex",))

    def conditions(self) -> list[str]:
        """The kinds of condition this route tests, in a fixed order."""
        kinds = [
            ("hosts", bool(self.hosts)),
            ("path_prefixes", bool(self.path_prefixes)),
            ("path_regex", self.path_regex is not None),
            ("methods", bool(self.methods)),
            ("header", self.header is not None),
        ]
        return [kind for kind, present in kinds if present]


class HeaderRule(SpecModel):
    """Set, add or delete a header (requests: before they reach the backend; responses: before the client)."""

    action: Literal["set", "add", "del"]
    name: HeaderName
    value: Text | None = Field(default=None, description="for set/add; literal text")

    def rules(self) -> Iterator[Problem]:
        """set/add need a value; del takes none."""
        if self.action == "del" and self.value is not None:
            yield Problem(("value",), "del takes no value")
        if self.action != "del" and self.value is None:
            yield Problem(("value",), f"{self.action} needs a value")


RawLine = Annotated[Text, Field(min_length=1)]
"""One unmodelled config line, written as is at the end of its section (checked by the real daemon)."""

HAPROXY_SECTIONS = frozenset(
    (
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "peers",
        "resolvers",
        "userlist",
        "mailers",
        "program",
        "http-errors",
        "ring",
        "cache",
        "fcgi-app",
        "crt-store",
        "traces",
    )
)
"""Keywords that open a new HAProxy section: a raw line starting with one would leave its section."""


class ProxyRaw(SpecModel):
    """Raw lines of the proxy-wide sections (an escape hatch; `hakit report` flags them as unmodelled)."""

    model_config = ConfigDict(frozen=True)  # one default instance is shared (`shared_default`)

    global_: list[RawLine] = Field(default_factory=list, alias="global", description="HAProxy global")
    defaults: list[RawLine] = Field(default_factory=list, description="HAProxy defaults")
    http: list[RawLine] = Field(default_factory=list, description="nginx http block")

    def any(self) -> bool:
        """True when some line is given."""
        return bool(self.global_ or self.defaults or self.http)


def regex_problems(pattern: str, loc: tuple[str | int, ...]) -> Iterator[Problem]:
    """A regex both proxies (PCRE2) read; Python's `re` is close enough to catch typos before the daemons."""
    try:
        re.compile(pattern)
    except re.error as err:
        yield Problem(loc, f"not a valid regular expression: {err}")


def haproxy_raw_problems(lines: list[str], loc: tuple[str | int, ...]) -> Iterator[Problem]:
    """A raw HAProxy line must not start a section (it would end the one it is written in)."""
    for position, line in enumerate(lines):
        words = line.split()
        if not words:
            yield Problem((*loc, position), "empty raw line")
        elif words[0].lower() in HAPROXY_SECTIONS:
            yield Problem(
                (*loc, position), f"{words[0]!r} starts a new HAProxy section: raw lines stay in theirs"
            )


def nginx_raw_problems(lines: list[str], loc: tuple[str | int, ...]) -> Iterator[Problem]:
    """A raw nginx line must close every block it opens, never close one it did not, and end its directive."""
    for position, line in enumerate(lines):
        problem = _nginx_line_problem(line)
        if problem is not None:
            yield Problem((*loc, position), problem)


def _nginx_line_problem(line: str) -> str | None:
    """Read `line` the way nginx tokenizes: quotes, backslash escapes, '#' comments, then count braces."""
    depth = 0
    quote: str | None = None
    escaped = False
    last = ""
    for char in line:
        if escaped:
            escaped = False
            continue
        if char == "\\":
            escaped = True
            continue
        if quote is not None:
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif char == "#":
            break
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return "'}' closes a block the line did not open: raw lines stay in their block"
        if not char.isspace():
            last = char
    if quote is not None or escaped:
        return "unterminated quote or trailing backslash"
    if depth:
        return "'{' without its '}' on the same line: raw lines stay in their block"
    if not line.strip() or line.lstrip().startswith("#"):
        return "empty raw line (or only a comment)"
    if last not in (";", "}"):
        return "must end with ';' or '}' (a directive left open would swallow the next line)"
    return None

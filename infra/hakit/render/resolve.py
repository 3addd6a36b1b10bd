"""Server host names a checked HAProxy config would start without (a warning, not an error).

nginx refuses to load a config whose upstream name does not resolve, so `--validate` already fails on
it. HAProxy is rendered with `init-addr last,libc,none`: it starts with such a server in maintenance and
says nothing, so a typo would only show as a server that never comes up. The check resolves each name
the way the daemon will on this machine (libc: /etc/hosts, then DNS).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

Resolver = Callable[..., Any]

_SERVER_RE = re.compile(r"^\s*server\s+(\S+)\s+(\[[^\]]+\]|[^\s:]+):\d+", re.MULTILINE)


def server_names(haproxy_cfg: str) -> list[tuple[str, str]]:
    """(server, host name) of every `server` line whose address is a name, not an IP literal."""
    found = []
    for server, address in _SERVER_RE.findall(haproxy_cfg):
        try:
            ip_address(address.strip("[]"))
        except ValueError:
            found.append((server, address))
    return found


def unresolved_notes(haproxy_cfg: str, resolve: Resolver | None = None) -> list[str]:
    """One note per server name that does not resolve here (each name looked up once)."""
    resolve = resolve or socket.getaddrinfo
    notes: list[str] = []
    answers: dict[str, bool] = {}
    for server, name in server_names(haproxy_cfg):
        if name not in answers:
            try:
                resolve(name, None, type=socket.SOCK_STREAM)
                answers[name] = True
            except (OSError, UnicodeError):
                answers[name] = False
        if not answers[name]:
            notes.append(
                f"server {server}: host name {name!r} does not resolve here; HAProxy starts with it in "
                "maintenance (init-addr none) and it never takes traffic until it resolves"
            )
    return notes

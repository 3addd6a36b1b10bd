"""Server host names: a name that does not resolve where the config is checked is a warning (HAProxy
would start without the server); no test here asks a real DNS server anything."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hakit.render.resolve import server_names, unresolved_notes
from hakit.render.validate import validate_tree
from proxy_inventory import inventory, proxy_of, rendered
from support import require_binaries, require_root

CFG = """backend b
    server a 198.18.8.21:8080 check
    server b app-1.internal:8080 check
    server c [fd00::5]:8080
    server d typo.internal:8080
    server e app-1.internal:9090
"""


def fake_resolver(known: set[str]) -> Any:
    calls: list[str] = []

    def resolve(name: str, *_: Any, **__: Any) -> list[Any]:
        calls.append(name)
        if name in known:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("198.18.8.99", 0))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def test_only_names_are_looked_up_once_each() -> None:
    assert server_names(CFG) == [("b", "app-1.internal"), ("d", "typo.internal"), ("e", "app-1.internal")]
    resolve = fake_resolver({"app-1.internal"})
    notes = unresolved_notes(CFG, resolve)
    assert notes == [
        "server d: host name 'typo.internal' does not resolve here; HAProxy starts with it in maintenance "
        "(init-addr none) and it never takes traffic until it resolves"
    ]
    assert resolve.calls == ["app-1.internal", "typo.internal"]


@pytest.mark.daemons
def test_validation_warns_about_a_name_haproxy_would_start_without(monkeypatch: pytest.MonkeyPatch) -> None:
    require_binaries("haproxy", "keepalived", "nginx", "ip", "openssl")
    require_root()
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver(set()))
    data = inventory("haproxy")
    proxy_of(data)["backends"]["web"]["servers"]["a"]["address"] = "typo.internal"
    report = validate_tree(rendered(data))
    assert report.ok  # a warning, not a failure: the host's resolver may know the name
    notes = {note for result in report.results for note in result.notes}
    assert any("'typo.internal' does not resolve here" in note for note in notes), notes

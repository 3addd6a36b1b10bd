"""Property tests: any valid generated inventory renders configs the real daemons accept; any inventory
broken by one rule gives a clean `FILE:LINE: path: problem` error, exit 2, and writes nothing."""

from __future__ import annotations

import copy
import io
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hakit import cli
from hakit.render import render_inventory
from hakit.render.validate import validate_tree
from hakit.spec.inventory import Inventory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from support import require_binaries, require_root

Data = dict[str, Any]


@st.composite
def backends(draw: st.DrawFn, kind: str, cluster: int, index: int) -> Data:
    """A backend with 2-4 active servers (unique endpoints) and maybe a backup."""
    active = draw(st.integers(2, 4))
    servers: Data = {
        f"s{n}": {"address": f"198.19.{cluster}.{10 * index + n + 1}", "port": draw(st.integers(1024, 65535))}
        for n in range(active)
    }
    for server in servers.values():
        if draw(st.booleans()):
            server["weight"] = draw(st.integers(1, 256))
        if draw(st.booleans()):
            server["maxconn"] = draw(st.integers(1, 5000))
    if draw(st.booleans()):
        servers["sorry"] = {"address": f"198.19.{cluster}.{10 * index + 9}", "port": 8080, "backup": True}
    balances = ["roundrobin", "leastconn"]
    if kind == "haproxy":
        balances += ["source", "random", "first", "uri"]
    elif "sorry" not in servers:
        balances += ["source", "random"]
    backend: Data = {"servers": servers, "balance": draw(st.sampled_from(balances))}
    backend["retries"] = draw(st.integers(0, 5))
    if draw(st.booleans()):
        choices = [
            "conn-failure",
            "empty-response",
            "junk-response",
            "response-timeout",
            "500",
            "502",
            "503",
            "504",
        ]
        backend["retry_on"] = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=4, unique=True))
    if kind == "haproxy" and draw(st.booleans()):
        backend["health_check"] = {
            "path": draw(st.sampled_from(["/", "/healthz", "/status/ready"])),
            "expect_status": draw(st.sampled_from([200, 204, 301])),
            "interval": draw(st.sampled_from(["200ms", "1s", "2s"])),
            "fall": draw(st.integers(1, 5)),
            "rise": draw(st.integers(1, 5)),
        }
    if draw(st.booleans()):
        modes = (
            ["mark-down", "fail-check", "sudden-death", "fastinter"] if kind == "haproxy" else ["mark-down"]
        )
        backend["circuit_breaker"] = {
            "error_limit": draw(st.integers(1, 50)),
            "on_error": draw(st.sampled_from(modes)),
        }
    elif draw(st.booleans()):
        backend["circuit_breaker"] = None
    if kind == "haproxy" and draw(st.booleans()):
        backend["cookie"] = {
            "name": draw(st.sampled_from(["SRV", "route_id"])),
            "secure": draw(st.booleans()),
        }
    if draw(st.booleans()):
        tls: Data = {
            "ca_file": "/etc/ssl/certs/backend-ca.pem",
            "sni": draw(st.sampled_from(["app.internal", "x.y"])),
        }
        if kind == "haproxy" and draw(st.booleans()):
            tls = {"verify": False}
        backend["tls"] = tls
    return backend


@st.composite
def tcp_backends(draw: st.DrawFn, kind: str, cluster: int) -> Data:
    """A TCP backend (database, MQTT, TLS passthrough) with a protocol-aware check where HAProxy has one."""
    servers = {
        f"t{n}": {
            "address": f"198.19.{cluster}.{200 + n}",
            "port": draw(st.sampled_from([3306, 5432, 6379, 1883])),
        }
        for n in range(2)
    }
    backend: Data = {"mode": "tcp", "servers": servers}
    backend["balance"] = draw(st.sampled_from(["roundrobin", "leastconn", "source"]))
    if kind == "haproxy":
        check = draw(st.sampled_from(["tcp", "mysql", "pgsql", "redis", "ssl-hello", None]))
        if check is not None:
            backend["health_check"] = {
                "type": check,
                **({"user": "hakit"} if check in ("mysql", "pgsql") else {}),
            }
    if draw(st.booleans()):
        backend["send_proxy"] = True
    return backend


def routes(draw: st.DrawFn, backend_names: list[str]) -> list[Data]:
    """1-3 ordered routes, each with 1-3 conditions."""
    found = []
    for _ in range(draw(st.integers(1, 3))):
        route: Data = {"backend": draw(st.sampled_from(backend_names))}
        kinds = draw(
            st.lists(
                st.sampled_from(["hosts", "path_prefixes", "path_regex", "methods", "header"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        if "hosts" in kinds:
            route["hosts"] = draw(
                st.lists(
                    st.sampled_from(["a.example", "*.b.example", "c-1.example"]),
                    min_size=1,
                    max_size=2,
                    unique=True,
                )
            )
        if "path_prefixes" in kinds:
            route["path_prefixes"] = draw(
                st.lists(
                    st.sampled_from(["/api/", "/v1.0/", "/a'b", "/x(y)"]), min_size=1, max_size=2, unique=True
                )
            )
        if "path_regex" in kinds:
            route["path_regex"] = draw(st.sampled_from(["^/static/.*\\.(css|js)$", "^/u/[0-9]+$", '/a b"c']))
        if "methods" in kinds:
            route["methods"] = draw(
                st.lists(
                    st.sampled_from(["GET", "POST", "PUT", "DELETE"]), min_size=1, max_size=2, unique=True
                )
            )
        if "header" in kinds:
            name = draw(st.sampled_from(["X-Tenant", "User-Agent"]))
            if draw(st.booleans()):
                route["header"] = {
                    "name": name,
                    "value": draw(st.sampled_from(["blue", "a b", 'q"uote', "50%"])),
                }
            else:
                route["header"] = {"name": name, "regex": draw(st.sampled_from(["^curl/", "(?i)bot$"]))}
        found.append(route)
    return found


@st.composite
def clusters(draw: st.DrawFn, index: int, hosts: Data) -> Data:
    """One load-balancer cluster on its own /24, adding its nodes to `hosts`."""
    kind = draw(st.sampled_from(["haproxy", "nginx"]))
    version = draw(st.sampled_from([2, 3]))
    ifname = draw(st.sampled_from(["eth0", "bond0", "ens3"]))
    with_v6 = version == 3 and draw(st.booleans())
    count = draw(st.integers(2, 3))
    priorities = draw(st.lists(st.integers(1, 254), min_size=count, max_size=count, unique=True))
    nodes: Data = {}
    for n in range(count):
        name = f"c{index}n{n}"
        interface: Data = {"address": f"198.18.{10 + index}.{11 + n}/24"}
        if with_v6:
            interface["address6"] = f"fd00:{index}::{11 + n}/64"
        hosts[name] = {"interfaces": {ifname: interface}}
        nodes[name] = {"priority": priorities[n]}
    vip4 = f"198.18.{10 + index}.100"
    vip6 = f"fd00:{index}::100"
    nopreempt = draw(st.booleans())
    instance: Data = {"interface": ifname, "vrid": 10 + index, "vips": [f"{vip4}/24"], "nopreempt": nopreempt}
    if not nopreempt and draw(st.booleans()):
        instance["preempt_delay"] = draw(st.integers(1, 60))
    if draw(st.booleans()):
        instance["routed_vips"] = [f"203.0.113.{index + 1}/32"]
    instances: Data = {"VI4": instance}
    if with_v6:
        instances["VI6"] = {"interface": ifname, "vrid": 10 + index, "vips": [f"{vip6}/64"]}
    advert = draw(st.integers(1, 5)) if version == 2 else draw(st.integers(1, 300)) / 100
    vrrp: Data = {
        "version": version,
        "advert_int": advert,
        "unicast": draw(st.booleans()),
        "instances": instances,
        "track_proxy": {
            "enabled": draw(st.booleans()),
            "interval": f"{draw(st.integers(1, 3))}s",
            "fall": draw(st.integers(1, 5)),
            "rise": draw(st.integers(1, 5)),
        },
        "notify": draw(st.booleans()),
        "garp": {"master_delay": draw(st.integers(0, 10)), "master_refresh": draw(st.integers(0, 60))},
    }
    if with_v6 and draw(st.booleans()):
        vrrp["sync_groups"] = {"G": ["VI4", "VI6"]}
    if version == 2 and draw(st.booleans()):
        vrrp["auth"] = {"password": draw(st.text("abcXYZ019", min_size=1, max_size=8))}
    backend_count = draw(st.integers(1, 2))
    backend_map = {f"b{k}": draw(backends(kind, index, k)) for k in range(backend_count)}
    if draw(st.booleans()):
        backend_map["routed"] = draw(backends(kind, index, 3))
    frontends: Data = {}
    for k in range(draw(st.integers(1, 2))):
        addresses = draw(st.sampled_from([[vip4], [vip4, vip6] if with_v6 else [vip4], ["*"]]))
        frontend: Data = {"addresses": addresses, "port": 8000 + k, "backend": f"b{k % backend_count}"}
        if draw(st.booleans()):
            frontend["tls"] = {"cert": f"/etc/ssl/private/site{k}.pem", "port": 9443 + k}
            frontend["redirect_https"] = draw(st.booleans())
            if draw(st.booleans()):
                frontend["tls"]["hsts_max_age"] = 31536000
        if draw(st.booleans()):
            frontend["rate_limit"] = {
                "requests": draw(st.integers(1, 1000)),
                "period": f"{draw(st.integers(1, 60))}s",
                "burst": draw(st.integers(0, 50)),
            }
        http_backends = [name for name in backend_map if name != "tcp"]
        if draw(st.booleans()):
            frontend["routes"] = routes(draw, http_backends)
        if draw(st.booleans()):
            actions = ["set", "del"] + (["add"] if kind == "haproxy" else [])
            frontend["request_headers"] = [
                {"action": action, "name": "X-Hakit", **({} if action == "del" else {"value": "v 100% 'q'"})}
                for action in draw(st.lists(st.sampled_from(actions), min_size=1, max_size=2))
            ]
            frontend["response_headers"] = [{"action": "set", "name": "X-Frame-Options", "value": "DENY"}]
        if draw(st.booleans()):
            frontend["accept_proxy"] = True
        if frontend.get("tls") and draw(st.booleans()):
            frontend["tls"]["client_ca"] = "/etc/ssl/certs/clients.pem"
        if draw(st.booleans()):
            frontend["raw"] = (
                ["option http-ignore-probes"] if kind == "haproxy" else ["client_max_body_size 1m;"]
            )
        frontends[f"f{k}"] = frontend
    if draw(st.booleans()):
        backend_map["tcp"] = draw(tcp_backends(kind, index))
        tcp: Data = {"mode": "tcp", "addresses": [vip4], "port": 7000, "backend": "tcp"}
        if draw(st.booleans()):
            tcp["routes"] = [{"backend": "tcp", "hosts": ["db.example"]}]
        if draw(st.booleans()):
            tcp["accept_proxy"] = True
        frontends["tcp"] = tcp
    proxy: Data = {
        "kind": kind,
        "frontends": frontends,
        "backends": backend_map,
        "timeouts": {
            "connect": draw(st.sampled_from(["100ms", "1s", "5s"])),
            "server": draw(st.sampled_from(["500ms", "30s", "2m"])),
        },
        "stats": {"enabled": draw(st.booleans())},
        "max_connections": draw(st.integers(64, 4000)),
    }
    if kind == "haproxy" and draw(st.booleans()):
        proxy["stats"].update(
            {"user": "admin", "password": draw(st.text("abcXYZ019", min_size=1, max_size=12))}
        )
    if draw(st.booleans()):
        proxy["error_pages"] = {draw(st.sampled_from([503, 429, 404])): "<p>Back soon.</p>"}
    proxy["log_format"] = draw(st.sampled_from(["structured", "classic"]))
    if draw(st.booleans()):
        proxy["log_targets"] = ["/dev/log", "198.18.0.9:514"]
    if draw(st.booleans()):
        proxy["raw"] = (
            {"defaults": ["option http-buffer-request"]}
            if kind == "haproxy"
            else {"http": ["tcp_nodelay on;"]}
        )
    return {"nodes": nodes, "vrrp": vrrp, "proxy": proxy}


@st.composite
def inventories(draw: st.DrawFn) -> Data:
    """A valid inventory of 1-2 clusters."""
    hosts: Data = {}
    load_balancers = {f"lb{i}": draw(clusters(i, hosts)) for i in range(draw(st.integers(1, 2)))}
    return {"version": 1, "hosts": hosts, "load_balancers": load_balancers}


def dump(data: Data, path: Path) -> Path:
    yaml = YAML()
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.mark.daemons
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inventories())
def test_valid_inventories_render_configs_the_daemons_accept(data: Data) -> None:
    require_binaries("haproxy", "keepalived", "nginx", "ip", "openssl")
    require_root()
    inv = Inventory.model_validate(data)
    tree = render_inventory(inv, source="generated.yaml")
    report = validate_tree(tree)
    assert report.ok, [(r.host, r.path, r.message) for r in report.failures]
    assert not report.skipped


def _first(data: Data) -> Data:
    return data["load_balancers"]["lb0"]


def _equal_priorities(data: Data) -> None:
    nodes = list(_first(data)["nodes"].values())
    nodes[1]["priority"] = nodes[0]["priority"]


def _auth_on_v3(data: Data) -> None:
    _first(data)["vrrp"].update({"version": 3, "advert_int": 1, "auth": {"password": "x"}})


def _unknown_backend(data: Data) -> None:
    next(iter(_first(data)["proxy"]["frontends"].values()))["backend"] = "missing"


def _port_out_of_range(data: Data) -> None:
    next(iter(_first(data)["proxy"]["backends"]["b0"]["servers"].values()))["port"] = 70000


def _vip_outside_subnet(data: Data) -> None:
    _first(data)["vrrp"]["instances"]["VI4"]["vips"] = ["203.0.113.77/24"]


def _missing_interface(data: Data) -> None:
    _first(data)["vrrp"]["instances"]["VI4"]["interface"] = "nope0"


def _unknown_field(data: Data) -> None:
    _first(data)["proxy"]["frontends"]["f0"]["colour"] = "red"


def _fractional_v2(data: Data) -> None:
    _first(data)["vrrp"].update({"version": 2, "advert_int": 0.5})
    _first(data)["vrrp"]["instances"].pop("VI6", None)
    _first(data)["vrrp"].pop("sync_groups", None)


def _unknown_host(data: Data) -> None:
    _first(data)["nodes"]["ghost"] = {"priority": 1}


def _only_backups(data: Data) -> None:
    for server in _first(data)["proxy"]["backends"]["b0"]["servers"].values():
        server["backup"] = True


def _raw_line_leaves_its_section(data: Data) -> None:
    proxy = _first(data)["proxy"]
    proxy["raw"] = {"defaults": ["backend evil"]} if proxy["kind"] == "haproxy" else {"http": ["} server {"]}


def _route_to_unknown_backend(data: Data) -> None:
    _first(data)["proxy"]["frontends"]["f0"]["routes"] = [{"backend": "missing", "methods": ["GET"]}]


def _mistyped_ipv4_server(data: Data) -> None:
    next(iter(_first(data)["proxy"]["backends"]["b0"]["servers"].values()))["address"] = "10.20.1.300"


BREAKERS: list[Callable[[Data], None]] = [
    _raw_line_leaves_its_section,
    _route_to_unknown_backend,
    _mistyped_ipv4_server,
    _equal_priorities,
    _auth_on_v3,
    _unknown_backend,
    _port_out_of_range,
    _vip_outside_subnet,
    _missing_interface,
    _unknown_field,
    _fractional_v2,
    _unknown_host,
    _only_backups,
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inventories(), st.sampled_from(BREAKERS))
def test_invalid_inventories_fail_cleanly_and_write_nothing(
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    data: Data,
    breaker: Callable[[Data], None],
) -> None:
    broken = copy.deepcopy(data)
    breaker(broken)
    work = tmp_path_factory.mktemp("invalid")
    path = dump(broken, work / "inventory.yaml")
    out = work / "out"
    saved = sys.argv
    sys.argv = ["hakit", "render", str(path), "-o", str(out)]
    try:
        with pytest.raises(SystemExit) as done:
            cli.main()
    finally:
        sys.argv = saved
    captured = capsys.readouterr()
    assert done.value.code == 2, breaker.__name__
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert lines, breaker.__name__
    for line in lines:
        assert re.match(rf"^{re.escape(str(path))}:\d+: \S+: .+$", line), line
    assert not out.exists()

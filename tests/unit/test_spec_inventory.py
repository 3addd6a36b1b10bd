"""The inventory model: the example is valid; every cross-field rule has a failing case with its message."""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hakit.errors import SpecError
from hakit.spec.inventory import Inventory, load_inventory
from ruamel.yaml import YAML

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.yaml"

BASE: dict[str, Any] = {
    "version": 1,
    "hosts": {
        "lb1": {
            "interfaces": {
                "eth0": {"address": "198.18.1.11/24", "address6": "fd00:1::11/64"},
                "eth1": {"address": "198.18.2.11/24"},
            }
        },
        "lb2": {
            "interfaces": {
                "eth0": {"address": "198.18.1.12/24", "address6": "fd00:1::12/64"},
                "eth1": {"address": "198.18.2.12/24"},
            }
        },
        "lb3": {"interfaces": {"eth0": {"address": "198.18.1.13/24"}}},
        "lb4": {"interfaces": {"eth0": {"address": "198.18.1.14/24"}}},
    },
    "load_balancers": {
        "edge": {
            "nodes": {"lb1": {"priority": 150}, "lb2": {"priority": 100}},
            "vrrp": {
                "instances": {
                    "VI_4": {"interface": "eth0", "vrid": 51, "vips": ["198.18.1.100/24"]},
                }
            },
            "proxy": {
                "kind": "haproxy",
                "frontends": {"www": {"addresses": ["198.18.1.100"], "port": 80, "backend": "web"}},
                "backends": {
                    "web": {
                        "servers": {
                            "a": {"address": "198.18.2.21", "port": 8080},
                            "b": {"address": "198.18.2.22", "port": 8080},
                        }
                    }
                },
            },
        }
    },
}

Mutation = Callable[[dict[str, Any]], None]


def edge(data: dict[str, Any]) -> dict[str, Any]:
    return data["load_balancers"]["edge"]


def second_cluster(data: dict[str, Any], vrid: int = 52, **overrides: Any) -> None:
    cluster = copy.deepcopy(edge(data))
    cluster["nodes"] = {"lb3": {"priority": 120}, "lb4": {"priority": 110}}
    cluster["vrrp"]["instances"] = {"VI_B": {"interface": "eth0", "vrid": vrid, "vips": ["198.18.1.101/24"]}}
    cluster["proxy"]["frontends"]["www"]["addresses"] = ["198.18.1.101"]
    cluster.update(overrides)
    data["load_balancers"]["inner"] = cluster


def dump(data: dict[str, Any], path: Path) -> Path:
    yaml = YAML()
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def problems(tmp_path: Path, mutate: Mutation | None = None) -> list[str]:
    data = copy.deepcopy(BASE)
    if mutate is not None:
        mutate(data)
    path = dump(data, tmp_path / "inventory.yaml")
    try:
        load_inventory(path)
    except SpecError as err:
        assert err.exit_code == 2
        for line in err.lines:
            assert re.match(rf"^{re.escape(str(path))}:\d+: \S+: .+$", line), line
        return err.lines
    return []


def assert_problem(tmp_path: Path, mutate: Mutation, field: str, message: str) -> None:
    lines = problems(tmp_path, mutate)
    text = (tmp_path / "inventory.yaml").read_text().splitlines()
    matching = [line for line in lines if f": {field}: " in line and message in line]
    assert matching, f"expected {field}: {message!r}, got {lines}"
    # The line number points at the field itself (or at its parent when the field is absent).
    number = int(matching[0].split(":")[1])
    line = text[number - 1].strip()
    last = field.rsplit(".", 1)[-1]
    if last.endswith("]"):  # a list item, or an integer mapping key
        key = last[last.index("[") + 1 : -1]
        assert line.startswith(("- ", f"{key}:")), (field, line)
    else:
        parent = field.split(".")[-2]
        assert line.startswith((f"{last}:", f"{parent}:")), (field, line)


def test_base_is_valid(tmp_path: Path) -> None:
    assert problems(tmp_path) == []


def test_example_is_valid() -> None:
    inv = load_inventory(EXAMPLE)
    assert set(inv.load_balancers) >= {"edge", "api"}
    assert {c.proxy.kind for c in inv.load_balancers.values()} >= {"haproxy", "nginx"}


def test_measured_zero_loss_settings_are_the_defaults(tmp_path: Path) -> None:
    inv = Inventory.model_validate(BASE)
    backend = inv.load_balancers["edge"].proxy.backends["web"]
    assert backend.retries == 3 and backend.redispatch
    assert backend.circuit_breaker is not None and backend.circuit_breaker.on_error == "mark-down"
    # With the (default) circuit breaker, 500s stay visible to it: HAProxy does not retry them, nginx does.
    assert backend.effective_retry_on("haproxy") == [
        "conn-failure",
        "empty-response",
        "junk-response",
        "response-timeout",
        "0rtt-rejected",
        "502",
        "503",
        "504",
    ]
    assert backend.effective_retry_on("nginx") == ["conn-failure", "response-timeout", "500", "502", "503"]
    assert not backend.breaker_blind_to_500("haproxy") and not backend.breaker_blind_to_500("nginx")
    vrrp = inv.load_balancers["edge"].vrrp
    assert vrrp.version == 3 and vrrp.unicast and vrrp.track_proxy.enabled


def test_default_retry_sets_without_a_circuit_breaker() -> None:
    backend = Inventory.model_validate(BASE).load_balancers["edge"].proxy.backends["web"]
    plain = backend.model_copy(update={"circuit_breaker": None})
    assert plain.effective_retry_on("haproxy") == ["all-retryable-errors"]
    assert plain.effective_retry_on("nginx") == ["conn-failure", "response-timeout", "502", "503"]


def test_explicit_retry_on_is_kept_even_when_it_blinds_the_breaker() -> None:
    # A misconfiguration, reported by analysis rule HA012 rather than refused by the model.
    data = copy.deepcopy(BASE)
    data["load_balancers"]["edge"]["proxy"]["backends"]["web"]["retry_on"] = ["all-retryable-errors"]
    backend = Inventory.model_validate(data).load_balancers["edge"].proxy.backends["web"]
    assert backend.effective_retry_on("haproxy") == ["all-retryable-errors"]
    assert backend.breaker_blind_to_500("haproxy")


def set_path(*keys: Any, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return mutate


def delete_path(*keys: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


def combine(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


LB = ("load_balancers", "edge")
VI = (*LB, "vrrp", "instances", "VI_4")
PROXY = (*LB, "proxy")
WEB = (*PROXY, "backends", "web")
WWW = (*PROXY, "frontends", "www")

CASES: list[tuple[str, Mutation, str, str]] = [
    # hosts
    (
        "interface without address",
        set_path("hosts", "lb3", "interfaces", "eth0", value={}),
        "hosts.lb3.interfaces.eth0.address",
        "an interface needs an address",
    ),
    (
        "address used twice",
        set_path("hosts", "lb4", "interfaces", "eth0", "address", value="198.18.1.13/24"),
        "hosts.lb4.interfaces.eth0.address",
        "198.18.1.13 is already used by lb3.eth0",
    ),
    (
        "interface name too long",
        set_path("hosts", "lb3", "interfaces", value={"averyveryverylongname": {}}),
        "hosts.lb3.interfaces.averyveryverylongname",
        "String should match pattern",
    ),
    # VRRP protocol
    (
        "auth with VRRPv3",
        set_path(*LB, "vrrp", "auth", value={"password": "secret"}),
        "load_balancers.edge.vrrp.auth",
        "VRRPv3 has no authentication",
    ),
    (
        "long VRRP password",
        combine(
            set_path(*LB, "vrrp", "version", value=2),
            set_path(*LB, "vrrp", "auth", value={"password": "123456789"}),
        ),
        "load_balancers.edge.vrrp.auth.password",
        "at most 8 characters",
    ),
    (
        "VRRP password keepalived would cut at '!'",
        combine(
            set_path(*LB, "vrrp", "version", value=2),
            set_path(*LB, "vrrp", "auth", value={"password": "ab!cd"}),
        ),
        "load_balancers.edge.vrrp.auth.password",
        "must not contain spaces or any of",
    ),
    (
        "VRRP password that would close the keepalived block",
        combine(
            set_path(*LB, "vrrp", "version", value=2),
            set_path(*LB, "vrrp", "auth", value={"password": "ab}cd"}),
        ),
        "load_balancers.edge.vrrp.auth.password",
        "must not contain spaces or any of",
    ),
    (
        "carriage return in a free-text field",
        set_path("hosts", "lb3", "description", value="db\rglobal"),
        "hosts.lb3.description",
        "control character '\\r' is not allowed",
    ),
    (
        "fractional advert with v2",
        combine(set_path(*LB, "vrrp", "version", value=2), set_path(*LB, "vrrp", "advert_int", value=0.5)),
        "load_balancers.edge.vrrp.advert_int",
        "fractional advert_int needs VRRP version 3",
    ),
    (
        "v3 advert resolution",
        set_path(*LB, "vrrp", "advert_int", value=0.125),
        "load_balancers.edge.vrrp.advert_int",
        "resolution of 10ms",
    ),
    (
        "v3 advert too long",
        set_path(*LB, "vrrp", "advert_int", value=60),
        "load_balancers.edge.vrrp.advert_int",
        "0.01 to 40.95 seconds",
    ),
    (
        "IPv6 with v2",
        combine(set_path(*LB, "vrrp", "version", value=2), set_path(*VI, "vips", value=["fd00:1::100/64"])),
        "load_balancers.edge.vrrp.instances.VI_4.vips",
        "IPv6 VIPs need VRRP version 3",
    ),
    (
        "mixed families",
        set_path(*VI, "vips", value=["198.18.1.100/24", "fd00:1::100/64"]),
        "load_balancers.edge.vrrp.instances.VI_4.vips[1]",
        "an instance carries one address family",
    ),
    (
        "VIP not an address",
        set_path(*VI, "vips", value=["garbage"]),
        "load_balancers.edge.vrrp.instances.VI_4.vips[0]",
        "not an IP address with an optional /prefix: 'garbage'",
    ),
    (
        "VIP twice",
        set_path(*VI, "vips", value=["198.18.1.100/24", "198.18.1.100/24"]),
        "load_balancers.edge.vrrp.instances.VI_4.vips[1]",
        "listed twice",
    ),
    (
        "nopreempt with preempt_delay",
        combine(set_path(*VI, "nopreempt", value=True), set_path(*VI, "preempt_delay", value=30)),
        "load_balancers.edge.vrrp.instances.VI_4.preempt_delay",
        "has no effect with nopreempt",
    ),
    (
        "vrid out of range",
        set_path(*VI, "vrid", value=256),
        "load_balancers.edge.vrrp.instances.VI_4.vrid",
        "less than or equal to 255",
    ),
    (
        "fractional track interval",
        set_path(*LB, "vrrp", "track_proxy", value={"interval": "500ms"}),
        "load_balancers.edge.vrrp.track_proxy.interval",
        "whole seconds",
    ),
    (
        "sync group unknown member",
        set_path(*LB, "vrrp", "sync_groups", value={"G": ["VI_4", "VI_X"]}),
        "load_balancers.edge.vrrp.sync_groups.G[1]",
        "unknown instance 'VI_X'",
    ),
    (
        "sync group of one",
        set_path(*LB, "vrrp", "sync_groups", value={"G": ["VI_4"]}),
        "load_balancers.edge.vrrp.sync_groups.G",
        "at least two instances",
    ),
    (
        "instance in two sync groups",
        combine(
            set_path(
                *LB,
                "vrrp",
                "instances",
                "VI_6",
                value={"interface": "eth0", "vrid": 52, "vips": ["fd00:1::100/64"]},
            ),
            set_path(*LB, "vrrp", "sync_groups", value={"G1": ["VI_4", "VI_6"], "G2": ["VI_6", "VI_4"]}),
        ),
        "load_balancers.edge.vrrp.sync_groups.G2[0]",
        "already in sync group 'G1'",
    ),
    # priorities and states
    (
        "equal priorities",
        set_path(*LB, "nodes", "lb2", "priority", value=150),
        "load_balancers.edge.nodes.lb2.priority",
        "priorities must be distinct",
    ),
    (
        "equal priorities through an override",
        set_path(*VI, "priorities", value={"lb2": 150}),
        "load_balancers.edge.vrrp.instances.VI_4.priorities.lb2",
        "priorities must be distinct",
    ),
    (
        "priority override for a stranger",
        set_path(*VI, "priorities", value={"lb9": 10}),
        "load_balancers.edge.vrrp.instances.VI_4.priorities.lb9",
        "not a node of this cluster",
    ),
    (
        "priority 255",
        set_path(*LB, "nodes", "lb1", "priority", value=255),
        "load_balancers.edge.nodes.lb1.priority",
        "less than or equal to 254",
    ),
    (
        "MASTER on the lower priority",
        set_path(*LB, "nodes", "lb2", "state", value="MASTER"),
        "load_balancers.edge.nodes.lb2.state",
        "not the highest priority",
    ),
    (
        "MASTER with nopreempt",
        combine(
            set_path(*VI, "nopreempt", value=True), set_path(*LB, "nodes", "lb1", "state", value="MASTER")
        ),
        "load_balancers.edge.nodes.lb1.state",
        "need initial state BACKUP",
    ),
    (
        "track weight too small",
        set_path(*LB, "vrrp", "track_proxy", value={"weight": -20}),
        "load_balancers.edge.vrrp.track_proxy.weight",
        "would not move",
    ),
    ("single node", delete_path(*LB, "nodes", "lb2"), "load_balancers.edge.nodes", "at least 2 items"),
    # topology
    (
        "unknown host",
        set_path(*LB, "nodes", "lb9", value={"priority": 10}),
        "load_balancers.edge.nodes.lb9",
        "unknown host 'lb9'",
    ),
    (
        "host in two clusters",
        lambda d: second_cluster(d, nodes={"lb1": {"priority": 10}, "lb3": {"priority": 20}}),
        "load_balancers.inner.nodes.lb1",
        "already a node of load balancer 'edge'",
    ),
    (
        "missing interface",
        set_path(*VI, "interface", value="eth7"),
        "load_balancers.edge.vrrp.instances.VI_4.interface",
        "host 'lb1' has no interface 'eth7'",
    ),
    (
        "IPv6 VIP without IPv6 address",
        combine(
            set_path(*VI, "interface", value="eth1"),
            set_path(*VI, "vips", value=["fd00:2::100/64"]),
            set_path(*WWW, "addresses", value=["*"]),
        ),
        "load_balancers.edge.vrrp.instances.VI_4.vips",
        "IPv6 VIPs need an IPv6 address6 on lb1.eth1",
    ),
    (
        "VIP outside the subnet",
        combine(
            set_path(*VI, "vips", value=["198.18.9.100/24"]),
            set_path(*WWW, "addresses", value=["198.18.9.100"]),
        ),
        "load_balancers.edge.vrrp.instances.VI_4.vips[0]",
        "outside lb1.eth0's subnet 198.18.1.0/24",
    ),
    (
        "VIP is a node address",
        combine(
            set_path(*VI, "vips", value=["198.18.1.11/24"]),
            set_path(*WWW, "addresses", value=["198.18.1.11"]),
        ),
        "load_balancers.edge.vrrp.instances.VI_4.vips[0]",
        "is the address of host 'lb1'",
    ),
    (
        "missing tracked interface",
        combine(
            set_path(*LB, "nodes", value={"lb1": {"priority": 150}, "lb3": {"priority": 100}}),
            set_path(*VI, "track_interfaces", value=["eth1"]),
        ),
        "load_balancers.edge.vrrp.instances.VI_4.track_interfaces[0]",
        "host 'lb3' has no interface 'eth1'",
    ),
    (
        "VRID reused on the segment",
        lambda d: second_cluster(d, vrid=51),
        "load_balancers.inner.vrrp.instances.VI_B.vrid",
        "VRID 51 is already used on segment 198.18.1.0/24",
    ),
    # proxy
    (
        "unknown backend",
        set_path(*WWW, "backend", value="nope"),
        "load_balancers.edge.proxy.frontends.www.backend",
        "unknown backend 'nope' (known: web)",
    ),
    (
        "port out of range",
        set_path(*WEB, "servers", "a", "port", value=70000),
        "load_balancers.edge.proxy.backends.web.servers.a.port",
        "less than or equal to 65535",
    ),
    (
        "port zero",
        set_path(*WWW, "port", value=0),
        "load_balancers.edge.proxy.frontends.www.port",
        "greater than or equal to 1",
    ),
    (
        "one active server",
        set_path(*WEB, "servers", "b", "backup", value=True),
        "load_balancers.edge.proxy.backends.web.servers",
        "at least two non-backup servers",
    ),
    (
        "only backups",
        combine(
            set_path(*WEB, "servers", "a", "backup", value=True),
            set_path(*WEB, "servers", "b", "backup", value=True),
        ),
        "load_balancers.edge.proxy.backends.web.servers",
        "every server is a backup",
    ),
    (
        "same endpoint twice",
        set_path(*WEB, "servers", "b", "address", value="198.18.2.21"),
        "load_balancers.edge.proxy.backends.web.servers.b.address",
        "same address and port as server 'a'",
    ),
    (
        "bad server address",
        set_path(*WEB, "servers", "b", "address", value="not a host!"),
        "load_balancers.edge.proxy.backends.web.servers.b.address",
        "not an IP address or hostname",
    ),
    (
        "frontend not on a VIP",
        set_path(*WWW, "addresses", value=["198.18.1.77"]),
        "load_balancers.edge.proxy.frontends.www.addresses[0]",
        "is not a VIP of this cluster",
    ),
    (
        "frontend address garbage",
        set_path(*WWW, "addresses", value=["nowhere"]),
        "load_balancers.edge.proxy.frontends.www.addresses[0]",
        "not an IP address",
    ),
    (
        "redirect without TLS",
        set_path(*WWW, "redirect_https", value=True),
        "load_balancers.edge.proxy.frontends.www.redirect_https",
        "needs tls",
    ),
    (
        "TLS on the plain port",
        set_path(*WWW, "tls", value={"cert": "/etc/x.pem", "port": 80}),
        "load_balancers.edge.proxy.frontends.www.tls.port",
        "already uses port 80",
    ),
    (
        "relative cert path",
        set_path(*WWW, "tls", value={"cert": "x.pem"}),
        "load_balancers.edge.proxy.frontends.www.tls.cert",
        "String should match pattern",
    ),
    (
        "port clash with stats",
        combine(set_path(*WWW, "addresses", value=["*"]), set_path(*WWW, "port", value=8404)),
        "load_balancers.edge.proxy.frontends.www.port",
        "* port 8404 is already used by stats.port",
    ),
    (
        "two frontends on one socket",
        set_path(
            *PROXY, "frontends", "api", value={"addresses": ["198.18.1.100"], "port": 80, "backend": "web"}
        ),
        "load_balancers.edge.proxy.frontends.api.port",
        "already used by frontends.www.port",
    ),
    (
        "rate limit window",
        set_path(*WWW, "rate_limit", value={"requests": 10, "period": "1500ms"}),
        "load_balancers.edge.proxy.frontends.www.rate_limit.period",
        "whole number of seconds",
    ),
    (
        "zero timeout",
        set_path(*PROXY, "timeouts", value={"server": 0}),
        "load_balancers.edge.proxy.timeouts.server",
        "must be longer than 0",
    ),
    (
        "stats user without password",
        set_path(*PROXY, "stats", value={"user": "admin"}),
        "load_balancers.edge.proxy.stats.password",
        "user and password go together",
    ),
    (
        "stats password haproxy would cut at '#'",
        set_path(*PROXY, "stats", value={"user": "admin", "password": "ab#cd"}),
        "load_balancers.edge.proxy.stats.password",
        "must not contain spaces, ':', '#'",
    ),
    (
        "public stats without password",
        set_path(*PROXY, "stats", value={"address": "198.18.1.11"}),
        "load_balancers.edge.proxy.stats.password",
        "need a user and password",
    ),
    (
        "error page for 418",
        set_path(*PROXY, "error_pages", value={418: "teapot"}),
        "load_balancers.edge.proxy.error_pages[418]",
        "no custom page for 418",
    ),
    (
        "error page too large",
        set_path(*PROXY, "error_pages", value={503: "x" * 20_000}),
        "load_balancers.edge.proxy.error_pages[503]",
        "HAProxy error files must fit one buffer",
    ),
    (
        "breaker without checks",
        set_path(*WEB, "health_check", value=None),
        "load_balancers.edge.proxy.backends.web.circuit_breaker",
        "needs health_check",
    ),
    (
        "unknown proxy kind",
        set_path(*PROXY, "kind", value="envoy"),
        "load_balancers.edge.proxy.kind",
        "Input should be 'haproxy' or 'nginx'",
    ),
    (
        "unknown field",
        set_path(*WEB, "balancer", value="roundrobin"),
        "load_balancers.edge.proxy.backends.web.balancer",
        "unknown field",
    ),
    (
        "unknown retry condition",
        set_path(*WEB, "retry_on", value=["sometimes"]),
        "load_balancers.edge.proxy.backends.web.retry_on[0]",
        "Input should be",
    ),
    # nginx-specific
    (
        "nginx first balancing",
        combine(set_path(*PROXY, "kind", value="nginx"), set_path(*WEB, "balance", value="first")),
        "load_balancers.edge.proxy.backends.web.balance",
        "nginx has no 'first' balancing",
    ),
    (
        "nginx backup with ip_hash",
        combine(
            set_path(*PROXY, "kind", value="nginx"),
            set_path(*WEB, "balance", value="source"),
            set_path(*WEB, "servers", "c", value={"address": "198.18.2.30", "port": 8080, "backup": True}),
        ),
        "load_balancers.edge.proxy.backends.web.balance",
        "backup servers only with roundrobin or leastconn",
    ),
    (
        "nginx breaker mode",
        combine(
            set_path(*PROXY, "kind", value="nginx"),
            set_path(*WEB, "circuit_breaker", value={"on_error": "fastinter"}),
        ),
        "load_balancers.edge.proxy.backends.web.circuit_breaker.on_error",
        "nginx only marks servers down",
    ),
    (
        "nginx stats password",
        combine(
            set_path(*PROXY, "kind", value="nginx"),
            set_path(*PROXY, "stats", value={"user": "a", "password": "b"}),
        ),
        "load_balancers.edge.proxy.stats.password",
        "stub_status takes no password",
    ),
    (
        "nginx frontend maxconn",
        combine(set_path(*PROXY, "kind", value="nginx"), set_path(*WWW, "max_connections", value=100)),
        "load_balancers.edge.proxy.frontends.www.max_connections",
        "nginx has no per-frontend limit",
    ),
]


@pytest.mark.parametrize(("mutate", "field", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(tmp_path: Path, mutate: Mutation, field: str, message: str) -> None:
    assert_problem(tmp_path, mutate, field, message)


VALID: list[tuple[str, Mutation]] = [
    (
        "single server with opt-out",
        combine(
            set_path(*WEB, "servers", "b", "backup", value=True),
            set_path(*WEB, "allow_single_server", value=True),
        ),
    ),
    (
        "same VRID for the other family",
        combine(
            set_path(
                *LB,
                "vrrp",
                "instances",
                "VI_6",
                value={"interface": "eth0", "vrid": 51, "vips": ["fd00:1::100/64"]},
            )
        ),
    ),
    ("routed VIP outside the subnet", set_path(*VI, "routed_vips", value=["203.0.113.10/32"])),
    (
        "VRRPv2 with auth",
        combine(
            set_path(*LB, "vrrp", "version", value=2),
            set_path(*LB, "vrrp", "advert_int", value=1),
            set_path(*LB, "vrrp", "auth", value={"password": "s3cret"}),
        ),
    ),
    (
        "active/active priorities",
        combine(
            set_path(
                *LB,
                "vrrp",
                "instances",
                "VI_B",
                value={
                    "interface": "eth0",
                    "vrid": 52,
                    "vips": ["198.18.1.101/24"],
                    "priorities": {"lb1": 100, "lb2": 150},
                },
            )
        ),
    ),
    ("nopreempt, everybody BACKUP", set_path(*VI, "nopreempt", value=True)),
    ("track weight that moves the VIP", set_path(*LB, "vrrp", "track_proxy", value={"weight": -60})),
    ("wildcard frontend", set_path(*WWW, "addresses", value=["*", "::"])),
    (
        "nginx roundrobin with backup",
        combine(
            set_path(*PROXY, "kind", value="nginx"),
            set_path(*WEB, "servers", "c", value={"address": "app.example", "port": 8080, "backup": True}),
        ),
    ),
]


@pytest.mark.parametrize("mutate", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_variant(tmp_path: Path, mutate: Mutation) -> None:
    assert problems(tmp_path, mutate) == []


def test_vrid_on_another_segment_is_fine(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        for host in ("lb3", "lb4"):
            data["hosts"][host]["interfaces"]["eth0"]["address"] = data["hosts"][host]["interfaces"]["eth0"][
                "address"
            ].replace("198.18.1.", "198.18.5.")
        second_cluster(data, vrid=51)
        inner = data["load_balancers"]["inner"]
        inner["vrrp"]["instances"]["VI_B"]["vips"] = ["198.18.5.101/24"]
        inner["proxy"]["frontends"]["www"]["addresses"] = ["198.18.5.101"]

    assert problems(tmp_path, mutate) == []


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    lines = problems(
        tmp_path,
        combine(
            set_path(*WWW, "backend", value="nope"),
            set_path(*VI, "vrid", value=300),
            set_path("hosts", "lb3", "interfaces", "eth0", value={}),
        ),
    )
    assert len(lines) == 3
    numbers = [int(line.split(":")[1]) for line in lines]
    assert numbers == sorted(numbers)


def test_initial_states() -> None:
    inv = Inventory.model_validate(BASE)
    cluster = inv.load_balancers["edge"]
    assert cluster.initial_state("VI_4", "lb1") == "MASTER"
    assert cluster.initial_state("VI_4", "lb2") == "BACKUP"
    data = copy.deepcopy(BASE)
    data["load_balancers"]["edge"]["vrrp"]["instances"]["VI_4"]["preempt_delay"] = 10
    delayed = Inventory.model_validate(data).load_balancers["edge"]
    assert delayed.initial_state("VI_4", "lb1") == "BACKUP"


def test_json_schema_accepts_the_example_and_rejects_typos() -> None:
    schema = Inventory.model_json_schema()
    yaml = YAML(typ="safe")
    example = yaml.load(EXAMPLE.read_text())
    jsonschema.validate(json.loads(json.dumps(example)), schema)
    broken = copy.deepcopy(BASE)
    broken["load_balancers"]["edge"]["proxy"]["backends"]["web"]["balancer"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_extension_keys_hold_yaml_anchors(tmp_path: Path) -> None:
    """Top-level `x-*` keys are ignored, so shared fragments can live there; merge keys work."""
    path = tmp_path / "inventory.yaml"
    text = dump(BASE, tmp_path / "base.yaml").read_text()
    plain = "            a:\n              address: 198.18.2.21\n              port: 8080\n"
    assert plain in text
    merged = "            a:\n              <<: *srv\n              address: 198.18.2.21\n"
    text = "x-server: &srv {port: 8080, weight: 7}\n" + text.replace(plain, merged)
    path.write_text(text)
    inv = load_inventory(path)
    server = inv.load_balancers["edge"].proxy.backends["web"].servers["a"]
    assert (server.port, server.weight) == (8080, 7)
    schema = Inventory.model_json_schema()
    jsonschema.validate({**copy.deepcopy(BASE), "x-anything": {"a": 1}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**copy.deepcopy(BASE), "y-anything": 1}, schema)


def test_other_unknown_top_level_keys_are_errors(tmp_path: Path) -> None:
    lines = problems(tmp_path, set_path("bogus", value=1))
    assert len(lines) == 1 and lines[0].endswith(": bogus: unknown field")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            set_path("load_balancer", value={}),
            "load_balancer: unknown field (did you mean 'load_balancers'?)",
        ),
        (set_path(*WEB, "balancer", value="first"), "web.balancer: unknown field (did you mean 'balance'?)"),
        (set_path(*VI, "vrd", value=3), "VI_4.vrd: unknown field (did you mean 'vrid'?)"),
        (
            set_path(*WEB, "servers", "a", "wieght", value=3),
            "servers.a.wieght: unknown field (did you mean 'weight'?)",
        ),
    ],
)
def test_typos_get_a_suggestion(tmp_path: Path, mutate: Mutation, expected: str) -> None:
    lines = problems(tmp_path, mutate)
    assert any(line.endswith(expected) for line in lines), lines


def test_cross_section_rules_run_over_the_valid_parts(tmp_path: Path) -> None:
    """A typo in one cluster does not hide a VRID clash between two others."""

    def mutate(data: dict[str, Any]) -> None:
        second_cluster(data, vrid=51)  # clashes with edge on 198.18.1.0/24
        broken = copy.deepcopy(data["load_balancers"]["inner"])
        broken["nodes"] = {"lb1": {"priority": 1}, "lb2": {"priority": 2}}
        broken["proxy"]["backends"]["web"]["servers"]["a"]["port"] = 0
        data["load_balancers"]["broken"] = broken

    lines = problems(tmp_path, mutate)
    assert any("broken.proxy.backends.web.servers.a.port: Input should be greater" in line for line in lines)
    assert any("inner.vrrp.instances.VI_B.vrid: VRID 51 is already used" in line for line in lines)
    # The broken cluster's valid parts are checked too: it reuses edge's nodes and VRID.
    assert any(
        "broken.nodes.lb1: host 'lb1' is already a node of load balancer 'edge'" in line for line in lines
    )
    assert any(
        "broken.nodes.lb2: host 'lb2' is already a node of load balancer 'edge'" in line for line in lines
    )
    assert any("broken.vrrp.instances.VI_B.vrid: VRID 51 is already used" in line for line in lines)
    assert len(lines) == 5


def test_an_invalid_host_is_not_also_unknown(tmp_path: Path) -> None:
    lines = problems(tmp_path, set_path("hosts", "lb2", "interfaces", "eth0", "address", value="nope"))
    assert len(lines) == 1 and "hosts.lb2.interfaces.eth0.address" in lines[0]


def test_rule_problems_are_not_repeated(tmp_path: Path) -> None:
    lines = problems(tmp_path, set_path(*LB, "nodes", "lb9", value={"priority": 10}))
    assert len(lines) == 1 and "unknown host 'lb9'" in lines[0]


def test_a_field_error_does_not_hide_a_subnet_error_of_the_same_cluster(tmp_path: Path) -> None:
    """A frontend typo used to drop the whole cluster from the cross-section rules (VIP subnets, VRIDs)."""
    lines = problems(
        tmp_path,
        combine(
            set_path(*WWW, "port", value="http"),
            set_path(*VI, "vips", value=["10.9.9.9/24"]),
            set_path(*WWW, "addresses", value=["10.9.9.9"]),
        ),
    )
    assert any("edge.proxy.frontends.www.port: Input should be a valid integer" in line for line in lines)
    assert any(
        "edge.vrrp.instances.VI_4.vips[0]: 10.9.9.9 is outside lb1.eth0's subnet" in line for line in lines
    )

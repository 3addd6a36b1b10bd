"""The rules that apply to bare metal, on inventories: each with a passing and a failing inventory."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hakit.analysis import RULES, analyze_inventory
from hakit.spec.inventory import Inventory, load_inventory

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.yaml"

BASE: dict[str, Any] = {
    "version": 1,
    "hosts": {
        "lb1": {"interfaces": {"eth0": {"address": "198.18.1.11/24"}}},
        "lb2": {"interfaces": {"eth0": {"address": "198.18.1.12/24"}}},
        "app": {"interfaces": {"eth0": {"address": "198.18.2.11/24"}}},
    },
    "load_balancers": {
        "edge": {
            "nodes": {"lb1": {"priority": 150}, "lb2": {"priority": 100}},
            "vrrp": {"instances": {"VI_4": {"interface": "eth0", "vrid": 51, "vips": ["198.18.1.100/24"]}}},
            "proxy": {
                "kind": "haproxy",
                "frontends": {
                    "www": {
                        "addresses": ["198.18.1.100"],
                        "port": 80,
                        "redirect_https": True,
                        "tls": {"cert": "/etc/haproxy/www.pem"},
                        "backend": "web",
                    }
                },
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


def inventory(change: Callable[[dict[str, Any]], None] | None = None) -> Inventory:
    """The valid base inventory, optionally changed before validation."""
    data = copy.deepcopy(BASE)
    if change is not None:
        change(data)
    return Inventory.model_validate(data)


def edge(data: dict[str, Any]) -> dict[str, Any]:
    cluster: dict[str, Any] = data["load_balancers"]["edge"]
    return cluster


def _unvalidated(update: dict[str, Any]) -> Inventory:
    """States the schema already refuses (one node, equal priorities): the rule still guards copies."""
    base = inventory()
    cluster = base.load_balancers["edge"].model_copy(update=update)
    return base.model_copy(update={"load_balancers": {"edge": cluster}})


def _v2_shared(data: dict[str, Any]) -> None:
    edge(data)["vrrp"]["version"] = 2
    data["hosts"]["intruder"] = {"interfaces": {"eth0": {"address": "198.18.1.50/24"}}}


def _v2_shared_with_auth(data: dict[str, Any]) -> None:
    _v2_shared(data)
    edge(data)["vrrp"]["auth"] = {"type": "PASS", "password": "s3cret"}


def _single_server(data: dict[str, Any]) -> None:
    backend = edge(data)["proxy"]["backends"]["web"]
    backend["servers"] = {
        "a": {"address": "198.18.2.21", "port": 8080},
        "b": {"address": "198.18.2.22", "port": 8080, "backup": True},
    }
    backend["allow_single_server"] = True


def _no_health_check(data: dict[str, Any]) -> None:
    # A circuit breaker needs active checks to bring servers back: without checks there is no breaker either.
    edge(data)["proxy"]["backends"]["web"].update(health_check=None, circuit_breaker=None)


def _plain_http(data: dict[str, Any]) -> None:
    frontend = edge(data)["proxy"]["frontends"]["www"]
    del frontend["tls"]
    frontend["redirect_https"] = False


def _web(data: dict[str, Any]) -> dict[str, Any]:
    backend: dict[str, Any] = edge(data)["proxy"]["backends"]["web"]
    return backend


def _retries_500(data: dict[str, Any]) -> None:
    _web(data)["retry_on"] = ["all-retryable-errors"]


def _raw_lines(data: dict[str, Any]) -> None:
    edge(data)["proxy"]["frontends"]["www"]["raw"] = ["option http-ignore-probes"]


FAILING: dict[str, Callable[[], Inventory]] = {
    "HA003": lambda: _unvalidated({"nodes": {"lb1": inventory().load_balancers["edge"].nodes["lb1"]}}),
    "HA007": lambda: _unvalidated(
        {
            "nodes": {
                name: node.model_copy(update={"priority": 100})
                for name, node in inventory().load_balancers["edge"].nodes.items()
            }
        }
    ),
    "HA009": lambda: inventory(_no_health_check),
    "HA011": lambda: inventory(_single_server),
    "HA012": lambda: inventory(_retries_500),
    "HA013": lambda: inventory(_raw_lines),
    "SEC003": lambda: inventory(_plain_http),
    "SEC007": lambda: inventory(_v2_shared),
}


def test_every_bare_metal_rule_has_a_failing_inventory() -> None:
    assert sorted(FAILING) == sorted(r.id for r in RULES.values() if r.inventory_check is not None)


@pytest.mark.parametrize("rule_id", sorted(FAILING))
def test_failing_inventory_violates_rule(rule_id: str) -> None:
    hits = [f for f in analyze_inventory(FAILING[rule_id]()) if f.rule_id == rule_id]
    assert hits
    assert all(f.resource.startswith("load_balancers.edge") for f in hits)


def test_base_inventory_passes_every_rule() -> None:
    assert [f.message for f in analyze_inventory(inventory())] == []


def test_vrrp_v2_with_auth_or_alone_on_its_segment_passes() -> None:
    assert not [f for f in analyze_inventory(inventory(_v2_shared_with_auth)) if f.rule_id == "SEC007"]
    alone = inventory(lambda data: edge(data)["vrrp"].update(version=2))
    assert not [f for f in analyze_inventory(alone) if f.rule_id == "SEC007"]
    multicast = inventory(lambda data: edge(data)["vrrp"].update(version=2, unicast=False))
    (finding,) = [f for f in analyze_inventory(multicast) if f.rule_id == "SEC007"]
    assert "multicast" in finding.message


def _nginx_check(data: dict[str, Any]) -> None:
    edge(data)["proxy"].update(kind="nginx")
    edge(data)["proxy"]["backends"]["web"]["health_check"] = {"path": "/up", "interval": "1s"}


def test_nginx_health_check_is_passive_only() -> None:
    """A health_check the user wrote for nginx is a promise nginx (open source) does not keep."""
    (finding,) = [f for f in analyze_inventory(inventory(_nginx_check)) if f.rule_id == "HA009"]
    assert "passively" in finding.message


def test_nginx_without_a_health_check_is_not_told_its_settings_are_ignored() -> None:
    """The model's default health_check is not the user's: no HA009 for an nginx backend that sets none
    (the old rule reported 'health_check settings are not enforced' for the shipped example)."""
    nginx = inventory(lambda data: edge(data)["proxy"].update(kind="nginx"))
    assert [f.message for f in analyze_inventory(nginx) if f.rule_id == "HA009"] == []
    blind = inventory(
        lambda data: (
            edge(data)["proxy"].update(kind="nginx"),
            edge(data)["proxy"]["backends"]["web"].update(circuit_breaker=None),
        )
    )
    (finding,) = [f for f in analyze_inventory(blind) if f.rule_id == "HA009"]
    assert finding.resource.endswith("backends.web.circuit_breaker")


def _blind(change: Callable[[dict[str, Any]], None]) -> list[str]:
    return [f.resource for f in analyze_inventory(inventory(change)) if f.rule_id == "HA012"]


WEB_PATH = "load_balancers.edge.proxy.backends.web"


@pytest.mark.parametrize(
    "retry_on", [["all-retryable-errors"], ["conn-failure", "500"], ["500", "502", "503"]]
)
def test_haproxy_breaker_blind_when_500_is_retried(retry_on: list[str]) -> None:
    assert _blind(lambda data: _web(data).update(retry_on=retry_on)) == [f"{WEB_PATH}.retry_on"]


@pytest.mark.parametrize(
    "update",
    [
        {},  # the default retry set of a backend with a breaker leaves 500 out
        {"retry_on": ["conn-failure", "response-timeout", "502", "503", "504"]},
        {"retry_on": ["all-retryable-errors"], "circuit_breaker": None},  # nothing to blind
        {"retry_on": ["all-retryable-errors"], "retries": 0},  # no retry-on rendered at all
    ],
)
def test_haproxy_breaker_that_sees_500_passes(update: dict[str, Any]) -> None:
    assert _blind(lambda data: _web(data).update(update)) == []


def _nginx(update: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        edge(data)["proxy"]["kind"] = "nginx"
        _web(data).update(update)

    return change


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"retry_on": ["conn-failure", "response-timeout", "502", "503"]}, "retry_on"),
        ({"retries": 0}, "retries"),
    ],
)
def test_nginx_breaker_blind_when_500_is_not_retried(update: dict[str, Any], field: str) -> None:
    assert _blind(_nginx(update)) == [f"{WEB_PATH}.{field}"]


@pytest.mark.parametrize(
    "update",
    [
        {},  # the default retry set of a backend with a breaker includes 500
        {"retry_on": ["all-retryable-errors"]},
        {"retry_on": ["conn-failure", "502"], "circuit_breaker": None},
    ],
)
def test_nginx_breaker_that_sees_500_passes(update: dict[str, Any]) -> None:
    assert _blind(_nginx(update)) == []


def test_example_inventory_findings() -> None:
    findings = analyze_inventory(load_inventory(EXAMPLE))
    assert {(f.rule_id, f.resource) for f in findings} == {
        ("SEC003", "load_balancers.api.proxy.frontends.api")
    }

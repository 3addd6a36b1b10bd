"""The render's shortcuts give the same bytes as the long way round."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jinja2
import pytest
from hakit.render import environment, render_inventory
from hakit.render.haproxy import haproxy_files, haproxy_node_files
from hakit.spec.inventory import Inventory
from render_support import EXAMPLE_SOURCE


def _peers_inventory() -> Inventory:
    """Two HAProxy pairs whose stick tables are shared between the nodes (haproxy.cfg differs per node)."""
    hosts: dict[str, Any] = {}
    clusters: dict[str, Any] = {}
    for pair in range(2):
        net = f"198.18.{pair}"
        nodes = [f"lb{pair}a", f"lb{pair}b"]
        for number, name in enumerate(nodes, start=1):
            hosts[name] = {"interfaces": {"eth0": {"address": f"{net}.{10 + number}/24"}}}
        clusters[f"c{pair}"] = {
            "nodes": {nodes[0]: {"priority": 150}, nodes[1]: {"priority": 100}},
            "vrrp": {"instances": {"VI_1": {"interface": "eth0", "vrid": 51, "vips": [f"{net}.100/24"]}}},
            "proxy": {
                "kind": "haproxy",
                "frontends": {
                    "www": {
                        "addresses": [f"{net}.100"],
                        "port": 80,
                        "backend": "app",
                        "rate_limit": {"requests": 100},
                    }
                },
                "backends": {
                    "app": {"servers": {f"app{n}": {"address": f"{net}.2{n}", "port": 8080} for n in (1, 2)}}
                },
            },
        }
    return Inventory.model_validate({"version": 1, "hosts": hosts, "load_balancers": clusters})


def test_haproxy_rendered_once_per_cluster_is_each_nodes_own_render() -> None:
    inv = _peers_inventory()
    for name, cluster in inv.load_balancers.items():
        assert cluster.proxy.uses_peers()
        nodes = list(cluster.nodes)
        together = haproxy_node_files(inv, name, nodes, source="inv.yaml", root="/lab")
        for node in nodes:  # one node at a time: rendered with its own name, no marker
            alone = haproxy_files(inv, name, source="inv.yaml", root="/lab", node=node)
            assert together[node] == alone
            assert f"localpeer {node}\n" in alone["etc/haproxy/haproxy.cfg"].content
            assert "\0" not in alone["etc/haproxy/haproxy.cfg"].content


@pytest.fixture
def jinja_getattr(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """hakit's environment with Jinja2's own attribute lookup (templates compiled afresh)."""
    monkeypatch.setattr(environment._Environment, "getattr", jinja2.Environment.getattr)
    environment.environment.cache_clear()
    environment.template.cache_clear()
    yield
    environment.environment.cache_clear()
    environment.template.cache_clear()


def test_dict_lookups_render_the_same_bytes_as_jinja2s(example: Inventory, jinja_getattr: None) -> None:
    ours = environment._Environment.__dict__["getattr"]
    jinjas = render_inventory(example, source=EXAMPLE_SOURCE)
    environment.environment.cache_clear()
    environment.template.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(environment._Environment, "getattr", ours)
        assert render_inventory(example, source=EXAMPLE_SOURCE) == jinjas
        assert render_inventory(_peers_inventory(), source="x") != {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ d.name }}", "key"),
        ("{{ d.items is callable }}", "True"),  # a dict's own attributes still win, as in Jinja2
        ("{{ d.get('name') }}", "key"),
        ("{{ o.real }}", "3"),
        ("{{ d.missing is defined }}", "False"),
    ],
)
def test_attribute_lookup_means_what_it_means_in_jinja2(text: str, expected: str) -> None:
    ours = environment._Environment(undefined=jinja2.StrictUndefined).from_string(text)
    plain = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text)
    context = {"d": {"name": "key", "items": "shadowed"}, "o": 3}
    assert ours.render(**context) == plain.render(**context) == expected


def test_a_missing_key_is_still_an_error() -> None:
    template = environment._Environment(undefined=jinja2.StrictUndefined).from_string("{{ d.missing }}")
    with pytest.raises(jinja2.UndefinedError, match="has no attribute 'missing'"):
        template.render(d={})


@pytest.mark.parametrize("inventory", ["examples/inventory.yaml", "no-such-inventory.yaml"])
def test_the_collector_pauses_for_a_render_and_comes_back(
    inventory: str, hakit_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import gc

    from hakit.spec import inventory as module

    seen: list[bool] = []
    real = module.load_inventory

    def load(path: Any, **options: Any) -> Any:
        seen.append(gc.isenabled())
        return real(path, **options)

    monkeypatch.setattr(module, "load_inventory", load)
    assert gc.isenabled()
    result = hakit_cli("render", inventory, "--no-validate", "-o", str(tmp_path / "out"))
    assert result.code == (0 if inventory.startswith("examples") else 2), result.err
    assert seen == [False]
    assert gc.isenabled()  # also after a failed render

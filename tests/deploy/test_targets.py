"""Pure parts of `hakit deploy`: the `deploy:` host field, the Ansible inventory, the rollout order."""

from __future__ import annotations

from pathlib import Path

import pytest
from hakit.deploy.order import holder_problems, rollout_order
from hakit.deploy.playbook.filter_plugins.hakit_rollout import hakit_holders, hakit_vip_problems
from hakit.deploy.targets import (
    SshOverrides,
    ansible_inventory,
    daemons_of,
    min_versions,
    resolve_limit,
)
from hakit.errors import HakitError, SpecError
from hakit.render import render_inventory
from hakit.spec.inventory import load_inventory

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.yaml"


@pytest.fixture(scope="module")
def example() -> tuple[object, dict[str, dict[str, str]]]:
    inv = load_inventory(EXAMPLE)
    tree = {
        h: {p: f.content for p, f in files.items()} for h, files in render_inventory(inv, source="x").items()
    }
    return inv, tree


def test_rollout_order_backups_by_priority_then_holder() -> None:
    priorities = {"a": 150, "b": 100, "c": 120}
    assert rollout_order(priorities, holders=["a"]) == ["b", "c", "a"]
    # The holder is whoever holds the VIP now (after a failover the low-priority node may hold it).
    assert rollout_order(priorities, holders=["b"]) == ["c", "a", "b"]
    assert rollout_order({"x": 100, "y": 100}, holders=[]) == ["x", "y"]


def test_holder_problems_exactly_one() -> None:
    assert holder_problems("web", {"a": {"vi": True}, "b": {"vi": False}}, ["vi"]) == []
    none = holder_problems("web", {"a": {"vi": False}, "b": {"vi": False}}, ["vi"])
    assert none == ["web: VRRP instance vi: no node holds its VIP (is keepalived running?)"]
    both = holder_problems("web", {"a": {"vi": True}, "b": {"vi": True}}, ["vi"])
    assert both and "2 nodes hold its VIP (a, b): split brain" in both[0]


def test_vip_problems_over_hostvars() -> None:
    hostvars = {
        "a": {"hakit_cluster": "web", "hakit_vrrp": {"vi": ["10.0.0.1"]}, "pre": {"holds": {"vi": True}}},
        "b": {"hakit_cluster": "web", "hakit_vrrp": {"vi": ["10.0.0.1"]}, "pre": {"holds": {"vi": True}}},
        "c": {},
    }
    groups = {"all": ["a", "b", "c"], "hakit_lb_web": ["a", "b"], "hakit_hosts": ["c"]}
    assert len(hakit_vip_problems(hostvars, groups, "pre")) == 1
    hostvars["b"]["pre"] = {"holds": {"vi": False}}
    assert hakit_vip_problems(hostvars, groups, "pre") == []
    results = [{"item": "a", "holds": {"vi": True}}, {"item": "b", "holds": {"vi": False}}]
    assert hakit_holders(results) == ["a"]


def test_inventory_groups_in_push_order_with_ssh_defaults(example: tuple) -> None:
    inv, tree = example
    data = ansible_inventory(inv, tree, tree_dir=Path("/o"))
    groups = data["all"]["children"]["hakit_deploy"]["children"]
    assert list(groups["hakit_lb_edge"]["hosts"]) == ["lb2", "lb1"]  # BACKUP first
    lb1 = groups["hakit_lb_edge"]["hosts"]["lb1"]
    assert lb1["ansible_host"] == "198.18.1.11"  # the first interface address
    assert lb1["ansible_user"] == "root" and lb1["ansible_port"] == 22 and lb1["ansible_become"] is False
    assert lb1["hakit_daemons"] == ["haproxy", "keepalived"]
    assert groups["hakit_lb_edge"]["vars"]["hakit_vrrp"] == {
        "VI_EDGE4": ["198.18.1.100"],
        "VI_EDGE6": ["fd00:18:1::100"],
    }
    assert groups["hakit_lb_edge"]["vars"]["hakit_probe_url"].startswith("http://198.18.1.100:")
    assert "hakit_db_shop" in groups and groups["hakit_db_shop"]["vars"]["hakit_vrrp"]
    assert "mariadb" in groups["hakit_db_shop"]["hosts"]["db1"]["hakit_daemons"]
    assert data["all"]["vars"]["hakit_targets"] == sorted(tree)


def test_overrides_and_limit(example: tuple) -> None:
    inv, tree = example
    targets = resolve_limit(inv, tree, "edge")
    assert targets == ["lb1", "lb2"]
    data = ansible_inventory(
        inv,
        tree,
        tree_dir=Path("/o"),
        targets=["lb2"],
        overrides=SshOverrides(user="ops", port=2222, become=True),
    )
    groups = data["all"]["children"]["hakit_deploy"]["children"]
    assert list(groups) == ["hakit_lb_edge"]  # the whole cluster is checked, only lb2 changes
    assert data["all"]["vars"]["hakit_targets"] == ["lb2"]
    lb2 = groups["hakit_lb_edge"]["hosts"]["lb2"]
    assert (lb2["ansible_user"], lb2["ansible_port"], lb2["ansible_become"]) == ("ops", 2222, True)
    with pytest.raises(HakitError, match="unknown host or cluster 'nope'"):
        resolve_limit(inv, tree, "lb1,nope")


def test_min_versions_follow_the_rendered_options() -> None:
    assert min_versions({"etc/haproxy/haproxy.cfg": "global\n"}) == {"haproxy": "2.2 (http-check send)"}
    cfg = {"etc/haproxy/haproxy.cfg": "option idle-close-on-response\n"}
    assert min_versions(cfg)["haproxy"].startswith("2.6 ")
    assert daemons_of(["etc/nginx/nginx.conf", "etc/keepalived/keepalived.conf"]) == ["nginx", "keepalived"]


def _inventory_with(tmp_path: Path, deploy: str) -> Path:
    text = EXAMPLE.read_text().replace("  lb1:\n", f"  lb1:\n    deploy: {deploy}\n", 1)
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    return path


def test_deploy_field_is_validated_with_file_and_line(tmp_path: Path) -> None:
    good = load_inventory(
        _inventory_with(tmp_path, "{address: lb1.example.net, user: ops, become: true, port: 2200}")
    )
    assert good.hosts["lb1"].deploy is not None and good.hosts["lb1"].deploy.port == 2200
    cases = {
        "{address: 'a b'}": "neither an IP address nor a DNS name",
        "{address: '-oProxyCommand=x'}": "neither an IP address nor a DNS name",
        "{user: 'Root;x'}": "hosts.lb1.deploy.user",
        "{user: ops}": "set become: true",
        "{port: 0}": "hosts.lb1.deploy.port",
        "{key: 'k y'}": "hosts.lb1.deploy.key",
        "{hostname: x}": "hosts.lb1.deploy.hostname",
    }
    for value, expected in cases.items():
        with pytest.raises(SpecError) as caught:
            load_inventory(_inventory_with(tmp_path, value))
        text = "\n".join(caught.value.lines)
        assert expected in text, (value, text)
        assert "inv.yaml:" in text

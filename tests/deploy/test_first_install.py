"""First installs and nginx on live hosts: the pure rules of pre-flight, validation, start, gate, rollback."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from hakit.deploy.playbook.filter_plugins.hakit_rollout import (
    hakit_fresh,
    hakit_vip_problems,
    holder_problems,
)
from hakit.deploy.playbook.library import hakit_node
from hakit.deploy.playbook.library.hakit_node import (
    Node,
    StepError,
    advert_settle,
    nonlocal_bind_families,
    nonlocal_bind_only,
)
from hakit.deploy.runner import Progress

NGINX_VIP_99 = (
    "nginx: [emerg] bind() to 198.18.0.10:80 failed (99: Cannot assign requested address)\n"
    "nginx: configuration file /etc/nginx/nginx.conf test failed\n"
)


def _node(tmp_path: Path, **params: Any) -> Node:
    base = {"state_dir": str(tmp_path / "state"), "root": str(tmp_path / "root"), "timeout": 1.0}
    base |= {"daemons": [], "min_versions": {}, "vips": {}, "reload": {}, "start": {}, "stop": {}}
    base |= {"start_stopped": False, "health_url": ""}
    return Node(base | params, check_mode=False)


def test_zero_holders_only_when_keepalived_runs_nowhere() -> None:
    holds = {"a": {"vi": False}, "b": {"vi": False}}
    assert holder_problems("web", holds, ["vi"], {"a": False, "b": False}) == []  # a first install
    broken = holder_problems("web", holds, ["vi"], {"a": True, "b": False})
    assert broken == ["web: VRRP instance vi: no node holds its VIP (keepalived runs on a)"]
    # Unknown (a node that did not report keepalived): the old, strict rule.
    assert holder_problems("web", holds, ["vi"]) != []
    split = {"a": {"vi": True}, "b": {"vi": True}}
    assert "split brain" in holder_problems("web", split, ["vi"], {"a": False, "b": False})[0]


def test_fresh_cluster_from_preflight_facts() -> None:
    vrrp = {"vi": ["10.0.0.1"]}
    hostvars: dict[str, Any] = {
        "a": {"hakit_vrrp": vrrp, "pre": {"holds": {"vi": False}, "running": {"keepalived": False}}},
        "b": {"hakit_vrrp": vrrp, "pre": {"holds": {"vi": False}, "running": {"keepalived": False}}},
        "c": {"pre": {"holds": {}}},
    }
    assert hakit_fresh(hostvars, ["a", "b"], "pre") is True
    assert hakit_fresh(hostvars, ["c"], "pre") is False  # no VIP: nothing to elect
    groups = {"hakit_lb_web": ["a", "b"]}
    assert (
        hakit_vip_problems({k: {**v, "hakit_cluster": "web"} for k, v in hostvars.items()}, groups, "pre")
        == []
    )
    hostvars["b"]["pre"]["running"] = {"keepalived": True}
    assert len(hakit_vip_problems(hostvars, groups, "pre")) == 1
    hostvars["a"]["pre"]["holds"] = {"vi": True}
    assert hakit_fresh(hostvars, ["a", "b"], "pre") is False


def test_nginx_t_bind_99_passes_only_when_the_push_turns_nonlocal_bind_on() -> None:
    assert nonlocal_bind_only(NGINX_VIP_99, {4}) is True
    assert nonlocal_bind_only(NGINX_VIP_99, set()) is False  # the sysctl is not part of the push
    assert nonlocal_bind_only(NGINX_VIP_99.replace("198.18.0.10", "[2001:db8::10]"), {4}) is False
    missing_cert = 'nginx: [emerg] cannot load certificate "/etc/nginx/certs/missing.pem"\n'
    assert nonlocal_bind_only(missing_cert + NGINX_VIP_99, {4}) is False
    in_use = NGINX_VIP_99.replace("99: Cannot assign requested address", "98: Address already in use")
    assert nonlocal_bind_only(in_use, {4}) is False
    assert nonlocal_bind_only("", {4}) is False


def test_nonlocal_bind_families_compares_with_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropin = tmp_path / "90-hakit-ha.conf"
    dropin.write_text("# x\nnet.ipv4.ip_nonlocal_bind = 1\nnet.ipv6.ip_nonlocal_bind = 1\nvm.swappiness=1\n")
    values = {"net.ipv4.ip_nonlocal_bind": "0", "net.ipv6.ip_nonlocal_bind": "1"}
    monkeypatch.setattr(hakit_node, "read_proc_sys", values.get)
    assert nonlocal_bind_families([str(dropin)]) == {4}


def test_keepalived_settles_within_three_adverts_and_a_second(tmp_path: Path) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text("vrrp_instance a {\n    advert_int 0.1\n}\nvrrp_instance b {\n    advert_int 2\n}\n")
    assert advert_settle(str(conf)) == pytest.approx(7.0)
    conf.write_text("vrrp_instance a {\n}\n")
    assert advert_settle(str(conf)) == pytest.approx(4.0)  # keepalived's default advert_int is 1 s
    assert advert_settle(str(tmp_path / "none")) == pytest.approx(4.0)


def _no_daemon(monkeypatch: pytest.MonkeyPatch, running: Collection[str] = ()) -> None:
    monkeypatch.setattr(hakit_node, "installed_version", lambda daemon: "2.6.12")
    monkeypatch.setattr(hakit_node, "masters", lambda comm: [1] if comm in running else [])
    monkeypatch.setattr(hakit_node, "holds", lambda vips: {i: False for i in vips})


def test_preflight_starts_a_first_install_and_refuses_a_stopped_configured_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_daemon(monkeypatch, running={"keepalived"})
    node = _node(tmp_path, daemons=["haproxy", "keepalived"])
    assert node.preflight()["start"] == ["haproxy"]  # no /etc/haproxy/haproxy.cfg here: a first install
    cfg = Path(node.root) / "etc/haproxy/haproxy.cfg"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("global\n")  # the package's default config: still a first install for hakit
    assert node.preflight()["start"] == ["haproxy"]
    cfg.write_text("# Generated by hakit from inventory.yaml. Do not edit.\nglobal\n")
    with pytest.raises(StepError, match=r"haproxy is stopped but configured.*--start-stopped"):
        node.preflight()
    assert _node(tmp_path, daemons=["haproxy"], start_stopped=True).preflight()["start"] == ["haproxy"]
    _no_daemon(monkeypatch)
    with pytest.raises(StepError, match="mariadb is not running"):
        _node(tmp_path, daemons=["mariadb"]).preflight()  # never started by hakit


def test_start_order_and_rollback_stops_what_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Proxy before keepalived on start; keepalived first on rollback; the started daemons end stopped."""
    log = tmp_path / "log"
    running: set[str] = set()
    _no_daemon(monkeypatch, running=running)
    monkeypatch.setattr(hakit_node.Node, "_wait_serving", lambda self, daemon, deadline: None)
    monkeypatch.setattr(hakit_node, "advert_settle", lambda config: 0.0)

    def shell(self: Node, command: str, what: str) -> None:
        verb, daemon = command.split()
        (running.add if verb == "start" else running.discard)(daemon)
        with open(log, "a") as out:
            out.write(command + "\n")

    monkeypatch.setattr(hakit_node.Node, "_shell", shell)
    commands = {d: {"start": f"start {d}", "stop": f"stop {d}"} for d in ("nginx", "keepalived")}
    node = _node(
        tmp_path,
        daemons=["keepalived", "nginx"],
        start={d: c["start"] for d, c in commands.items()},
        stop={d: c["stop"] for d, c in commands.items()},
    )
    Path(node.state).mkdir(parents=True)
    with pytest.raises(StepError, match="nginx is not running"):
        node.reload()  # a daemon that stopped during the push (its config was there before): not started
    # nginx.conf replaces the package's default (no hakit header), keepalived.conf is new: a first install.
    default = Path(node.previous) / "etc/nginx/nginx.conf"
    default.parent.mkdir(parents=True)
    default.write_text("user www-data;\n")
    manifest = {"replaced": ["etc/nginx/nginx.conf"], "created": ["etc/keepalived/keepalived.conf"]}
    hakit_node.write_json(node.manifest, manifest)
    result = node.reload()
    assert result["started"] == ["nginx", "keepalived"] and result["reloaded"] == []
    assert result["changed"] is True
    rolled = node.rollback()
    assert rolled["stopped"] == ["keepalived", "nginx"]
    assert log.read_text().split("\n")[:-1] == [
        "start nginx",
        "start keepalived",
        "stop keepalived",
        "stop nginx",
    ]
    assert running == set()


def test_progress_says_started_rather_than_reloaded() -> None:
    progress = Progress()
    progress.apply(
        {
            "event": "result",
            "status": "ok",
            "host": "lb1",
            "task": "reload",
            "changed": True,
            "reloaded": ["sysctl"],
            "started": ["nginx", "keepalived"],
        }
    )
    progress.apply(
        {
            "event": "result",
            "status": "ok",
            "host": "lb2",
            "task": "reload",
            "changed": True,
            "reloaded": ["nginx"],
            "started": [],
        }
    )
    assert progress.hosts["lb1"].steps["reload"] == "started"
    assert progress.hosts["lb1"].started == ["nginx", "keepalived"]
    assert progress.hosts["lb2"].steps["reload"] == "changed" and progress.hosts["lb2"].started == []


def test_rollback_of_a_first_install_removes_the_sysctl_dropin_without_applying_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first install creates the sysctl drop-in; its rollback deletes it (the kernel keeps the values)."""
    _no_daemon(monkeypatch)
    node = _node(tmp_path)
    staged = Path(node.staging) / "etc/sysctl.d/90-hakit-ha.conf"
    staged.parent.mkdir(parents=True)
    staged.write_text("net.ipv4.ip_nonlocal_bind = 1\n")
    assert node.swap()["files"] == ["etc/sysctl.d/90-hakit-ha.conf"]
    applied: list[list[str]] = []
    monkeypatch.setattr(hakit_node, "run", lambda argv, timeout=30: (applied.append(argv), (0, ""))[1])
    rolled = node.rollback()
    assert rolled["restored"] == ["etc/sysctl.d/90-hakit-ha.conf"]
    assert not (Path(node.root) / "etc/sysctl.d/90-hakit-ha.conf").exists()
    assert applied == []  # `sysctl -p` of the deleted file would fail the rollback

"""`hakit deploy` against a lab whose nodes are SSH hosts (real sshd, ansible-core, HAProxy, keepalived).

Every drill counts every request of a load running through the VIP while the push happens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_lab_support import (
    changed_inventory,
    covered,
    deploy,
    failed,
    push_load,
    running_deploy_lab,
    vip_moves,
)
from hakit.lab.load import LoadConfig, Record
from hakit.lab.runtime import Lab
from hakit.lab.sshd import LabSsh

# Ansible costs ~0.5-1 s per task and host on an idle machine, several times that on a loaded one.
pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(600)]

CFG = "/etc/haproxy/haproxy.cfg"
SECRET = "Zq7-s3cret-Pw"
STATS = f"{{user: admin, password: {SECRET}}}"


@pytest.fixture(scope="module")
def deploy_lab() -> Iterator[tuple[Lab, LabSsh]]:
    with running_deploy_lab("haproxy.yaml", "haproxy") as lab:
        yield lab


@pytest.fixture(scope="module")
def bare_lab() -> Iterator[tuple[Lab, LabSsh]]:
    """The HAProxy pair's hosts before their first push: no config, no daemon, no hakit sysctl."""
    with running_deploy_lab("haproxy.yaml", "haproxy", fresh=True) as lab:
        yield lab


def _inventory(lab: Lab, replacements: dict[str, str]) -> Path:
    return changed_inventory(lab, "haproxy.yaml", replacements)


def _worker_pid(lab: Lab, node: str) -> str:
    info = lab.haproxy_command(node, "show info")
    return next(line.split(":")[1].strip() for line in info.splitlines() if line.startswith("Pid:"))


def test_config_push_under_load(deploy_lab: tuple[Lab, LabSsh]) -> None:
    """Weight and timeout changed across the pair: 0 failed requests, the VIP stays, both nodes run it."""
    lab, ssh = deploy_lab
    inventory = _inventory(
        lab,
        {
            "web2: {address: 198.18.0.22, port: 8080}": (
                "web2: {address: 198.18.0.22, port: 8080, weight: 37}"
            ),
            "timeouts: {connect: 200ms, server: 1s,": "timeouts: {connect: 200ms, server: 2s,",
            "      kind: haproxy\n": f"      kind: haproxy\n      stats: {STATS}\n",
        },
    )
    before = {n.name: _worker_pid(lab, n.name) for n in lab.plan.nodes}
    start = time.monotonic()
    load = lab.start_load(push_load(lab))
    began = time.monotonic()
    result = deploy(lab, ssh, inventory, "--json", "--diff")
    print(f"push across 2 nodes: {time.monotonic() - began:.1f}s")
    records = load.stop()
    covered(records, time.monotonic())
    print(result.stdout[-2000:], result.stderr[-2000:])
    assert result.returncode == 0, result.stderr
    offset = time.time() - time.monotonic()
    for host, data in json.loads(result.stdout)["hosts"].items():
        print(host, {step: round(t - offset - start, 2) for step, t in data["finished"].items()})
    print("VIP events", [(e.netns[-3:], e.added, round(e.at - start, 2)) for e in vip_moves(lab, start)])
    assert len(records) > 200
    assert failed(records) == []
    assert vip_moves(lab, start) == []
    for node in lab.plan.nodes:
        cfg = ssh.ssh(node.name, "cat /etc/haproxy/haproxy.cfg").stdout
        assert "timeout server 2s" in cfg and "weight 37" in cfg
        weights = {r["svname"]: r["weight"] for r in lab.haproxy_stats(node.name) if r["pxname"] == "app"}
        assert weights["web2"] == "37", weights  # the running worker has the new config
        assert _worker_pid(lab, node.name) != before[node.name]
        # The stats password travels with no_log, lands 0600, and never shows in any output.
        assert ssh.ssh(node.name, f"stat -c %a {CFG}").stdout.strip() == "600"
    assert SECRET in inventory.read_text()
    assert SECRET not in result.stdout + result.stderr
    assert "content not shown: the file carries secrets" in result.stdout


def test_gate_failure_rolls_the_node_back(deploy_lab: tuple[Lab, LabSsh]) -> None:
    """A config that validates but leaves no server UP: lb2 is restored, reloaded, healthy; lb1 untouched."""
    lab, ssh = deploy_lab
    inventory = _inventory(
        lab, {"port: 8080}": "port: 8099}", "port: 8080, backup: true}": "port: 8099, backup: true}"}
    )
    configs = {n.name: ssh.ssh(n.name, f"cat {CFG}").stdout for n in lab.plan.nodes}
    lb1_pid = _worker_pid(lab, "lb1")
    lb2_pid = _worker_pid(lab, "lb2")
    start = time.monotonic()
    load = lab.start_load(push_load(lab))
    result = deploy(lab, ssh, inventory, "-e", "hakit_timeout=3")
    records = load.stop()
    covered(records, time.monotonic())
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and last.startswith("hakit deploy: lb2: gate: haproxy: "), last
    assert "has no server UP" in last and "(rolled back)" in last, last
    assert ssh.ssh("lb2", f"cat {CFG}").stdout == configs["lb2"]
    assert _worker_pid(lab, "lb2") != lb2_pid  # reloaded twice: the new config, then the previous one
    assert set(lab.server_states("lb2").values()) == {"UP"}
    assert ssh.ssh("lb1", f"cat {CFG}").stdout == configs["lb1"] and _worker_pid(lab, "lb1") == lb1_pid
    assert vip_moves(lab, start) == [] and failed(records) == []


def test_check_diff_changes_nothing(deploy_lab: tuple[Lab, LabSsh]) -> None:
    """--check --diff: per-host changes shown and validated on the hosts, no file or daemon touched."""
    lab, ssh = deploy_lab
    inventory = _inventory(lab, {"server: 1s,": "server: 3s,"})
    configs = {n.name: ssh.ssh(n.name, f"cat {CFG}").stdout for n in lab.plan.nodes}
    pids = {n.name: _worker_pid(lab, n.name) for n in lab.plan.nodes}
    result = deploy(lab, ssh, inventory, "--check", "--diff", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["check"] is True
    for node in lab.plan.nodes:
        host = report["hosts"][node.name]
        assert "etc/haproxy/haproxy.cfg" in host["files"] and host["diff"], host
        assert host["steps"]["validate"] == "ok" and host["steps"]["swap"] == "skipped", host["steps"]
        assert ssh.ssh(node.name, f"cat {CFG}").stdout == configs[node.name]
        assert _worker_pid(lab, node.name) == pids[node.name]


def test_bad_push_stops_at_the_standby(deploy_lab: tuple[Lab, LabSsh]) -> None:
    """A certificate missing on the hosts: lb2 (standby) refuses it, lb1 untouched, nothing lost."""
    lab, ssh = deploy_lab
    inventory = _inventory(
        lab,
        {
            "www: {addresses: [198.18.0.10], port: 80, backend: app}": (
                "www: {addresses: [198.18.0.10], port: 80, backend: app, "
                "tls: {cert: /etc/haproxy/certs/missing.pem, port: 443}}"
            )
        },
    )
    configs = {n.name: ssh.ssh(n.name, "cat /etc/haproxy/haproxy.cfg").stdout for n in lab.plan.nodes}
    pids = {n.name: _worker_pid(lab, n.name) for n in lab.plan.nodes}
    holder = lab.vip_holders()
    start = time.monotonic()
    load = lab.start_load(push_load(lab))
    result = deploy(lab, ssh, inventory)
    records = load.stop()
    covered(records, time.monotonic())
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("hakit deploy: lb2: validate: haproxy -c:"), last
    assert "missing.pem" in last and "rolled back" in last
    assert holder == ["lb1"] and lab.vip_holders() == ["lb1"] and vip_moves(lab, start) == []
    for node in lab.plan.nodes:
        assert ssh.ssh(node.name, "cat /etc/haproxy/haproxy.cfg").stdout == configs[node.name]
        assert _worker_pid(lab, node.name) == pids[node.name]  # never reloaded
        assert set(lab.server_states(node.name).values()) == {"UP"}
    assert failed(records) == []


def _reloads_under_keepalive(lab: Lab, ssh: LabSsh, count: int = 5) -> list[Record]:
    """Idle keep-alive connections (150 ms between requests) through the VIP while lb1 reloads."""
    reload = ssh.reload_commands("lb1")["haproxy"]
    _reload(lab, ssh, reload)  # the worker that the measured reloads replace runs the config under test
    config = LoadConfig(
        lab.plan.vip, lab.plan.port, keepalive=8, keepalive_interval_ms=150, new_interval_ms=0, max_seconds=60
    )
    load = lab.start_load(config)
    for _ in range(count):
        _reload(lab, ssh, reload)
        time.sleep(0.5)
    return load.stop()


def _reload(lab: Lab, ssh: LabSsh, command: str) -> None:
    before = _worker_pid(lab, "lb1")
    assert ssh.ssh("lb1", command).returncode == 0
    deadline = time.monotonic() + 10
    while _worker_pid(lab, "lb1") == before and time.monotonic() < deadline:
        time.sleep(0.05)


def test_reload_under_idle_keepalive_load(deploy_lab: tuple[Lab, LabSsh]) -> None:
    """Idle keep-alive connections across HAProxy reloads, without and with idle-close-on-response."""
    lab, ssh = deploy_lab
    cfg = "/etc/haproxy/haproxy.cfg"
    assert "option idle-close-on-response" in ssh.ssh("lb1", f"cat {cfg}").stdout
    # Baseline: the same config without the option (the file is put back afterwards).
    without = ssh.ssh("lb1", f"cp -p {cfg} {cfg}.keep && sed -i '/idle-close-on-response/d' {cfg}")
    assert without.returncode == 0, without.stderr
    try:
        baseline = _reloads_under_keepalive(lab, ssh)
    finally:
        assert ssh.ssh("lb1", f"mv -f {cfg}.keep {cfg}").returncode == 0
    records = _reloads_under_keepalive(lab, ssh)
    for name, run in (("without", baseline), ("with", records)):
        resent = [r for r in run if r[4] > 0]
        print(
            f"keep-alive reloads {name} idle-close-on-response: {len(run)} requests, "
            f"{len(failed(run))} failed, {len(resent)} resent after a reset/close"
        )
    assert len(records) > 100
    assert failed(records) == []
    # A reused connection closed by the old worker shows up as a resent request (the client's RFC 9112 retry).
    assert [r for r in records if r[4] > 0] == []


def test_stopped_haproxy_on_the_standby_is_started(deploy_lab: tuple[Lab, LabSsh]) -> None:
    """lb2's HAProxy stopped (its keepalived FAULT): --start-stopped starts it, servers UP, the VIP stays."""
    lab, ssh = deploy_lab
    lab.supervisor.stop("proxy-lb2")
    lab.supervisor.forget("proxy-lb2")
    start = time.monotonic()
    load = lab.start_load(push_load(lab))
    result = deploy(lab, ssh, _inventory(lab, {}), "--start-stopped", "--json")
    records = load.stop()
    covered(records, time.monotonic())
    adopted = ssh.adopt_started()
    print(f"start a stopped standby HAProxy: {len(records)} requests, {len(failed(records))} failed")
    assert result.returncode == 0, result.stderr
    hosts = json.loads(result.stdout)["hosts"]
    assert hosts["lb2"]["started"] == ["haproxy"] and hosts["lb2"]["steps"]["reload"] == "started"
    assert hosts["lb1"]["started"] == []
    assert adopted == ["proxy-lb2"]
    assert set(lab.server_states("lb2").values()) == {"UP"}
    assert failed(records) == [] and vip_moves(lab, start) == [] and lab.vip_holders() == ["lb1"]


def test_first_install_of_an_haproxy_pair(bare_lab: tuple[Lab, LabSsh]) -> None:
    """From bare hosts: HAProxy then keepalived on lb1, then lb2; one VIP holder, servers UP, serving."""
    lab, ssh = bare_lab
    start = time.monotonic()
    result = deploy(lab, ssh, _inventory(lab, {}), "--json")
    print(f"first install of an HAProxy pair: {time.monotonic() - start:.1f}s")
    assert result.returncode == 0, result.stderr
    hosts = json.loads(result.stdout)["hosts"]
    for name in ("lb1", "lb2"):
        assert hosts[name]["started"] == ["haproxy", "keepalived"], hosts[name]
        assert "sysctl" in hosts[name]["reloaded"] and hosts[name]["steps"]["reload"] == "started"
    assert hosts["lb1"]["finished"]["gate"] < hosts["lb2"]["finished"]["gate"]
    assert sorted(ssh.adopt_started()) == ["keepalived-lb1", "keepalived-lb2", "proxy-lb1", "proxy-lb2"]
    assert lab.vip_holders() == ["lb1"]
    assert len([e for e in vip_moves(lab, start) if e.added]) == 1  # type: ignore[attr-defined]
    for name in ("lb1", "lb2"):
        # The gate read every backend with a server UP on the started HAProxy's own stats socket.
        assert hosts[name]["steps"]["gate"] == "ok" and hosts[name]["steps"]["probe"] == "ok"
    probe = lab.run_load(LoadConfig(lab.plan.vip, lab.plan.port, keepalive=1, max_requests=50, max_seconds=5))
    assert len(probe) == 50 and failed(probe) == []

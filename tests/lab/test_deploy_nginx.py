"""`hakit deploy` onto nginx pairs (real sshd, ansible-core, nginx, keepalived), and first installs.

Every push drill counts every request of a load running through the VIP while the push happens.
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
from hakit.lab.procs import children_of
from hakit.lab.runtime import Lab
from hakit.lab.sshd import LabSsh

# Ansible costs ~0.5-1 s per task and host on an idle machine, several times that on a loaded one.
pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(600)]

CFG = "/etc/nginx/nginx.conf"


@pytest.fixture(scope="module")
def nginx_lab() -> Iterator[tuple[Lab, LabSsh]]:
    with running_deploy_lab("nginx.yaml", "nginx") as lab:
        yield lab


@pytest.fixture(scope="module")
def bare_lab() -> Iterator[tuple[Lab, LabSsh]]:
    with running_deploy_lab("nginx.yaml", "nginx", fresh=True) as lab:
        yield lab


def _inventory(lab: Lab, replacements: dict[str, str]) -> Path:
    return changed_inventory(lab, "nginx.yaml", replacements)


def _workers(lab: Lab, node: str) -> set[int]:
    """PIDs of the node's nginx workers that serve (not those of an older generation shutting down)."""
    master = lab.supervisor.records[f"proxy-{node}"].pid
    serving = set()
    for pid in children_of(master):
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        if "worker process" in title and "shutting down" not in title:
            serving.add(pid)
    return serving


def _summary(name: str, records: list[Record], lab: Lab, start: float) -> None:
    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    print(
        f"{name}: {len(records)} requests, {len(failed(records))} failed, "
        f"{len(vip_moves(lab, start))} VIP events, load average {load}"
    )


def test_nginx_push_under_load(nginx_lab: tuple[Lab, LabSsh]) -> None:
    """Weight and timeout changed across the nginx pair: 0 failed requests, the VIP stays, both reloaded."""
    lab, ssh = nginx_lab
    inventory = _inventory(
        lab,
        {
            "web2: {address: 198.18.0.22, port: 8080}": (
                "web2: {address: 198.18.0.22, port: 8080, weight: 37}"
            ),
            "timeouts: {connect: 200ms, server: 1s,": "timeouts: {connect: 200ms, server: 2s,",
        },
    )
    before = {n.name: _workers(lab, n.name) for n in lab.plan.nodes}
    start = time.monotonic()
    load = lab.start_load(push_load(lab))
    result = deploy(lab, ssh, inventory, "--json")
    records = load.stop()
    covered(records, time.monotonic())
    _summary("nginx push under load", records, lab, start)
    print(result.stdout[-1500:], result.stderr[-1500:])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(records) > 200
    assert failed(records) == []
    assert vip_moves(lab, start) == [] and lab.vip_holders() == ["lb1"]
    finished = {host: data["finished"]["gate"] for host, data in report["hosts"].items()}
    assert finished["lb2"] < finished["lb1"]  # the standby first, the VIP holder last
    for node in lab.plan.nodes:
        host = report["hosts"][node.name]
        assert "nginx" in host["reloaded"] and host["started"] == [], host
        assert host["steps"]["validate"] == "ok" and host["steps"]["reload"] == "changed", host["steps"]
        cfg = ssh.ssh(node.name, f"cat {CFG}").stdout
        assert "proxy_read_timeout 2s;" in cfg and "198.18.0.22:8080 weight=37" in cfg
        # The master loaded it: a new generation of workers serves, the previous one is gone or draining.
        assert _workers(lab, node.name) and not _workers(lab, node.name) & before[node.name]


def test_nginx_bad_push_stops_at_the_standby(nginx_lab: tuple[Lab, LabSsh]) -> None:
    """A certificate missing on the hosts: nginx -t on lb2 (standby) refuses it, lb1 untouched, 0 lost."""
    lab, ssh = nginx_lab
    inventory = _inventory(
        lab,
        {
            "www: {addresses: [198.18.0.10], port: 80, backend: app}": (
                "www: {addresses: [198.18.0.10], port: 80, backend: app, "
                "tls: {cert: /etc/nginx/certs/missing.pem, port: 443}}"
            )
        },
    )
    configs = {n.name: ssh.ssh(n.name, f"cat {CFG}").stdout for n in lab.plan.nodes}
    workers = {n.name: _workers(lab, n.name) for n in lab.plan.nodes}
    start = time.monotonic()
    load = lab.start_load(push_load(lab))
    result = deploy(lab, ssh, inventory)
    records = load.stop()
    covered(records, time.monotonic())
    _summary("nginx bad push", records, lab, start)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("hakit deploy: lb2: validate: nginx -t:"), last
    assert "missing.pem" in last and "rolled back" in last, last
    assert lab.vip_holders() == ["lb1"] and vip_moves(lab, start) == []
    for node in lab.plan.nodes:
        assert ssh.ssh(node.name, f"cat {CFG}").stdout == configs[node.name]
        assert _workers(lab, node.name) == workers[node.name]  # never reloaded
    assert failed(records) == []


def test_stopped_proxy_needs_start_stopped(nginx_lab: tuple[Lab, LabSsh]) -> None:
    """nginx stopped on the standby: refused without --start-stopped; with it, started, the holder kept."""
    lab, ssh = nginx_lab
    inventory = _inventory(lab, {})
    lab.supervisor.stop("proxy-lb2")
    lab.supervisor.forget("proxy-lb2")
    refused = deploy(lab, ssh, inventory)
    last = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode == 1 and "lb2: preflight: nginx is stopped but configured" in last, last
    assert "--start-stopped" in last
    start = time.monotonic()
    load = lab.start_load(push_load(lab))
    result = deploy(lab, ssh, inventory, "--start-stopped", "--json")
    records = load.stop()
    covered(records, time.monotonic())
    _summary("start a stopped standby proxy", records, lab, start)
    assert result.returncode == 0, result.stderr
    hosts = json.loads(result.stdout)["hosts"]
    assert hosts["lb2"]["started"] == ["nginx"] and hosts["lb2"]["steps"]["reload"] == "started"
    assert hosts["lb1"]["started"] == []
    assert ssh.adopt_started() == ["proxy-lb2"]
    assert _workers(lab, "lb2")
    assert failed(records) == [] and vip_moves(lab, start) == [] and lab.vip_holders() == ["lb1"]


def test_failed_first_install_leaves_bare_hosts(bare_lab: tuple[Lab, LabSsh]) -> None:
    """Every server on a dead port: lb1 starts, the probe through the VIP gets 502, lb1 ends as found."""
    lab, ssh = bare_lab
    inventory = _inventory(
        lab, {"port: 8080}": "port: 8099}", "port: 8080, backup: true}": "port: 8099, backup: true}"}
    )
    start = time.monotonic()
    result = deploy(lab, ssh, inventory, "-e", "hakit_timeout=5")
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and last.startswith("hakit deploy: lb1: probe: "), last
    assert "502" in last and last.endswith("(rolled back)"), last
    assert ssh.adopt_started() == []  # the daemons the push started were stopped again
    for node in lab.plan.nodes:
        files = ssh.ssh(node.name, "find /etc/nginx /etc/keepalived /etc/sysctl.d -type f").stdout.split()
        assert files == [], (node.name, files)
    assert lab.vip_holders() == []
    print("VIP events", [(e.netns[-3:], e.added, round(e.at - start, 2)) for e in vip_moves(lab, start)])  # type: ignore[attr-defined]


def test_first_install_onto_bare_hosts(bare_lab: tuple[Lab, LabSsh]) -> None:
    """No config, no daemon: validated, swapped, nginx then keepalived started, one VIP holder, serving."""
    lab, ssh = bare_lab
    assert lab.vip_holders() == []
    for node in lab.plan.nodes:
        assert ssh.ssh(node.name, f"test -e {CFG}").returncode == 1
    start = time.monotonic()
    result = deploy(lab, ssh, _inventory(lab, {}), "--json")
    print(result.stdout[-2500:], result.stderr[-1500:])
    assert result.returncode == 0, result.stderr
    hosts = json.loads(result.stdout)["hosts"]
    for name in ("lb1", "lb2"):
        assert hosts[name]["started"] == ["nginx", "keepalived"], hosts[name]
        assert hosts[name]["steps"]["reload"] == "started", hosts[name]["steps"]
    # The node meant to hold the VIP first: it takes the VIP once, lb2 starts as its BACKUP.
    assert hosts["lb1"]["finished"]["gate"] < hosts["lb2"]["finished"]["gate"]
    assert sorted(ssh.adopt_started()) == sorted(
        ["proxy-lb1", "keepalived-lb1", "proxy-lb2", "keepalived-lb2"]
    )
    assert lab.vip_holders() == ["lb1"]
    added = [e for e in vip_moves(lab, start) if e.added]  # type: ignore[attr-defined]
    assert len(added) == 1, added
    probe = lab.run_load(LoadConfig(lab.plan.vip, lab.plan.port, keepalive=1, max_requests=50, max_seconds=5))
    assert len(probe) == 50 and failed(probe) == []

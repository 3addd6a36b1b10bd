"""The lab's parts on loopback (no namespaces): backend, load client, supervisor, plan, accounting."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from hakit.errors import HakitError
from hakit.lab.drills import DrillResult, _account, parse_drills
from hakit.lab.from_inventory import build_plan
from hakit.lab.load import LoadConfig, Record
from hakit.lab.procs import Supervisor, is_running, process_tree
from hakit.lab.session import open_inventory, tune
from hakit.lab.vip import _parse
from support import require_binaries

pytestmark = [pytest.mark.lab, pytest.mark.serial]

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    """A supervisor whose processes are all stopped after the test."""
    sup = Supervisor(tmp_path / "logs")
    yield sup
    sup.stop_all()


def _wait_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on {port}")


def _load(supervisor: Supervisor, tmp_path: Path, config: LoadConfig, name: str = "load") -> list[Record]:
    out = tmp_path / f"{name}.json"
    argv = [sys.executable, "-m", "hakit.lab.load", "--out", str(out)]
    for key, value in vars(config).items():
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    supervisor.start(name, argv)
    supervisor.popen(name).wait(timeout=30)
    return [cast(Record, tuple(r)) for r in json.loads(out.read_text())]


def test_backend_and_load_client_account_every_request(supervisor: Supervisor, tmp_path: Path) -> None:
    """Both kinds of load reach the backend; SIGUSR1 turns answers into 500 (not the health path)."""
    port = _free_port()
    argv = [
        sys.executable,
        "-m",
        "hakit.lab.backend",
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--name",
        "b1",
    ]
    supervisor.start("backend", argv)
    _wait_port(port)
    config = LoadConfig("127.0.0.1", port, new_interval_ms=5, keepalive=1, max_requests=300, max_seconds=10)
    records = _load(supervisor, tmp_path, config)
    assert len(records) == 300
    assert {r[0] for r in records} == {"n", "k"}
    assert all(r[3] == 200 and r[5] == "b1" for r in records)
    supervisor.signal("backend", signal.SIGUSR1)
    broken = _load(supervisor, tmp_path, LoadConfig("127.0.0.1", port, keepalive=1, max_requests=20), "l2")
    assert {r[3] for r in broken} == {500}
    health = _load(
        supervisor, tmp_path, LoadConfig("127.0.0.1", port, path="/health", keepalive=1, max_requests=5), "l3"
    )
    assert {r[3] for r in health} == {200}


def test_load_client_is_bounded_in_time_and_counts_failures(supervisor: Supervisor, tmp_path: Path) -> None:
    """Nothing listening: every request fails within its deadline and the run stops at max_seconds."""
    port = _free_port()
    config = LoadConfig("127.0.0.1", port, new_interval_ms=50, keepalive=1, deadline_ms=200, max_seconds=1.0)
    started = time.monotonic()
    records = _load(supervisor, tmp_path, config)
    assert time.monotonic() - started < 5
    assert records and all(r[3] == 0 for r in records)
    assert all(r[4] > 0 for r in records)  # refused connects were retried within the deadline


def test_crash_kills_the_whole_tree_and_stop_is_by_pid(supervisor: Supervisor) -> None:
    """crash() kills children too (keepalived's VRRP child); records never match a recycled PID."""
    record = supervisor.start("tree", ["bash", "-c", "sleep 30 & sleep 30 & wait"])
    deadline = time.monotonic() + 5
    while len(process_tree(record.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    tree = process_tree(record.pid)
    assert len(tree) == 3
    supervisor.crash("tree")
    assert not supervisor.alive("tree")
    time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in tree[1:])
    assert not is_running(record)


def _state(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "gone"
    return raw[raw.rindex(")") + 2 :].split()[0]


def test_plan_from_inventory_renders_rooted_configs(tmp_path: Path) -> None:
    """The plan carries hakit's rendered configs, rooted in the lab's work directory."""
    inv, cluster = open_inventory(HERE / "haproxy.yaml", None)
    plan = build_plan(inv, cluster, source="tests/lab/haproxy.yaml", workdir=tmp_path)
    assert plan.master.name == "lb1" and plan.standby.name == "lb2"
    assert plan.vip == "198.18.0.10" and plan.port == 80
    assert plan.crash_limit() == pytest.approx(3 * 0.1 + (256 - 100) * 0.1 / 256)
    assert plan.clean_stop_limit() == pytest.approx(0.1)
    assert plan.rate_limit_per_s == 20 and plan.rate_limit_port == 8080
    assert [b.name for b in plan.backends if b.backup] == ["sorry"]
    config = next(f for f in plan.master.files if f.relpath == plan.master.proxy_conf)
    assert f"{tmp_path}/hosts/lb1/" in config.content
    for address in (*plan.client_addresses, *(b.address for b in plan.backends)):
        assert address.startswith("198.18.")
    # Its own quiet addresses for the rate-limit drills; the plain frontend's load is not spread.
    assert len(plan.probe_sources) == 3 and plan.source_rate is None and len(plan.load_sources) == 1
    assert [(r.frontend, r.port, r.capacity) for r in plan.rate_limits] == [
        ("api", 8080, 20),
        ("slow", 8081, 5),
    ]
    assert tune(inv, cluster, nopreempt=True).load_balancers[cluster].vrrp.instances["vi_web"].nopreempt
    assert not inv.load_balancers[cluster].vrrp.instances["vi_web"].nopreempt


def test_accounting_from_records() -> None:
    """failed = no answer or 5xx; recover = end of the last impaired request after the fault."""
    records = [
        ("n", 0.0, 0.001, 200, 0, "a"),
        ("n", 0.01, 0.011, 200, 0, "a"),
        ("k", 1.0, 1.3, 200, 3, "b"),  # reconnected: impaired
        ("n", 1.1, 1.2, 503, 0, ""),
        ("n", 1.2, 1.4, 0, 0, ""),
        ("n", 2.0, 2.001, 200, 0, "b"),
    ]
    result = DrillResult(1, "x", "haproxy", 0.1)
    _account(result, records, fault_at=1.0)
    assert (result.sent, result.ok, result.failed, result.reconnects) == (6, 4, 2, 3)
    assert result.statuses == {"200": 4, "503": 1, "fail": 1}
    assert result.recover_s == pytest.approx(0.4)


def test_parse_drills_and_monitor_lines() -> None:
    """Drill selections by number, range and name; `ip monitor` lines."""
    assert parse_drills("all") == list(range(1, 13))
    assert parse_drills("1,4-6,rate-limit") == [1, 4, 5, 6, 9]
    assert parse_drills("post-not-replayed,11-12") == [10, 11, 12]
    with pytest.raises(HakitError):
        parse_drills("13")
    assert _parse("3: eth0    inet 198.18.0.10/24 scope global secondary eth0") == ("198.18.0.10", True)
    assert _parse("Deleted 3: eth0    inet 198.18.0.10/24 scope global eth0") == ("198.18.0.10", False)
    assert _parse("       valid_lft forever preferred_lft forever") is None


def test_a_production_shaped_cluster_is_drilled_as_it_is(tmp_path: Path) -> None:
    """Only a TLS frontend with a rate limit (refused before issue 12): TLS with a lab certificate at the
    configured path, and the load spread over client addresses, each below half of the limit."""
    require_binaries("openssl")
    inv, cluster = open_inventory(HERE / "production.yaml", None)
    plan = build_plan(inv, cluster, source="tests/lab/production.yaml", workdir=tmp_path)
    assert (plan.frontend, plan.port) == ("www", 443)
    assert plan.ca_file is not None and "BEGIN CERTIFICATE" in Path(plan.ca_file).read_text()
    pem = next(f for f in plan.master.files if f.relpath == "etc/haproxy/certs/www.pem")
    assert "PRIVATE KEY" in pem.content and pem.mode == 0o600
    config = plan.load_config()
    sources = config.sources()
    assert len(sources) == 64 and len(set(sources)) == 64
    assert plan.source_rate == 25.0  # half of 50/s
    assert 1000 / config.keepalive_interval_ms <= plan.source_rate  # the keep-alive stream's address
    assert 1000 / config.new_interval_ms / (len(sources) - 1) <= plan.source_rate  # each other address
    assert not set(sources) & set(plan.probe_sources)
    assert [(r.port, r.tls, r.capacity) for r in plan.rate_limits] == [(443, True, 75)]
    # Re-planning the same work directory (`lab drill` on a lab left by `lab up`) keeps the certificate.
    again = build_plan(inv, cluster, source="tests/lab/production.yaml", workdir=tmp_path)
    kept = next(f for f in again.master.files if f.relpath == "etc/haproxy/certs/www.pem")
    assert kept.content == pem.content


def test_frontend_choice_and_what_the_lab_client_cannot_speak(tmp_path: Path) -> None:
    """--frontend picks the drilled frontend (unknown: exit 2); PROXY-protocol-only clusters are refused."""
    inv, cluster = open_inventory(HERE / "haproxy.yaml", None)
    plan = build_plan(inv, cluster, source="x", workdir=tmp_path / "a", frontend="api")
    assert (plan.frontend, plan.port, plan.source_rate) == ("api", 8080, 10.0)  # half of 20/s per address
    with pytest.raises(HakitError) as caught:
        build_plan(inv, cluster, source="x", workdir=tmp_path / "b", frontend="nope")
    assert caught.value.exit_code == 2 and "unknown frontend 'nope'" in str(caught.value)
    proxied = inv.model_copy(deep=True)
    for frontend in proxied.load_balancers[cluster].proxy.frontends.values():
        frontend.accept_proxy = True
    with pytest.raises(HakitError, match="PROXY protocol"):
        build_plan(proxied, cluster, source="x", workdir=tmp_path / "c")


def test_destroying_a_namespace_ends_what_still_runs_in_it() -> None:
    """A process left inside a lab namespace (an orphaned sshd session) is ended with it, not left behind."""
    from hakit.lab import netns
    from support import require_root

    require_root()
    require_binaries("ip", "setsid")
    ns = f"{netns.new_prefix()}-x"
    netns.run_ip("netns", "add", ns)
    try:
        # Detached like a session whose sshd is gone: its parent is not us, and it ignores SIGTERM.
        subprocess.run(
            ["ip", "netns", "exec", ns, "setsid", "-f", "sh", "-c", "trap '' TERM; sleep 300"], check=True
        )
        deadline = time.monotonic() + 5
        while not (records := netns.namespace_processes(ns)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        netns.destroy([ns])
        assert ns not in netns.existing_namespaces()
        assert not [record for record in records if is_running(record)]
    finally:
        netns.destroy([ns])

"""Deploy labs for the `hakit deploy` drills: lab nodes that are SSH hosts, the push, the load, the counts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hakit.lab import netns
from hakit.lab.load import LoadConfig, Record
from hakit.lab.runtime import Lab
from hakit.lab.sshd import LabSsh, create_deploy_lab
from hakit.spec.inventory import load_inventory
from support import require_binaries, require_root

LAB_DIR = Path(__file__).parent / "lab"
HAKIT = str(Path(sys.executable).parent / "hakit")


@contextmanager
def running_deploy_lab(inventory: str, proxy: str, *, fresh: bool = False) -> Iterator[tuple[Lab, LabSsh]]:
    """The lab of tests/lab/`inventory`'s cluster `web` with sshd on every node; `fresh`: bare hosts.

    Afterwards no namespace, daemon (those a push started included) or sshd of it is left.
    """
    require_root()
    require_binaries("ip", "keepalived", proxy, "sshd", "ssh", "ssh-keygen", "unshare", "setsid")
    inv = load_inventory(LAB_DIR / inventory)
    lab, ssh = create_deploy_lab(inv, "web", source=f"tests/lab/{inventory}", fresh=fresh)
    try:
        if not fresh:
            settled(lab)
        yield lab, ssh
    finally:
        ssh.adopt_started()  # daemons a push started: stopped by PID with the lab's own
        sshd_pids = [int(p.read_text()) for p in (ssh.pid_file(n.name) for n in lab.plan.nodes) if p.exists()]
        lab.remove()
        assert not set(lab.topology.namespaces()) & netns.existing_namespaces()
        assert not any(lab.supervisor.alive(n) for n in lab.supervisor.records)
        assert not [pid for pid in sshd_pids if Path(f"/proc/{pid}").exists()]


def settled(lab: Lab, timeout: float = 15.0) -> None:
    """Wait until the master holds the VIP alone (at start-up the standby may hold it until preempted)."""
    deadline = time.monotonic() + timeout
    while lab.vip_holders() != [lab.plan.master.name]:
        assert time.monotonic() < deadline, lab.vip_holders()
        time.sleep(0.05)
    time.sleep(1.0)


def changed_inventory(lab: Lab, inventory: str, replacements: dict[str, str]) -> Path:
    """tests/lab/`inventory` with text replaced (the change to push), written next to the lab's files."""
    text = (LAB_DIR / inventory).read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = lab.workdir / f"inventory-{time.monotonic_ns()}.yaml"
    path.write_text(text)
    return path


def deploy(lab: Lab, ssh: LabSsh, inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`hakit deploy` from the client namespace (the operator's machine), with the lab's SSH overlay."""
    argv = ["ip", "netns", "exec", lab.client_ns, HAKIT, "deploy", str(inventory), "--yes"]
    argv += ["-i", str(ssh.write_overlay()), *args]
    began = time.monotonic()
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=400, check=False, cwd=LAB_DIR.parents[1]
    )
    print(f"hakit deploy {' '.join(args)}: {time.monotonic() - began:.1f}s, exit {result.returncode}")
    return result


def push_load(lab: Lab) -> LoadConfig:
    """~150 requests/s (2 keep-alive streams + a new connection every 20 ms), bounded to outlast a push."""
    return LoadConfig(
        lab.plan.vip,
        lab.plan.port,
        keepalive=2,
        keepalive_interval_ms=20,
        new_interval_ms=20,
        max_requests=100_000,
        max_seconds=450,
    )


def covered(records: list[Record], until: float) -> None:
    """The load was still sending when the push ended (not stopped early by its bounds)."""
    assert records and records[-1][1] >= until - 2, (records[-1:], until)


def failed(records: list[Record]) -> list[Record]:
    """The requests that did not get a 200."""
    return [r for r in records if r[3] != 200]


def vip_moves(lab: Lab, since: float) -> list[object]:
    """The lab VIP's add/remove events since `since`."""
    assert lab.watcher is not None
    return [e for e in lab.watcher.events if e.address == lab.plan.vip and e.at >= since]

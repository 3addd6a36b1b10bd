"""`hakit lab up | status | drill | down` as a user runs them, and clean-up after an interrupt."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hakit.lab.netns import existing_namespaces
from hakit.lab.procs import ProcRecord, is_running
from support import require_binaries, require_root

pytestmark = [pytest.mark.lab, pytest.mark.serial]

INVENTORY = Path(__file__).parent / "haproxy.yaml"


def _hakit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hakit.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state directory; whatever a failing test left in it is torn down."""
    require_root()
    require_binaries("ip", "keepalived", "haproxy")
    yield tmp_path
    _hakit("lab", "down", "--state-dir", str(tmp_path))


def test_up_drill_down(state_dir: Path) -> None:
    """`up` leaves a recorded lab; `drill` runs on it; `down` kills its PIDs and deletes its namespaces."""
    up = _hakit("lab", "up", str(INVENTORY), "--state-dir", str(state_dir))
    assert up.returncode == 0, up.stderr
    [state_file] = list(state_dir.glob("*.json"))
    assert state_file.stat().st_mode & 0o777 == 0o600
    state = json.loads(state_file.read_text())
    assert set(state["namespaces"]) <= existing_namespaces()
    status = _hakit("lab", "status", "--state-dir", str(state_dir))
    assert status.stdout.startswith(state["prefix"]) and "intact" in status.stdout, status.stdout
    [listed] = json.loads(_hakit("lab", "status", "--json", "--state-dir", str(state_dir)).stdout)
    recorded = len(state["processes"])
    assert listed["prefix"] == state["prefix"] and listed["intact"], listed
    assert listed["processes"] == {"running": recorded, "recorded": recorded}, listed

    drill = _hakit("lab", "drill", "--drills", "4", "--json", "--state-dir", str(state_dir))
    assert drill.returncode == 0, drill.stderr
    [result] = json.loads(drill.stdout)
    assert result["name"] == "lb-clean-stop" and result["detect_s"] <= 0.1 + 0.1, result

    # The drill restarted keepalived on the master: the state file follows the new PIDs.
    records = [ProcRecord.from_dict(r) for r in json.loads(state_file.read_text())["processes"]]
    assert records and all(is_running(r) for r in records)
    down = _hakit("lab", "down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert not set(state["namespaces"]) & existing_namespaces()
    assert not any(is_running(r) for r in records)
    assert not list(state_dir.glob("*.json"))
    assert json.loads(_hakit("lab", "status", "--json", "--state-dir", str(state_dir)).stdout) == []


def test_interrupted_drill_cleans_up(state_dir: Path) -> None:
    """SIGTERM in the middle of `lab drill` still stops the daemons and deletes the namespaces."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hakit.cli",
            "lab",
            "drill",
            str(INVENTORY),
            "-d",
            "1,2",
            "--state-dir",
            str(state_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The run's work directory is STATE_DIR/<prefix>: its namespaces are <prefix>-* (other runs may be
    # building labs at the same time on this machine).
    deadline = time.monotonic() + 30
    created: set[str] = set()
    while not created and time.monotonic() < deadline:
        prefixes = [p.name for p in state_dir.iterdir() if p.is_dir()]
        created = {ns for ns in existing_namespaces() for prefix in prefixes if ns.startswith(prefix + "-")}
        time.sleep(0.05)
    assert created, "the drill never built its namespaces"
    time.sleep(1.5)  # inside the lab start-up or the first drill
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert not created & existing_namespaces()
    assert not [p for p in state_dir.iterdir() if p.is_dir()], "the work directory was left behind"

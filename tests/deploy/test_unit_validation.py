"""hakit_node's validate step checks staged systemd units with `systemd-analyze verify` (backup timers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hakit.deploy.playbook.library.hakit_node import Node, StepError
from support import require_binaries

SERVICE = "[Unit]\nDescription=x\n\n[Service]\nType=oneshot\nExecStart={program} backup run\n"
TIMER = "[Unit]\nDescription=x\n\n[Timer]\nOnCalendar={calendar}\nUnit=hakit-backup-x.service\n"


def _node(tmp_path: Path, program: str, calendar: str) -> Node:
    params = {"state_dir": str(tmp_path / "state"), "root": str(tmp_path / "root"), "timeout": 1.0}
    params |= {"daemons": [], "min_versions": {}, "vips": {}, "reload": {}, "start": {}, "stop": {}}
    params |= {"start_stopped": False, "health_url": ""}
    node = Node(params, check_mode=False)
    units = Path(node.staging) / "etc/systemd/system"
    units.mkdir(parents=True)
    (units / "hakit-backup-x.service").write_text(SERVICE.format(program=program))
    (units / "hakit-backup-x.timer").write_text(TIMER.format(calendar=calendar))
    return node


def test_units_that_systemd_accepts_pass(tmp_path: Path) -> None:
    require_binaries("systemd-analyze")
    assert "systemd" in _node(tmp_path, "/bin/true", "*-*-* 02:30:00").validate()["checked"]


@pytest.mark.parametrize(
    ("program", "calendar", "said"),
    [
        ("/usr/local/bin/no-such-hakit", "*-*-* 02:30:00", "no-such-hakit is not executable"),
        ("/bin/true", "*-*-* 25:30:00", "Failed to parse calendar specification"),
    ],
)
def test_units_that_systemd_refuses_fail_validation(
    tmp_path: Path, program: str, calendar: str, said: str
) -> None:
    require_binaries("systemd-analyze")
    with pytest.raises(StepError, match=f"systemd-analyze verify: .*{said}"):
        _node(tmp_path, program, calendar).validate()

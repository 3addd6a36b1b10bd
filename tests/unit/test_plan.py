"""`hakit plan --stack ENV`: the offline 'what would be built' view, and its errors (exit 2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _hakit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    code = "from hakit.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_plan_text_tree_and_counts() -> None:
    result = _hakit("plan", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("stack hakit/dev: 14 resources")
    assert "└─ shop  (hakit:stacks:ServiceStack;" in out
    assert "shop-us-east-1-alb  (hakit:loadbalancer:LoadBalancer; 9 resources in us-east-1)" in out
    assert "aws:lb/loadBalancer:LoadBalancer" in out
    # The count table: one row per type, a column per placement, totals.
    header = next(line for line in out.splitlines() if line.startswith("type "))
    assert header.split()[1:] == ["global", "us-east-1", "total"]
    total = next(line for line in out.splitlines() if line.startswith("total "))
    assert total.split()[-1] == "14"


def test_plan_json_local_is_docker_only() -> None:
    result = _hakit("plan", "--stack", "local", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["stack"] == "local" and plan["placements"] == {"local": 10}
    assert all(kind.startswith("docker:") for kind in plan["counts"])
    (root,) = plan["tree"]
    assert root["type"] == "hakit:local:LocalLab" and len(root["children"]) == 10
    assert plan["outputs"]["vip"] == "172.30.57.100"


def test_plan_bad_config_is_one_line_per_problem_exit_2(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    text = text.replace("interval_seconds: 30", "interval_seconds: 15").replace(
        "rpo_seconds: 86400", "rpo: 1"
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    result = _hakit("plan", "--stack", "dev", "--root", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    source = str(tmp_path / "Pulumi.dev.yaml")
    assert lines == [
        f"{source}:11: hakit:service.health_check.interval_seconds: Input should be 10 or 30",
        f"{source}:20: hakit:slo.rpo_seconds: required field is missing",
        f"{source}:22: hakit:slo.rpo: unknown field",
    ]
    assert "Traceback" not in result.stderr


def test_plan_unknown_stack_exit_2() -> None:
    result = _hakit("plan", "--stack", "qa")
    assert result.returncode == 2
    assert "no such stack file" in result.stderr

"""`hakit plan --stack ENV`: the offline 'what would be built' view, and its errors (exit 2)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from support import HakitCli

ROOT = Path(__file__).resolve().parents[2]


def test_plan_text_tree_and_counts(hakit_cli: HakitCli) -> None:
    result = hakit_cli("plan", "--stack", "dev")
    assert result.code == 0, result.err
    out = result.out
    header = re.match(
        r"stack hakit/dev: (\d+) resources, (\d+) components \(global: \d+, us-east-1: \d+\)", out
    )
    assert header, out.splitlines()[0]
    assert "└─ shop  (hakit:stacks:ServiceStack;" in out
    assert re.search(
        r"shop-us-east-1-alb  \(hakit:loadbalancer:LoadBalancer; \d+ resources in us-east-1\)", out
    )
    assert re.search(r"shop-us-east-1-alb-lb  aws:lb/loadBalancer:LoadBalancer  \[us-east-1\]", out)
    # The count table: one row per type, a column per placement, totals matching the header.
    table = out.split("\n\n")[2].splitlines()
    assert table[0].split() == ["type", "global", "us-east-1", "total"]
    assert table[-1].split()[0] == "total" and table[-1].split()[-1] == header.group(1)
    assert sum(int(row.split()[-1]) for row in table[1:-1]) == int(header.group(1))


def test_plan_json_local_is_docker_only(hakit_cli: HakitCli) -> None:
    result = hakit_cli("plan", "--stack", "local", "--json")
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["stack"] == "local" and plan["placements"] == {"local": 10}
    assert all(kind.startswith("docker:") for kind in plan["counts"])
    (root,) = plan["tree"]
    assert root["type"] == "hakit:local:LocalLab" and len(root["children"]) == 10
    assert plan["outputs"]["vip"] == "172.30.57.100"


def test_plan_bad_config_is_one_line_per_problem_exit_2(hakit_cli: HakitCli, tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    text = text.replace("interval_seconds: 30", "interval_seconds: 15").replace(
        "rpo_seconds: 86400", "rpo: 1"
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    result = hakit_cli("plan", "--stack", "dev", "--project-dir", str(tmp_path))
    assert result.code == 2
    assert result.out == ""
    lines = result.err.strip().splitlines()
    source = str(tmp_path / "Pulumi.dev.yaml")
    assert lines == [
        f"{source}:11: hakit:service.health_check.interval_seconds: Input should be 10 or 30",
        f"{source}:20: hakit:slo.rpo_seconds: required field is missing",
        f"{source}:22: hakit:slo.rpo: unknown field",
    ]
    assert "Traceback" not in result.err


def test_plan_unknown_stack_exit_2(hakit_cli: HakitCli) -> None:
    result = hakit_cli("plan", "--stack", "qa")
    assert result.code == 2
    assert "no such stack file" in result.err


def test_plan_component_checks_run_first_with_file_lines(hakit_cli: HakitCli, tmp_path: Path) -> None:
    """Values only a component can judge (a global-capable engine version, an AWS cron) fail up front."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    text = text.replace('engine_version: "16.4"', 'engine_version: "9.6"').replace(
        "cron(0 3 * * ? *)", "cron(0 25 * * ? *)"
    )
    (tmp_path / "Pulumi.prod.yaml").write_text(text)
    lines = text.splitlines()
    version_line = next(i for i, line in enumerate(lines, 1) if "engine_version" in line)
    schedule_line = next(i for i, line in enumerate(lines, 1) if "schedule:" in line)
    result = hakit_cli("plan", "--stack", "prod", "--project-dir", str(tmp_path))
    assert result.code == 2
    source = tmp_path / "Pulumi.prod.yaml"
    version, schedule = result.err.strip().splitlines()
    assert version.startswith(f"{source}:{version_line}: hakit:database.engine_version: Aurora PostgreSQL 9 ")
    assert schedule.startswith(f"{source}:{schedule_line}: hakit:backup.schedule: ")


def test_plan_bad_project_file_is_one_line_exit_2(hakit_cli: HakitCli, tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    project = tmp_path / "Pulumi.yaml"
    for text, expected in (
        ("name: [hakit\n", f"{project}:2: (yaml): "),
        ("- hakit\n", f"{project}:1: (top): a project file is a mapping"),
        ("name: hakit\n", f"{project}: main: the program {tmp_path / '__main__.py'} does not exist"),
    ):
        project.write_text(text)
        result = hakit_cli("plan", "--stack", "dev", "--project-dir", str(tmp_path))
        assert result.code == 2, result.err
        assert result.err.startswith(expected), result.err
        assert "Traceback" not in result.err


def test_plan_component_rejection_is_one_line_exit_2(hakit_cli: HakitCli, tmp_path: Path) -> None:
    """A value the model accepts but a component refuses (a 45-letter name for the database) stops cleanly."""
    long_name = "a" * 45
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    assert "    name: shop\n" in text
    (tmp_path / "Pulumi.prod.yaml").write_text(text.replace("    name: shop\n", f"    name: {long_name}\n"))
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns("hakit", "__pycache__"))
    result = hakit_cli("plan", "--stack", "prod", "--project-dir", str(tmp_path))
    assert result.code == 2, result.err
    assert result.err.strip() == (
        f"{tmp_path / 'Pulumi.prod.yaml'}: GlobalDatabaseArgs.name: '{long_name}' must be 1-40 lowercase "
        "letters, digits or single hyphens, starting with a letter"
    )


def _with_inputs(entry: dict[str, object], found: list[dict[str, object]]) -> list[dict[str, object]]:
    if "inputs" in entry:
        found.append(entry)
    for child in entry.get("children", []):  # type: ignore[attr-defined]
        _with_inputs(child, found)
    return found


def test_plan_json_has_inputs_with_secrets_masked(hakit_cli: HakitCli) -> None:
    """A reviewer diffs settings, not just types (like `pulumi preview --json`); secrets never show."""
    result = hakit_cli("plan", "--stack", "prod", "--json")
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    resources = [entry for root in plan["tree"] for entry in _with_inputs(root, [])]
    assert len(resources) == plan["resources"]
    by_type = {entry["type"]: entry for entry in resources}
    alb = by_type["aws:lb/loadBalancer:LoadBalancer"]
    assert alb["inputs"]["loadBalancerType"] == "application"
    masked = [entry for entry in resources if "[secret]" in json.dumps(entry["inputs"])]
    assert masked, "prod holds database credentials: some input must be masked"
    # The mock harness gives every random password a 'mock-<hex>' value: none may reach the output.
    assert not re.findall(r"mock-[0-9a-f]{6,}", json.dumps(plan))

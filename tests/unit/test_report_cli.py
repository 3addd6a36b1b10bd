"""`hakit report` / `hakit diagram` end to end through the console entry point (exit codes, outputs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from analysis_programs import REPO
from support import HakitCli

INVENTORY = str(REPO / "examples" / "inventory.yaml")


def test_program_report_as_json(hakit_cli: HakitCli) -> None:
    code, out, _ = hakit_cli("report", "--program", "analysis_programs:dns_pair", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["source"] == "program analysis_programs:dns_pair"
    (path,) = data["budget"]["paths"]
    assert (path["name"], path["rto_seconds"], path["rto_formula"]) == ("app.example.com (A)", 90.0, "dns")
    assert path["stages"][0]["inputs"]["request_interval"] == 10


def test_strict_exits_1_when_over_the_slo(hakit_cli: HakitCli) -> None:
    args = ("report", "--program", "analysis_programs:dns_pair", "--rto", "60")
    code, out, err = hakit_cli(*args)
    assert code == 0 and "over budget: app.example.com (A): RTO 90s exceeds the SLO of 60s" in out
    code, out, err = hakit_cli(*args, "--strict")
    assert code == 1
    assert err.strip() == "strict: 1 objective(s) over the SLO budget"
    code, _, _ = hakit_cli("report", "--program", "analysis_programs:dns_pair", "--rto", "90", "--strict")
    assert code == 0


def test_fail_on_severity(hakit_cli: HakitCli, tmp_path: Path) -> None:
    """The shipped example waives its SEC003 (listed as waived, exit 0); without the waiver it fails."""
    code, out, err = hakit_cli("report", "--inventory", INVENTORY, "--fail-on", "high")
    assert code == 0, err
    assert "Waived findings" in out and "SEC003" in out and "internal API" in out
    unwaived = tmp_path / "inventory.yaml"
    text = Path(INVENTORY).read_text(encoding="utf-8")
    unwaived.write_text(text.replace("  - rule: SEC003", "  - rule: SEC007"), encoding="utf-8")
    code, out, err = hakit_cli("report", "--inventory", str(unwaived), "--fail-on", "high")
    assert code == 1
    assert "SEC003" in out and "RTO/RPO budget" in out and "Findings" in out
    assert err.strip() == "1 finding(s) of severity high or worse"
    assert "note: waiver SEC007 on load_balancers.api.proxy.frontends.api matches no finding" in out


def test_stack_report_markdown_with_declared_slo(hakit_cli: HakitCli) -> None:
    code, out, err = hakit_cli("report", "--stack", "prod", "--markdown", "--strict")
    assert code == 1  # a person starts prod's regional failover: 520 s against an SLO of 300 s
    assert err.strip() == "strict: 2 objective(s) over the SLO budget"
    assert out.startswith("### hakit report: stack prod\n")
    assert "SLO: RTO 5 min, RPO 1 min; operator response 5 min." in out
    assert (
        "| origin.www.example.com (A) | 520 s = max(on-call + dns + aurora-global, alb, alb) | "
        "no automatic path: a person starts dns, aurora-global | 1 s |"
    ) in out
    assert "| on-call RTO (page + operator) | manual | 390 s |" in out
    assert "No findings." in out


def test_inventory_json(hakit_cli: HakitCli) -> None:
    code, out, _ = hakit_cli("report", "--inventory", INVENTORY, "--json", "--rto", "9")
    assert code == 0
    data = json.loads(out)
    assert data["counts"] == {"high": 0, "medium": 0, "low": 0, "waived": 1}
    (waived,) = data["findings"]
    assert (waived["rule"], waived["waived"], waived["waiver"]["expires"]) == ("SEC003", True, None)
    assert data["budget"]["violations"] == [
        f"{p['name']}: RTO {p['rto_seconds']:g}s exceeds the SLO of 9s"
        for p in data["budget"]["paths"]
        if p["rto_seconds"] > 9
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to analyse: give --stack ENV, --program module:function or --inventory FILE"),
        (
            ("--inventory", INVENTORY, "--stack", "prod"),
            "give --inventory alone, or --stack and/or --program",
        ),
        (("--program", "nope"), "--program nope: expected module:function or a .py file"),
        (("--program", "nope.py"), "--program nope.py: no such file"),
        (
            ("--program", "analysis_programs:missing"),
            "--program analysis_programs:missing: analysis_programs has no function missing",
        ),
        (
            ("--stack", "nope"),
            "Pulumi.nope.yaml: no such stack file (stacks here: dev, local, prod, staging)",
        ),
        (("--inventory", INVENTORY, "--json", "--markdown"), "choose one of --json and --markdown"),
    ],
)
def test_usage_errors_exit_2(hakit_cli: HakitCli, args: tuple[str, ...], message: str) -> None:
    code, out, err = hakit_cli("report", *args)
    assert (code, out) == (2, "")
    assert err.strip().endswith(message)


def test_failing_program_is_one_line(hakit_cli: HakitCli) -> None:
    code, _, err = hakit_cli("report", "--program", "analysis_programs:alb")
    assert code == 2
    assert err.strip() == (
        "analysis_programs:alb: the program failed: TypeError: "
        "alb() missing 2 required positional arguments: 'name' and 'region'"
    )


def test_diagram_command(hakit_cli: HakitCli, tmp_path: Path) -> None:
    target = tmp_path / "inventory.dot"
    code, _, err = hakit_cli("diagram", "--inventory", INVENTORY, "-o", str(target))
    assert code == 0
    # 12 edges: one per backend pool instead of every node to every server (was 23).
    assert err.strip() == f"wrote {target} (14 nodes, 12 edges)"
    assert 'host_lb1 -> host_lb2 [label="VRRP 0.361 s"' in target.read_text()
    code, _, err = hakit_cli("diagram", "--inventory", INVENTORY, "-o", str(tmp_path / "x.txt"))
    assert code == 2 and err.strip().endswith("use a .svg, .png or .dot file name")


def test_program_file_with_stack_config(hakit_cli: HakitCli, tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text(
        "import pulumi_aws.lb as lb\nlb.LoadBalancer('solo', subnets=['subnet-a'])\n",
        encoding="utf-8",
    )
    code, out, _ = hakit_cli("report", "--program", str(program), "--stack", "dev", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["source"] == f"program {program} (stack dev)"
    assert data["budget"]["slo"] == {
        "rto_seconds": 3600.0,
        "rpo_seconds": 86400.0,
        "operator_response_seconds": 300.0,
    }
    assert [(f["rule"], f["label"], f["region"]) for f in data["findings"]] == [
        ("HA003", "LoadBalancer solo", "us-east-1")
    ]

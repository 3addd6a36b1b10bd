"""The rules and budget over graphs built from hakit's own components and the project's stacks."""

from __future__ import annotations

import pytest
from analysis_programs import REPO, stack_graph
from hakit.analysis import analyze, from_graph
from hakit.analysis.budget import stack_budget
from hakit.analysis.keepalived import master_down_seconds
from hakit.analysis.report import slo_from_config, stack_report
from hakit.testing import load_stack_config, synth


def test_prod_stack_passes_every_rule() -> None:
    """No findings; its budget (over the SLO: a person starts the failover) is pinned in
    test_budget_calculated_checks.test_prod_report_with_arc_reads_the_manual_path."""
    graph = stack_graph("prod")
    config = load_stack_config(str(REPO / "Pulumi.prod.yaml"))
    report = stack_report("prod", from_graph(graph, config), slo_from_config(config))
    assert [f.message for f in report.findings] == []
    assert report.budget.slo.rto_seconds == 300
    check = graph.by_type("aws:route53/healthCheck:HealthCheck")[0]
    dns = next(p for p in report.budget.paths if p.kind == "dns-failover")
    expected = check.input("request_interval") * check.input("failure_threshold") + 60
    assert next(s for s in dns.stages if s.layer == "dns").inputs["if_standby_on"] == f"{expected:g}s"


def test_staging_latency_routing_and_keepalived_pair() -> None:
    graph = stack_graph("staging")
    view = from_graph(graph)
    assert [f.message for f in analyze(view)] == []
    (latency,) = stack_budget(view).paths
    assert latency.kind == "dns-latency"
    dns = next(s for s in latency.stages if s.layer == "dns")
    assert dns.trigger == "automatic" and dns.seconds is not None  # no ARC: Route 53 drops the answer itself
    # The us-west-2 answer is the pair's Elastic IP: the VRRP takeover joins the path as in-zone failover,
    # and the Elastic IP move by the notify hook (deadline 30 s) comes on top of it.
    vrrp = next(s for s in latency.stages if s.layer == "keepalived")
    assert vrrp.resource == "VRID 51 (shop-us-west-2-pair-node-a -> shop-us-west-2-pair-node-b)"
    assert vrrp.inputs["eip_move_deadline"] == 30
    assert latency.rto_formula() == "max(dns, on-call + aurora-global, alb, keepalived)"


@pytest.fixture(scope="module")
def pair_programs() -> dict[str, object]:
    from hakit.components.keepalived_pair import KeepalivedPair

    def pair(subnets: list[str]) -> object:
        def program() -> None:
            KeepalivedPair(
                "edge",
                {
                    "vpc_id": "vpc-1",
                    "vpc_cidr": "10.0.0.0/16",
                    "subnet_ids": subnets,
                    "private_ips": ["10.0.1.10", "10.0.2.10"],
                    "targets": ["10.0.1.20", "10.0.2.20"],
                    "ami": "ami-1",
                },
            )

        return program

    return {"two": pair(["subnet-a", "subnet-b"]), "one": pair(["subnet-a", "subnet-a"])}


def test_keepalived_pair_component_budget_and_az_rule(pair_programs: dict[str, object]) -> None:
    from hakit.components.keepalived_pair import PRIORITIES

    two = from_graph(synth(pair_programs["two"], config={"aws:region": "us-east-1"}))  # type: ignore[arg-type]
    assert not [f for f in analyze(two) if f.rule_id in ("HA006", "HA007", "SEC006")]
    (path,) = stack_budget(two).paths
    stage = path.stages[0]
    # VRRP takeover + the Elastic IP move (the notify hook's default deadline: 30 s; left out before).
    takeover = master_down_seconds(1.0, PRIORITIES["node-b"], 3)
    assert stage.seconds == pytest.approx(takeover + 30, abs=1e-3)
    assert stage.formula.endswith("+ Elastic IP move (eip_notify deadline)")
    assert stage.inputs["backup_priority"] == PRIORITIES["node-b"]
    one = from_graph(synth(pair_programs["one"], config={"aws:region": "us-east-1"}))  # type: ignore[arg-type]
    (finding,) = [f for f in analyze(one) if f.rule_id == "HA006"]
    assert "subnet subnet-a" in finding.message

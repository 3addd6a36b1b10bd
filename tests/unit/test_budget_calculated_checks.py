"""DNS budget over CALCULATED, RECOVERY_CONTROL and CLOUDWATCH_METRIC health checks: detection comes from the
children (or the alarm), never from a default interval the check does not have."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi_aws.cloudwatch as cloudwatch
import pulumi_aws.route53 as route53
import pulumi_aws.route53recoverycontrol as rc
from analysis_programs import PRIMARY, SECONDARY, alb, failover_record, health_check
from hakit.analysis.budget import MAX_CHECK_NESTING, Slo, Stage, stack_budget
from hakit.analysis.report import inputs_text
from hakit.analysis.view import from_graph
from hakit.components.dns import FailoverDns
from hakit.testing import synth

ALIAS_TTL = 60


def routing_control_check(name: str) -> route53.HealthCheck:
    """A RECOVERY_CONTROL check over a new routing control."""
    cluster = rc.Cluster(f"{name}-cluster")
    control = rc.RoutingControl(f"{name}-control", cluster_arn=cluster.arn)
    return route53.HealthCheck(name, type="RECOVERY_CONTROL", routing_control_arn=control.arn)


def calculated(
    name: str, *children: route53.HealthCheck, threshold: int | None = None
) -> route53.HealthCheck:
    """A CALCULATED check over `children` (all must be healthy unless told otherwise)."""
    return route53.HealthCheck(
        name,
        type="CALCULATED",
        child_healthchecks=[c.id for c in children],
        child_health_threshold=threshold if threshold is not None else len(children),
    )


def dns_stage_of(gate: Callable[[Any], route53.HealthCheck], slo: Slo | None = None) -> Stage:
    """The DNS stage of a failover pair whose PRIMARY record is gated by `gate(primary_alb)`."""

    def program() -> None:
        east, west = alb("east", PRIMARY), alb("west", SECONDARY)
        failover_record("primary", "PRIMARY", east, gate(east))
        failover_record("secondary", "SECONDARY", west, health_check("west-hc", west))

    budget = stack_budget(from_graph(synth(program, config={"aws:region": PRIMARY})), slo)
    return next(s for p in budget.paths for s in p.stages if s.layer == "dns")


def test_calculated_gate_takes_the_endpoint_childs_time_not_a_default_interval() -> None:
    stage = dns_stage_of(
        lambda east: calculated(
            "gate",
            routing_control_check("cell-east"),
            health_check("east-hc", east, interval=10, threshold=3),
        )
    )
    assert stage.seconds == 10 * 3 + ALIAS_TTL  # not 30 (default interval) x 3
    assert stage.formula.startswith("calculated: slowest child") and stage.formula.endswith(" + TTL")
    assert stage.inputs["child_health_threshold"] == "2 of 2"
    children = str(stage.inputs["children"])
    assert "east-hc HTTPS 10 x 3 = 30s" in children
    assert "cell-east RECOVERY_CONTROL 0s" in children
    assert "children=" in inputs_text(stage.inputs)


def test_nested_calculated_checks_recurse_to_the_slowest_grandchild() -> None:
    def gate(east: Any) -> route53.HealthCheck:
        # Inner: a routing control AND a check at the default interval (30 x 3 = 90 s, the slow one).
        slow = route53.HealthCheck("slow-hc", type="HTTPS", fqdn=east.dns_name, resource_path="/")
        inner = calculated("inner", routing_control_check("cell-east"), slow)
        return calculated(
            "outer", inner, health_check("fast-hc", east, interval=10, threshold=3), threshold=1
        )

    stage = dns_stage_of(gate)
    assert stage.seconds == 30 * 3 + ALIAS_TTL
    assert stage.inputs["child_health_threshold"] == "1 of 2"
    children = str(stage.inputs["children"])
    assert (
        "inner CALCULATED 2 of 2" in children and "slow-hc HTTPS 30 (default) x 3 (default) = 90s" in children
    )
    assert "fast-hc HTTPS 10 x 3 = 30s" in children


def test_calculated_checks_nested_too_deep_are_unbounded() -> None:
    def gate(east: Any) -> route53.HealthCheck:
        check = health_check("leaf-hc", east)
        for level in range(MAX_CHECK_NESTING + 1):
            check = calculated(f"level-{level}", check)
        return check

    stage = dns_stage_of(gate, Slo(rto_seconds=300))
    assert stage.seconds is None
    assert f"nested deeper than {MAX_CHECK_NESTING} levels" in str(stage.inputs["children"])


def test_routing_control_alone_has_no_detection_delay() -> None:
    stage = dns_stage_of(lambda east: routing_control_check("cell-east"))
    assert stage.seconds == 0 + ALIAS_TTL
    assert stage.formula == "routing control flip (an operator or runbook action: no detection delay) + TTL"
    assert stage.inputs["routing_control"] == "cell-east-control"


def test_alarm_check_uses_the_alarms_period_times_evaluation_periods() -> None:
    def gate(east: Any) -> route53.HealthCheck:
        alarm = cloudwatch.MetricAlarm(
            "errors",
            name="app-5xx",
            comparison_operator="GreaterThanThreshold",
            metric_name="HTTPCode_Target_5XX_Count",
            namespace="AWS/ApplicationELB",
            statistic="Sum",
            threshold=10,
            period=60,
            evaluation_periods=3,
            region=PRIMARY,
        )
        return route53.HealthCheck(
            "alarm-hc",
            type="CLOUDWATCH_METRIC",
            cloudwatch_alarm_name=alarm.name,
            cloudwatch_alarm_region=PRIMARY,
            insufficient_data_health_status="LastKnownStatus",
        )

    stage = dns_stage_of(gate)
    assert stage.seconds == 60 * 3 + ALIAS_TTL
    assert stage.formula == "alarm period x evaluation_periods + TTL"
    assert (stage.inputs["alarm"], stage.inputs["period"], stage.inputs["evaluation_periods"]) == (
        "errors",
        60,
        3,
    )


def test_alarm_outside_the_stack_is_unbounded_and_breaks_the_slo() -> None:
    def gate(east: Any) -> route53.HealthCheck:
        alarm = route53.HealthCheck(
            "alarm-hc",
            type="CLOUDWATCH_METRIC",
            cloudwatch_alarm_name="elsewhere-5xx",
            cloudwatch_alarm_region=PRIMARY,
            insufficient_data_health_status="Unhealthy",
        )
        return calculated("gate", routing_control_check("cell-east"), alarm)

    stage = dns_stage_of(gate)
    assert stage.seconds is None
    assert "CloudWatch alarm elsewhere-5xx not in the stack" in str(stage.inputs["children"])
    assert "+ TTL" not in stage.formula


def test_failover_dns_with_arc_budgets_the_endpoint_child() -> None:
    """FailoverDns gates a record with both a cell and a check by CALCULATED(routing control AND endpoint)."""

    def program() -> None:
        FailoverDns(
            "api",
            {
                "zone_id": "Z0HOSTED",
                "name": "api.example.com",
                "health_checks": {
                    "a": {
                        "type": "HTTP",
                        "ip_address": "192.0.2.10",
                        "request_interval": 10,
                        "failure_threshold": 2,
                    }
                },
                "records": [
                    {
                        "role": "PRIMARY",
                        "values": ["192.0.2.10"],
                        "health_check": "a",
                        "cell": "c1",
                        "ttl": 30,
                    },
                    {"role": "SECONDARY", "values": ["192.0.2.20"], "cell": "c2", "ttl": 30},
                ],
                "recovery_control": {"cells": ["c1", "c2"]},
            },
        )

    graph = synth(program, config={"aws:region": PRIMARY})
    budget = stack_budget(from_graph(graph), Slo(rto_seconds=60))
    path = next(p for p in budget.paths if p.name == "api.example.com (A)")
    stage = next(s for s in path.stages if s.layer == "dns")
    # The SECONDARY is gated by c2's control, created Off: Route 53 cannot fail over by itself.
    assert (stage.trigger, stage.seconds) == ("manual", 30)  # the flip, then the primary's TTL
    assert stage.inputs["standby_controls"] == "api-rc-c2"
    assert stage.inputs["if_standby_on"] == "50s"  # the endpoint child 10 x 2 + TTL, were c2 On
    on_call = next(s for s in path.stages if s.layer == "on-call")
    assert on_call.seconds == 10 * 2 + 60 + 300  # probe + assumed page + default operator response
    assert (path.automatic, path.rto_seconds) == (False, 380 + 30)
    assert budget.violations() == ["api.example.com (A): RTO 410s exceeds the SLO of 60s (manual path: dns)"]


def test_prod_report_with_arc_reads_the_manual_path() -> None:
    """Pulumi.prod.yaml gates both regions with ARC and runs an Aurora global database. Route 53 cannot
    fail over by itself (the standby's control is Off) and Aurora's global failover is started by a person:
    the RTO is probe + page + operator + the runbook (Aurora, then the flip and the TTL), not 150 s."""
    from analysis_programs import REPO, stack_graph
    from hakit.analysis.report import slo_from_config, stack_report
    from hakit.testing import load_stack_config

    config = load_stack_config(str(REPO / "Pulumi.prod.yaml"))
    report = stack_report("prod", from_graph(stack_graph("prod"), config), slo_from_config(config))
    budget = report.budget
    path = next(p for p in budget.paths if p.name == "origin.www.example.com (A)")
    by_layer = {s.layer: s for s in path.stages if s.metric == "rto" and s.scenario == "region"}
    assert {k: (s.trigger, s.seconds) for k, s in by_layer.items()} == {
        "on-call": ("manual", 10 * 3 + 60 + 300),
        "dns": ("manual", ALIAS_TTL),
        "aurora-global": ("manual", 60 + 10),
    }
    assert by_layer["dns"].inputs["standby_controls"] == "shop-dns-rc-us-west-2"
    assert by_layer["dns"].inputs["if_standby_on"] == f"{10 * 3 + ALIAS_TTL:g}s"
    assert path.automatic is False and path.automatic_rto_seconds is None
    assert path.rto_seconds == 390 + 60 + 70
    assert budget.violations()[0] == (
        "origin.www.example.com (A): RTO 520s exceeds the SLO of 300s (manual path: dns + aurora-global)"
    )
    cdn = next(p for p in budget.paths if p.kind == "cdn")
    # CloudFront fails over by itself, but the database still waits for a person.
    assert cdn.rto_formula() == "max(cdn, on-call + aurora-global)"
    assert report.failures(strict=True, fail_on=None) == ["strict: 2 objective(s) over the SLO budget"]

"""RTO/RPO budget: figures come from the graph's settings, with formula and inputs, compared with the SLO."""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import pytest
from analysis_programs import (
    aurora_cluster,
    backup_plan,
    distribution,
    dns_pair,
    global_aurora,
    keepalived_pair,
    listener_program,
    table,
)
from hakit.analysis.budget import Budget, EntryPath, Slo, Stage, inventory_budget, stack_budget
from hakit.analysis.schedule import schedule_interval_seconds
from hakit.analysis.view import StackView, from_graph
from hakit.spec.inventory import load_inventory
from hakit.testing import synth
from hypothesis import given
from hypothesis import strategies as st

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.yaml"


@cache
def view_of(*programs: object) -> StackView:
    def program() -> None:
        for build in programs:
            build()  # type: ignore[operator]

    return from_graph(synth(program, config={"aws:region": "us-east-1"}))


def path_named(budget: Budget, prefix: str) -> EntryPath:
    return next(p for p in budget.paths if p.name.startswith(prefix))


def stage(path: EntryPath, layer: str) -> Stage:
    return next(s for s in path.stages if s.layer == layer)


def test_dns_failover_is_interval_times_threshold_plus_ttl() -> None:
    budget = stack_budget(view_of(dns_pair))
    path = path_named(budget, "app.example.com (A)")
    dns = stage(path, "dns")
    assert dns.seconds == 10 * 3 + 60
    assert dns.formula == "request_interval x failure_threshold + TTL"
    assert dns.inputs["request_interval"] == 10 and dns.inputs["failure_threshold"] == 3
    assert "alias" in str(dns.inputs["ttl"])
    assert path.rto_seconds == 90 and path.rpo_seconds == 0


def test_dns_without_health_check_is_unbounded() -> None:
    budget = stack_budget(view_of(lambda: dns_pair(primary_check=False)), Slo(rto_seconds=300))
    path = path_named(budget, "app.example.com")
    assert path.rto_seconds is None
    assert budget.violations() == ["app.example.com (A): RTO unbounded exceeds the SLO of 300s"]


def test_cdn_origin_failover_is_the_worse_of_refused_and_hung() -> None:
    """A primary that accepts and hangs costs attempts x origin_read_timeout (default 30 s), not the
    attempts x connection_timeout of refused connections (the old figure: 2 x 5 = 10 s)."""
    path = path_named(stack_budget(view_of(distribution)), "distribution cdn")
    cdn = stage(path, "cdn")
    assert cdn.seconds == 2 * 30
    assert cdn.inputs == {
        "connection_attempts": 2,
        "connection_timeout": 5,
        "origin_read_timeout": "30 (default)",
        "refused": 10,
        "hung": 60,
    }
    fast = path_named(stack_budget(view_of(lambda: distribution(read_timeout=4))), "distribution cdn")
    assert stage(fast, "cdn").seconds == 2 * 5  # refused is now the worse case


def test_alb_target_failover_is_interval_times_unhealthy_threshold() -> None:
    path = path_named(stack_budget(view_of(listener_program)), "load balancer web")
    alb = stage(path, "alb")
    assert (alb.seconds, alb.scenario) == (10 * 3, "zone")


def test_keepalived_takeover_is_three_adverts_plus_skew() -> None:
    path = path_named(stack_budget(view_of(keepalived_pair)), "keepalived VRID 51")
    vrrp = stage(path, "keepalived")
    assert vrrp.seconds == pytest.approx(3 * 1 + (256 - 100) / 256, abs=1e-3)
    assert vrrp.inputs == {"advert_int": 1.0, "backup_priority": 100, "vrrp_version": 3}


def test_a_manual_database_failover_waits_for_the_page_and_the_person() -> None:
    """DNS fails over by itself (90 s); the Aurora global failover waits for the probe (30 s), the paging
    alarm (assumed 60 x 1), the operator (SLO: 120 s) and its runbook (60 s + one 10 s writer poll)."""
    slo = Slo(rto_seconds=120, rpo_seconds=5, operator_response_seconds=120)
    budget = stack_budget(view_of(dns_pair, global_aurora), slo)
    path = path_named(budget, "app.example.com")
    aurora = stage(path, "aurora-global")
    assert (aurora.seconds, aurora.trigger) == (60 + 10, "manual")
    on_call = stage(path, "on-call")
    assert on_call.seconds == 10 * 3 + 60 * 1 + 120
    assert on_call.inputs["probe"] == "east-hc HTTPS 10 x 3 = 30s"
    assert stage(path, "dns").trigger == "automatic"
    assert path.rto_seconds == max(90, 210 + 70)
    assert path.rto_formula() == "max(dns, on-call + aurora-global)"
    assert (path.automatic, path.automatic_rto_seconds) == (False, None)
    assert path.rpo_seconds == 1
    assert budget.violations() == [
        "app.example.com (A): RTO 280s exceeds the SLO of 120s (manual path: aurora-global)"
    ]


def test_zone_stages_compete_with_the_automatic_region_path() -> None:
    path = path_named(stack_budget(view_of(dns_pair)), "app.example.com")
    assert (path.automatic, path.automatic_rto_seconds, path.rto_formula()) == (True, 90, "dns")


def test_unreplicated_database_risks_its_backup_interval() -> None:
    budget = stack_budget(view_of(lambda: aurora_cluster("solo", "us-east-1"), backup_plan))
    (path,) = budget.paths
    assert path.rpo_seconds == 4 * 3600
    assert stage(path, "backup").inputs == {"schedule": "cron(0 */4 * * ? *)"}
    no_backup = stack_budget(view_of(lambda: aurora_cluster("solo", "us-east-1")), Slo(rpo_seconds=60))
    assert no_backup.paths[0].rpo_seconds is None
    assert no_backup.violations() == ["data stores: RPO unbounded exceeds the SLO of 60s"]


def test_dynamodb_global_table_rpo() -> None:
    (path,) = stack_budget(view_of(table)).paths
    assert stage(path, "dynamodb-global").seconds == 1
    (single,) = stack_budget(view_of(lambda: table(replica=False))).paths
    assert stage(single, "backup").seconds is None


def test_budget_as_dict_is_json_ready() -> None:
    data = stack_budget(view_of(dns_pair), Slo(rto_seconds=60)).as_dict()
    assert data["slo"] == {"rto_seconds": 60, "rpo_seconds": None, "operator_response_seconds": 300}
    assert data["paths"][0]["automatic_path"] is True
    assert data["paths"][0]["stages"][0]["formula"] == "request_interval x failure_threshold + TTL"
    assert data["violations"] == ["app.example.com (A): RTO 90s exceeds the SLO of 60s"]


def test_inventory_budget_from_vrrp_and_health_checks() -> None:
    budget = inventory_budget(load_inventory(EXAMPLE), Slo(rto_seconds=9))
    edge = path_named(budget, "edge/VI_EDGE4")
    assert stage(edge, "keepalived").seconds == pytest.approx(3 * 0.1 + (256 - 100) / 256 * 0.1, abs=1e-3)
    haproxy = stage(edge, "haproxy")
    inventory = load_inventory(EXAMPLE)
    server = inventory.load_balancers["edge"].proxy.timeouts.server  # what the renderer writes
    # A hung server: marked down after fall x inter + timeout check; requests already on it wait
    # `timeout server` (the old figure left that out: 8 s).
    assert haproxy.seconds == (3 * 2000 + 2000 + server) / 1000
    assert haproxy.inputs["timeout_server_ms"] == server
    assert edge.rto_seconds == haproxy.seconds
    api = path_named(budget, "api/VI_API")
    read = inventory.load_balancers["api"].proxy.timeouts.server
    assert stage(api, "nginx").seconds == 2 * read / 1000
    assert budget.violations() == [
        f"{p.name}: RTO {p.rto_seconds:g}s exceeds the SLO of 9s"
        for p in budget.paths
        if (p.rto_seconds or 0) > 9
    ]


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("cron(0 5 ? * * *)", 86400),
        ("cron(0 */4 * * ? *)", 4 * 3600),
        ("cron(0 5 ? * SUN *)", 7 * 86400),
        ("cron(0 5,17 ? * MON-FRI *)", 60 * 3600),
        ("cron(0 5 1 * ? *)", 31 * 86400),
        ("rate(12 hours)", 12 * 3600),
        ("cron(0 5 L * ? *)", None),
        ("every day", None),
    ],
)
def test_schedule_interval(expression: str, seconds: float | None) -> None:
    assert schedule_interval_seconds(expression) == seconds


@given(step=st.sampled_from([1, 2, 3, 4, 6, 8, 12]), minute=st.integers(0, 59))
def test_every_n_hours_has_an_n_hour_rpo(step: int, minute: int) -> None:
    assert schedule_interval_seconds(f"cron({minute} */{step} * * ? *)") == step * 3600


@given(days=st.sets(st.sampled_from(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]), min_size=1))
def test_weekly_schedule_gap_is_the_longest_gap_between_chosen_days(days: set[str]) -> None:
    order = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    chosen = sorted(order.index(d) for d in days)
    gaps = [b - a for a, b in itertools.pairwise(chosen)] + [chosen[0] + 7 - chosen[-1]]
    assert schedule_interval_seconds(f"cron(0 3 ? * {','.join(sorted(days))} *)") == max(gaps) * 86400


def test_aurora_global_rpo_bound_from_the_primary_parameter_group() -> None:
    import pulumi_aws.rds as rds

    def program() -> None:
        group = rds.ClusterParameterGroup(
            "primary",
            family="aurora-postgresql16",
            parameters=[{"name": "rds.global_db_rpo", "value": "20"}],
            region="us-east-1",
        )
        global_cluster = rds.GlobalCluster(
            "global", global_cluster_identifier="app", engine="aurora-postgresql", region="us-east-1"
        )
        aurora_cluster("east-db", "us-east-1", global_cluster, db_cluster_parameter_group_name=group.name)
        aurora_cluster("west-db", "us-west-2", global_cluster)

    (path,) = stack_budget(view_of(program), Slo(rpo_seconds=10)).paths
    rpo = next(s for s in path.stages if s.layer == "aurora-global" and s.metric == "rpo")
    assert (rpo.seconds, rpo.inputs["rds.global_db_rpo"]) == (20, 20)
    assert path.rpo_seconds == 20


def _paged_pair() -> None:
    """dns_pair plus a CloudWatch alarm on the PRIMARY's HealthCheckStatus: 60 s x 3 pages someone."""
    import pulumi_aws.cloudwatch as cloudwatch
    from analysis_programs import PRIMARY, SECONDARY, alb, failover_record, health_check

    east, west = alb("east", PRIMARY), alb("west", SECONDARY)
    check = health_check("east-hc", east)
    failover_record("primary", "PRIMARY", east, check)
    failover_record("secondary", "SECONDARY", west, health_check("west-hc", west))
    cloudwatch.MetricAlarm(
        "page-east",
        namespace="AWS/Route53",
        metric_name="HealthCheckStatus",
        statistic="Minimum",
        comparison_operator="LessThanThreshold",
        threshold=1,
        period=60,
        evaluation_periods=3,
        dimensions={"HealthCheckId": check.id},
    )


def test_the_stacks_paging_alarm_replaces_the_assumed_one() -> None:
    path = path_named(stack_budget(view_of(_paged_pair, global_aurora)), "app.example.com")
    on_call = stage(path, "on-call")
    assert on_call.seconds == 10 * 3 + 60 * 3 + 300
    assert (
        on_call.inputs["alarm"],
        on_call.inputs["alarm_period"],
        on_call.inputs["evaluation_periods"],
    ) == (
        "page-east",
        60,
        3,
    )
    assumed = stage(path_named(stack_budget(view_of(dns_pair, global_aurora)), "app.example.com"), "on-call")
    assert assumed.formula.startswith("probe detection") and "assumed paging alarm 60 x 1" in assumed.formula


def test_operator_response_comes_from_the_slo_of_a_stack_or_an_inventory(tmp_path: Path) -> None:
    from hakit.analysis.report import slo_from_config
    from hakit.spec.slo import OPERATOR_RESPONSE_SECONDS, SloSpec
    from pydantic import ValidationError

    config = {"hakit:slo": {"rto_seconds": 300, "rpo_seconds": 60, "operator_response_seconds": 120}}
    assert slo_from_config(config).operator_response_seconds == 120
    assert (
        slo_from_config({"hakit:slo": {"rto_seconds": 300, "rpo_seconds": 60}}).operator_response_seconds
        == 300
    )
    assert SloSpec(rto_seconds=1, rpo_seconds=0).operator_response_seconds == OPERATOR_RESPONSE_SECONDS == 300
    with pytest.raises(ValidationError):
        SloSpec(rto_seconds=1, rpo_seconds=0, operator_response_seconds=0)
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "  rto_seconds: 30\n", "  rto_seconds: 30\n  operator_response_seconds: 1800\n"
    )
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(text, encoding="utf-8")
    assert load_inventory(inventory).slo.operator_response_seconds == 1800  # type: ignore[union-attr]

"""Answers that are not AWS's (an HTML 502 from a proxy, moto's HTML 500 for an action it lacks) and calls
whose outcome is unknown: one line each, no traceback, and a mutating step never claims "nothing changed".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from botocore.parsers import ResponseParserError
from failover_support import (
    ARC_CLUSTER,
    EAST,
    EP1,
    EP2,
    GLOBAL_ID,
    RC_EAST,
    RC_WEST,
    WEST,
    WEST_ARN,
    FakeClock,
    FakeFactory,
    RecordingReporter,
    arc_cluster_response,
    db_clusters,
    global_cluster,
    html_error_server,
    lag_request,
    lag_response,
    make_clock,
    moto_global_cluster,
    moto_reset,
    promoting,
    rc_state,
)
from hakit.commands import failover as failover_commands
from hakit.errors import HakitError
from hakit.ops.aws import describe_error, outcome_unknown
from hakit.ops.failover import EXIT_OUTCOME_UNKNOWN, EXIT_TRAFFIC, Kind, Runbook, RunbookSettings
from hakit.ops.failover_targets import FailoverTargets
from hakit.ops.status import collect_status
from typer.testing import CliRunner

SETTINGS = RunbookSettings(poll_interval_s=10, writer_timeout_s=30, arc_rounds=2, arc_backoff_s=1)
DB_ONLY = FailoverTargets(global_cluster_identifier=GLOBAL_ID, regions=(EAST, WEST))
TO_WEST = {"GlobalClusterIdentifier": GLOBAL_ID, "TargetDbClusterIdentifier": WEST_ARN}


@pytest.fixture
def proxy() -> Iterator[str]:
    """A loopback 'proxy' answering every request with an HTML 502 page."""
    with html_error_server(502) as url:
        yield url


def moto_factory(moto_url: str, **endpoints: str) -> FakeFactory:
    """RDS in both regions on moto (global cluster created there); `endpoints` override per region."""
    moto_global_cluster(moto_url)
    urls = {("rds", EAST): moto_url, ("rds", WEST): moto_url}
    urls.update({("rds", region.replace("_", "-")): url for region, url in endpoints.items()})
    factory = FakeFactory(endpoints=urls)
    factory.stub("cloudwatch", WEST).add_response(
        "get_metric_statistics", lag_response(12.0), lag_request("orders-west")
    )
    return factory


def test_error_lines_and_outcomes() -> None:
    err = ResponseParserError(
        "Unable to parse response (syntax error: line 1, column 0), invalid XML received. "
        "Further retries may succeed:\nb'<!doctype html>\\n<html><title>500 Internal Server Error</title>'"
    )
    line = describe_error(err)
    assert line.startswith("unparsable answer, not an AWS response (an HTML error page?): Unable to parse")
    assert "<html" not in line and "\n" not in line
    assert outcome_unknown(err)


def test_switchover_step_answered_with_html_is_outcome_unknown(moto_url: str) -> None:
    """moto has describe_global_clusters but answers switchover_global_cluster with an HTML 500 page."""
    factory = moto_factory(moto_url)
    clock, reporter = FakeClock(), RecordingReporter()
    book = Runbook(factory, DB_ONLY, SETTINGS, make_clock(clock), reporter)
    plan = book.prepare(Kind.SWITCHOVER, WEST)
    # moto reports no SynchronizationStatus: the pre-check must not pretend it read "connected".
    [replication] = [c for c in plan.checks if c.name == "replication"]
    assert (
        replication.line() == "warn replication: synchronization not reported by AWS (the lag check decides)"
    )
    assert plan.ok
    with pytest.raises(HakitError) as err:
        book.execute(plan)
    assert err.value.exit_code == EXIT_OUTCOME_UNKNOWN
    [line] = err.value.lines
    assert line.startswith("rds switchover_global_cluster: outcome unknown (unparsable answer, not an AWS")
    assert "run `hakit failover status`" in line and "nothing" not in line
    assert [c.operation for c in factory.mutating()] == ["SwitchoverGlobalCluster"]


def test_refusal_after_a_botocore_retry_is_outcome_unknown() -> None:
    """A conflict answered to a retry may be the first attempt's doing: not 'nothing changed'."""
    factory = FakeFactory()
    rds = factory.stub("rds", WEST)
    rds.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    rds.add_response("describe_db_clusters", db_clusters(WEST_ARN), {"DBClusterIdentifier": WEST_ARN})
    factory.stub("cloudwatch", WEST).add_response(
        "get_metric_statistics", lag_response(12.0), lag_request("orders-west")
    )
    rds.add_client_error(
        "switchover_global_cluster",
        "InvalidGlobalClusterStateFault",
        "a switchover is in progress",
        400,
        expected_params=TO_WEST,
        response_meta={"RetryAttempts": 1},
    )
    book = Runbook(factory, DB_ONLY, SETTINGS, make_clock(FakeClock()), RecordingReporter())
    with pytest.raises(HakitError) as err:
        book.execute(book.prepare(Kind.SWITCHOVER, WEST))
    assert err.value.exit_code == EXIT_OUTCOME_UNKNOWN
    assert (
        "outcome unknown (InvalidGlobalClusterStateFault: a switchover is in progress)" in err.value.lines[0]
    )


def test_precheck_says_not_reported_without_synchronization_status() -> None:
    factory = FakeFactory()
    rds = factory.stub("rds", WEST)
    rds.add_response(
        "describe_global_clusters", global_cluster(sync=None), {"GlobalClusterIdentifier": GLOBAL_ID}
    )
    rds.add_response("describe_db_clusters", db_clusters(WEST_ARN), {"DBClusterIdentifier": WEST_ARN})
    factory.stub("cloudwatch", WEST).add_response(
        "get_metric_statistics", lag_response(12.0), lag_request("orders-west")
    )
    book = Runbook(factory, DB_ONLY, SETTINGS, make_clock(FakeClock()), RecordingReporter())
    plan = book.prepare(Kind.SWITCHOVER, WEST)
    details = {c.name: c.detail for c in plan.checks}
    assert details["replication"] == "synchronization not reported by AWS (the lag check decides)"
    factory.assert_all_used()


def test_arc_update_with_ambiguous_failures_says_outcome_unknown() -> None:
    """Every ARC endpoint answers the update with a gateway 502: the states may or may not be set."""
    factory = FakeFactory()
    targets = FailoverTargets(
        global_cluster_identifier=GLOBAL_ID,
        regions=(EAST, WEST),
        arc_cluster_arn=ARC_CLUSTER,
        routing_control_arns={EAST: RC_EAST, WEST: RC_WEST},
    )
    rds = factory.stub("rds", WEST)
    rds.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    rds.add_response("describe_db_clusters", db_clusters(WEST_ARN), {"DBClusterIdentifier": WEST_ARN})
    factory.stub("cloudwatch", WEST).add_response(
        "get_metric_statistics", lag_response(12.0), lag_request("orders-west")
    )
    factory.stub("route53-recovery-control-config", "control").add_response(
        "describe_cluster",
        arc_cluster_response((EP1, EAST), (EP2, "ap-southeast-2")),
        {"ClusterArn": ARC_CLUSTER},
    )
    ep1 = factory.stub("route53-recovery-cluster", EP1)
    ep1.add_response("get_routing_control_state", rc_state(RC_EAST, "On"), {"RoutingControlArn": RC_EAST})
    ep1.add_response("get_routing_control_state", rc_state(RC_WEST, "Off"), {"RoutingControlArn": RC_WEST})
    rds.add_response("switchover_global_cluster", promoting(writer=WEST_ARN), TO_WEST)
    rds.add_response(
        "describe_global_clusters", global_cluster(writer=WEST_ARN), {"GlobalClusterIdentifier": GLOBAL_ID}
    )
    for endpoint in (EP1, EP2, EP1, EP2):
        factory.stub("route53-recovery-cluster", endpoint).add_client_error(
            "update_routing_control_states", "502", "Bad Gateway", 502
        )
    book = Runbook(factory, targets, SETTINGS, make_clock(FakeClock()), RecordingReporter())
    with pytest.raises(HakitError) as err:
        book.execute(book.prepare(Kind.SWITCHOVER, WEST))
    assert err.value.exit_code == EXIT_TRAFFIC
    [line] = err.value.lines
    assert line.startswith(
        "the writer is in us-west-2, but moving traffic: ARC update_routing_control_states: "
    )
    assert "outcome unknown" in line and "hakit failover status" in line and "--traffic-only" in line
    factory.assert_all_used()


def test_health_check_update_with_a_5xx_is_outcome_unknown() -> None:
    from hakit.ops.failover_healthchecks import InversionChange, apply_inversion

    factory = FakeFactory()
    factory.stub("route53", "global").add_client_error(
        "update_health_check",
        "InternalFailure",
        "oops",
        500,
        expected_params={"HealthCheckId": "hc-east", "Inverted": True},
    )
    change = InversionChange(EAST, "hc-east", True, "invert: drain this region")
    with pytest.raises(HakitError) as err:
        apply_inversion(factory, make_clock(FakeClock()), [change], RecordingReporter())
    assert err.value.lines == [
        "route53 update_health_check hc-east: outcome unknown (InternalFailure: oops); it may have taken "
        "effect: run `hakit failover status` before anything else"
    ]


def test_status_behind_a_proxy_asks_the_next_region(moto_url: str, proxy: str) -> None:
    """us-east-1 answers through a proxy that returns HTML 502: status says so and reads us-west-2."""
    factory = moto_factory(moto_url, us_east_1=proxy)
    reporter = RecordingReporter()
    status = collect_status(factory, DB_ONLY, make_clock(FakeClock()), reporter)
    assert status.asked_region == WEST and status.writer_region == EAST
    assert [(m.region, m.sync_status, m.lag_ms) for m in status.members] == [
        (EAST, None, None),
        (WEST, None, 12.0),
    ]
    [warning] = reporter.kinds("warn")
    assert warning == (
        "rds in us-east-1 unavailable (HTTP 502, not an AWS answer (a proxy or gateway page?): "
        "502 Bad Gateway); asking the next region"
    )
    assert status.errors == []


app = typer.Typer()
failover_commands.register(app)


@app.callback()
def _root() -> None:
    """Root group, as in hakit.cli."""


def run_cli(monkeypatch: pytest.MonkeyPatch, factory: FakeFactory, *args: str) -> tuple[int, str]:
    """The CLI with `factory`; a HakitError becomes (exit code, its lines); anything else propagates."""
    monkeypatch.setattr(failover_commands, "make_factory", lambda *_: factory)
    monkeypatch.setattr(failover_commands, "make_clock", lambda: make_clock(FakeClock()))
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, HakitError):
        return result.exception.exit_code, "\n".join(result.exception.lines)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def test_cli_switchover_and_status_through_html_pages(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, proxy: str
) -> None:
    base = ("--global-cluster", GLOBAL_ID, "--region", EAST, "--region", WEST)
    code, err = run_cli(
        monkeypatch, moto_factory(moto_url), "failover", "switchover", *base, "--to", WEST, "--yes"
    )
    assert code == EXIT_OUTCOME_UNKNOWN
    assert err.startswith("rds switchover_global_cluster: outcome unknown") and "\n" not in err

    moto_reset(moto_url)
    both: dict[str, Any] = {"us_east_1": proxy, "us_west_2": proxy}
    code, err = run_cli(monkeypatch, moto_factory(moto_url, **both), "failover", "status", *base)
    assert code == 1
    assert err.startswith(
        f"incomplete: aurora: global cluster '{GLOBAL_ID}': no region answered (us-east-1: "
    )
    assert "\n" not in err and "<html" not in err.lower()

"""Switchover/failover runbook against botocore Stubbers: exact calls and parameters, waits, time-outs."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber
from failover_support import (
    ARC_CLUSTER,
    EAST,
    EAST_ARN,
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
    lag_request,
    lag_response,
    make_clock,
    promoting,
    rc_state,
)
from hakit.errors import HakitError
from hakit.ops.failover import (
    EXIT_PRECHECK,
    EXIT_TRAFFIC,
    EXIT_USAGE,
    EXIT_WRITER_TIMEOUT,
    Kind,
    Runbook,
    RunbookSettings,
)
from hakit.ops.failover_targets import FailoverTargets

SETTINGS = RunbookSettings(
    max_lag_ms=1000, poll_interval_s=10, writer_timeout_s=30, arc_rounds=2, arc_backoff_s=1
)
WITH_ARC = FailoverTargets(
    global_cluster_identifier=GLOBAL_ID,
    regions=(EAST, WEST),
    arc_cluster_arn=ARC_CLUSTER,
    routing_control_arns={EAST: RC_EAST, WEST: RC_WEST},
)
DB_ONLY = FailoverTargets(global_cluster_identifier=GLOBAL_ID, regions=(EAST, WEST))
SWITCHING = {"Status": "pending", "FromDbClusterArn": EAST_ARN, "ToDbClusterArn": WEST_ARN}
TO_WEST = {"GlobalClusterIdentifier": GLOBAL_ID, "TargetDbClusterIdentifier": WEST_ARN}


def runbook(
    factory: FakeFactory, targets: FailoverTargets = WITH_ARC, settings: RunbookSettings = SETTINGS
) -> tuple[Runbook, FakeClock, RecordingReporter]:
    clock, reporter = FakeClock(), RecordingReporter()
    return Runbook(factory, targets, settings, make_clock(clock), reporter), clock, reporter


def queue_prechecks(
    factory: FakeFactory, lag: tuple[float, ...] = (400.0, 12.0), arc: bool = True
) -> Stubber:
    """describe -> target cluster -> lag (-> ARC endpoints and current states); returns the rds stubber."""
    rds = factory.stub("rds", WEST)
    rds.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    rds.add_response("describe_db_clusters", db_clusters(WEST_ARN), {"DBClusterIdentifier": WEST_ARN})
    factory.stub("cloudwatch", WEST).add_response(
        "get_metric_statistics", lag_response(*lag), lag_request("orders-west")
    )
    if arc:
        factory.stub("route53-recovery-control-config", "control").add_response(
            "describe_cluster",
            arc_cluster_response((EP1, EAST), (EP2, "ap-southeast-2")),
            {"ClusterArn": ARC_CLUSTER},
        )
        ep1 = factory.stub("route53-recovery-cluster", EP1)
        ep1.add_response("get_routing_control_state", rc_state(RC_EAST, "On"), {"RoutingControlArn": RC_EAST})
        ep1.add_response(
            "get_routing_control_state", rc_state(RC_WEST, "Off"), {"RoutingControlArn": RC_WEST}
        )
    return rds


def queue_arc_move(factory: FakeFactory) -> None:
    ep1 = factory.stub("route53-recovery-cluster", EP1)
    ep1.add_response(
        "update_routing_control_states",
        {},
        {
            "UpdateRoutingControlStateEntries": [
                {"RoutingControlArn": RC_WEST, "RoutingControlState": "On"},
                {"RoutingControlArn": RC_EAST, "RoutingControlState": "Off"},
            ]
        },
    )
    ep1.add_response("get_routing_control_state", rc_state(RC_EAST, "Off"), {"RoutingControlArn": RC_EAST})
    ep1.add_response("get_routing_control_state", rc_state(RC_WEST, "On"), {"RoutingControlArn": RC_WEST})


def describe(rds: Stubber, response: dict[str, Any]) -> None:
    rds.add_response("describe_global_clusters", response, {"GlobalClusterIdentifier": GLOBAL_ID})


def expect_switchover(rds: Stubber) -> None:
    """The switchover_global_cluster call to the west secondary, answered with a pending switchover."""
    rds.add_response("switchover_global_cluster", promoting(failover=SWITCHING), TO_WEST)


def test_switchover_happy_path_exact_calls_and_wait() -> None:
    factory = FakeFactory()
    rds = queue_prechecks(factory)
    expect_switchover(rds)
    describe(rds, global_cluster(status="switching-over", failover=SWITCHING))
    describe(rds, global_cluster(writer=WEST_ARN))
    queue_arc_move(factory)
    book, clock, reporter = runbook(factory)

    plan = book.prepare(Kind.SWITCHOVER, WEST)
    assert plan.ok, [c.line() for c in plan.checks]
    assert plan.lag_ms == 12.0  # the newest datapoint, not the older spike
    assert factory.mutating() == []
    view = book.execute(plan)

    assert view is not None and view.writer is not None and view.writer.region == WEST
    assert factory.operations() == [
        "rds@us-west-2:DescribeGlobalClusters",
        "rds@us-west-2:DescribeDBClusters",
        "cloudwatch@us-west-2:GetMetricStatistics",
        "route53-recovery-control-config@control:DescribeCluster",
        f"route53-recovery-cluster@{EP1}:GetRoutingControlState",
        f"route53-recovery-cluster@{EP1}:GetRoutingControlState",
        "rds@us-west-2:SwitchoverGlobalCluster",
        "rds@us-west-2:DescribeGlobalClusters",
        "rds@us-west-2:DescribeGlobalClusters",
        f"route53-recovery-cluster@{EP1}:UpdateRoutingControlStates",
        f"route53-recovery-cluster@{EP1}:GetRoutingControlState",
        f"route53-recovery-cluster@{EP1}:GetRoutingControlState",
    ]
    assert clock.sleeps == [10.0]  # one poll interval between the two describes
    assert reporter.kinds("wait_finished") == ["True: writer us-west-2, status available, failover -"]
    factory.assert_all_used()


def test_switchover_refuses_when_lag_is_too_high() -> None:
    factory = FakeFactory()
    queue_prechecks(factory, lag=(5.0, 2500.0))
    book, _, _ = runbook(factory)
    plan = book.prepare(Kind.SWITCHOVER, WEST)
    assert not plan.ok
    with pytest.raises(HakitError) as err:
        book.execute(plan)
    assert err.value.exit_code == EXIT_PRECHECK
    assert err.value.lines == ["refused: FAIL lag: 2500 ms (limit 1000 ms)"]
    assert factory.mutating() == []


def test_switchover_refuses_without_lag_datapoints_but_failover_only_warns() -> None:
    factory = FakeFactory()
    queue_prechecks(factory, lag=(), arc=False)
    book, _, _ = runbook(factory, DB_ONLY)
    plan = book.prepare(Kind.SWITCHOVER, WEST)
    lag = next(c for c in plan.checks if c.name == "lag")
    assert (lag.ok, lag.blocking, plan.ok) == (False, True, False)

    factory = FakeFactory()
    queue_prechecks(factory, lag=(), arc=False)
    book, _, _ = runbook(factory, DB_ONLY)
    plan = book.prepare(Kind.FAILOVER, WEST)
    lag = next(c for c in plan.checks if c.name == "lag")
    assert (lag.ok, lag.blocking, plan.ok) == (False, False, True)


def test_refuses_a_target_region_without_a_secondary() -> None:
    factory = FakeFactory()
    rds = factory.stub("rds", "eu-west-1")
    describe(rds, global_cluster())
    book, _, _ = runbook(factory, DB_ONLY)
    plan = book.prepare(Kind.SWITCHOVER, "eu-west-1")
    assert not plan.ok
    assert plan.checks[0].detail == f"no member of {GLOBAL_ID} in eu-west-1 (members: us-east-1*, us-west-2)"
    with pytest.raises(HakitError) as err:
        book.execute(plan)
    assert err.value.exit_code == EXIT_PRECHECK
    # Only the one describe: no cluster, lag or mutating call for a target that does not exist.
    assert factory.operations() == ["rds@eu-west-1:DescribeGlobalClusters"]


def test_refuses_when_the_target_is_already_the_writer_or_still_syncing() -> None:
    factory = FakeFactory()
    describe(factory.stub("rds", EAST), global_cluster())
    book, _, _ = runbook(factory, DB_ONLY)
    plan = book.prepare(Kind.SWITCHOVER, EAST)
    assert not plan.ok and "already the writer" in plan.checks[0].detail

    factory = FakeFactory()
    rds = factory.stub("rds", WEST)
    describe(rds, global_cluster(sync="pending-resync"))
    book, _, _ = runbook(factory, DB_ONLY)
    plan = book.prepare(Kind.SWITCHOVER, WEST)
    failed = [c.line() for c in plan.checks if not c.ok and c.blocking]
    assert failed == ["FAIL replication: synchronization pending-resync"]
    # A failed database check stops the pre-checks: no cluster or CloudWatch calls follow.
    assert factory.operations() == ["rds@us-west-2:DescribeGlobalClusters"]


def test_writer_that_never_flips_times_out_with_exit_4() -> None:
    factory = FakeFactory()
    rds = queue_prechecks(factory, arc=False)
    expect_switchover(rds)
    for _ in range(4):  # t = 0, 10, 20, 30 s; the timeout is 30 s
        describe(rds, global_cluster(status="switching-over", failover=SWITCHING))
    book, clock, reporter = runbook(factory, DB_ONLY)
    plan = book.prepare(Kind.SWITCHOVER, WEST)
    with pytest.raises(HakitError) as err:
        book.execute(plan)
    assert err.value.exit_code == EXIT_WRITER_TIMEOUT
    assert err.value.lines == [
        "timeout: orders-west did not become the writer of orders-global within 30 s "
        "(last seen: writer us-east-1, status switching-over, failover pending)"
    ]
    assert clock.sleeps == [10.0, 10.0, 10.0]
    assert len(reporter.kinds("wait_progress")) == 4
    assert reporter.kinds("wait_finished")[0].startswith("False")
    factory.assert_all_used()


def test_throttling_while_waiting_backs_off_and_retries() -> None:
    factory = FakeFactory()
    rds = queue_prechecks(factory, arc=False)
    expect_switchover(rds)
    rds.add_client_error("describe_global_clusters", "Throttling", "Rate exceeded", 400)
    rds.add_client_error("describe_global_clusters", "ThrottlingException", "Rate exceeded", 400)
    describe(rds, global_cluster(writer=WEST_ARN))
    book, clock, reporter = runbook(factory, DB_ONLY)
    book.execute(book.prepare(Kind.SWITCHOVER, WEST))
    assert clock.sleeps == [1.0, 2.0]  # exponential backoff, not the 10 s poll interval
    progress = reporter.kinds("wait_progress")
    assert progress == [
        "0: Throttling: Rate exceeded; backing off 1 s",
        "1: ThrottlingException: Rate exceeded; backing off 2 s",
    ]
    factory.assert_all_used()


def test_throttled_switchover_request_is_retried() -> None:
    factory = FakeFactory()
    rds = queue_prechecks(factory, arc=False)
    rds.add_client_error(
        "switchover_global_cluster", "Throttling", "Rate exceeded", 400, expected_params=TO_WEST
    )
    expect_switchover(rds)
    describe(rds, global_cluster(writer=WEST_ARN))
    book, clock, reporter = runbook(factory, DB_ONLY)
    book.execute(book.prepare(Kind.SWITCHOVER, WEST))
    assert [op for op in factory.operations() if "Switchover" in op] == [
        "rds@us-west-2:SwitchoverGlobalCluster"
    ] * 2
    assert clock.sleeps == [1.0]
    assert "throttled (Throttling); retrying in 1 s" in reporter.kinds("warn")


def test_refused_switchover_is_a_clean_error() -> None:
    factory = FakeFactory()
    rds = queue_prechecks(factory, arc=False)
    rds.add_client_error("switchover_global_cluster", "InvalidGlobalClusterStateFault", "busy", 400)
    book, _, _ = runbook(factory, DB_ONLY)
    with pytest.raises(HakitError) as err:
        book.execute(book.prepare(Kind.SWITCHOVER, WEST))
    assert err.value.exit_code == 1
    assert err.value.lines == [
        "rds switchover_global_cluster refused: InvalidGlobalClusterStateFault: busy; "
        "nothing was changed by this call"
    ]


def test_failover_needs_confirmation_and_sends_allow_data_loss() -> None:
    factory = FakeFactory()
    rds = queue_prechecks(factory, arc=False)
    book, _, reporter = runbook(factory, DB_ONLY)
    plan = book.prepare(Kind.FAILOVER, WEST)
    with pytest.raises(HakitError) as err:
        book.execute(plan)
    assert err.value.exit_code == EXIT_USAGE
    assert factory.mutating() == []

    rds.add_response(
        "failover_global_cluster",
        promoting(failover={**SWITCHING, "Status": "failing-over", "IsDataLossAllowed": True}),
        {"GlobalClusterIdentifier": GLOBAL_ID, "TargetDbClusterIdentifier": WEST_ARN, "AllowDataLoss": True},
    )
    # The old primary's region is down: FailoverState lingers, but the target accepts writes.
    lingering = {**SWITCHING, "Status": "failing-over"}
    describe(rds, global_cluster(failover=lingering, status="failing-over"))
    describe(rds, global_cluster(writer=WEST_ARN, failover=lingering, status="failing-over"))
    book.execute(plan, allow_data_loss=True)
    assert "orders-west accepts writes; the global cluster is still settling" in reporter.kinds("warn")
    [call] = factory.mutating()
    assert (call.operation, call.params) == (
        "FailoverGlobalCluster",
        {"GlobalClusterIdentifier": GLOBAL_ID, "TargetDbClusterIdentifier": WEST_ARN, "AllowDataLoss": True},
    )
    factory.assert_all_used()


def test_traffic_failure_after_the_flip_exits_5_and_traffic_only_finishes_the_job() -> None:
    factory = FakeFactory()
    rds = queue_prechecks(factory)
    expect_switchover(rds)
    describe(rds, global_cluster(writer=WEST_ARN))
    for endpoint in (EP1, EP2, EP1, EP2):  # two rounds over both endpoints, all unavailable
        factory.stub("route53-recovery-cluster", endpoint).add_client_error(
            "update_routing_control_states", "EndpointTemporarilyUnavailableException", "try later", 503
        )
    book, clock, _ = runbook(factory)
    plan = book.prepare(Kind.SWITCHOVER, WEST)
    with pytest.raises(HakitError) as err:
        book.execute(plan)
    assert err.value.exit_code == EXIT_TRAFFIC
    assert err.value.lines[0].startswith("the writer is in us-west-2, but moving traffic failed: ARC ")
    assert "rerun with --traffic-only" in err.value.lines[0]
    assert clock.sleeps == [1.0]  # one ARC backoff between the two rounds (the writer flipped at once)

    # The rerun: the writer is already in us-west-2, so only traffic moves.
    factory2 = FakeFactory()
    describe(factory2.stub("rds", WEST), global_cluster(writer=WEST_ARN))
    factory2.stub("route53-recovery-control-config", "control").add_response(
        "describe_cluster", arc_cluster_response((EP1, EAST)), {"ClusterArn": ARC_CLUSTER}
    )
    ep1 = factory2.stub("route53-recovery-cluster", EP1)
    ep1.add_response("get_routing_control_state", rc_state(RC_EAST, "On"), {"RoutingControlArn": RC_EAST})
    ep1.add_response("get_routing_control_state", rc_state(RC_WEST, "Off"), {"RoutingControlArn": RC_WEST})
    queue_arc_move(factory2)
    book2, _, _ = runbook(factory2)
    plan2 = book2.prepare(Kind.SWITCHOVER, WEST, traffic_only=True)
    assert plan2.ok and not plan2.move_database
    book2.execute(plan2)
    assert [c.operation for c in factory2.mutating()] == ["UpdateRoutingControlStates"]
    factory2.assert_all_used()


def test_prepare_asks_the_next_region_when_the_target_region_is_unreachable() -> None:
    factory = FakeFactory(dead={("rds", WEST)})
    describe(factory.stub("rds", EAST), global_cluster())
    book, _, reporter = runbook(factory, DB_ONLY)
    # Stop after the describe: the target-cluster check would go to the dead region too.
    with pytest.raises(HakitError) as err:
        book.prepare(Kind.SWITCHOVER, WEST)
    assert factory.operations()[:2] == [
        "rds@us-west-2:DescribeGlobalClusters",
        "rds@us-east-1:DescribeGlobalClusters",
    ]
    assert any("rds in us-west-2 unavailable (EndpointConnectionError" in w for w in reporter.kinds("warn"))
    assert err.value.lines[0].startswith(
        "rds describe_db_clusters orders-west in us-west-2: EndpointConnectionError"
    )


def test_runbook_needs_a_global_cluster() -> None:
    with pytest.raises(HakitError) as err:
        Runbook(FakeFactory(), FailoverTargets(regions=(EAST,)))
    assert err.value.exit_code == EXIT_USAGE


def test_switchover_waits_until_the_global_cluster_settles() -> None:
    factory = FakeFactory()
    rds = queue_prechecks(factory, arc=False)
    expect_switchover(rds)
    describe(rds, global_cluster(writer=WEST_ARN, status="switching-over", failover=SWITCHING))
    describe(rds, global_cluster(writer=WEST_ARN))
    book, clock, reporter = runbook(factory, DB_ONLY)
    book.execute(book.prepare(Kind.SWITCHOVER, WEST))
    assert clock.sleeps == [10.0]
    assert (
        reporter.kinds("wait_progress")[0] == "0: writer us-west-2, status switching-over, failover pending"
    )
    factory.assert_all_used()

"""`status` against a moto server (Route 53, DynamoDB) and Stubbers (RDS global, CloudWatch, ARC)."""

from __future__ import annotations

import json
from typing import Any

from failover_support import (
    ARC_CLUSTER,
    EAST,
    EP1,
    GLOBAL_ID,
    RC_EAST,
    RC_WEST,
    WEST,
    FakeClock,
    FakeFactory,
    RecordingReporter,
    arc_cluster_response,
    global_cluster,
    lag_request,
    lag_response,
    make_clock,
    rc_state,
)
from hakit.ops.failover_targets import FailoverTargets
from hakit.ops.status import collect_status, render_status
from rich.console import Console

EU = "eu-west-1"


def make_table(factory: FakeFactory, region: str) -> None:
    factory.dynamodb(region).create_table(
        TableName="sessions",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def health_check(factory: FakeFactory, name: str, inverted: bool) -> str:
    config: dict[str, Any] = {
        "Type": "HTTPS",
        "FullyQualifiedDomainName": f"{name}.example.com",
        "Port": 443,
        "ResourcePath": "/health",
        "Inverted": inverted,
    }
    return str(
        factory.route53().create_health_check(CallerReference=name, HealthCheckConfig=config)["HealthCheck"][
            "Id"
        ]
    )


def test_status_of_a_stack_with_the_primary_region_unreachable(moto_url: str) -> None:
    factory = FakeFactory(moto_url=moto_url, dead={("rds", EAST)})
    make_table(factory, EAST)
    make_table(factory, WEST)
    east_hc, west_hc = health_check(factory, "east", False), health_check(factory, "west", True)
    factory.stub("rds", WEST).add_response(
        "describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID}
    )
    factory.stub("cloudwatch", WEST).add_response(
        "get_metric_statistics", lag_response(30.0, 45.0), lag_request("orders-west")
    )
    factory.stub("route53-recovery-control-config", "control").add_response(
        "describe_cluster", arc_cluster_response((EP1, EAST)), {"ClusterArn": ARC_CLUSTER}
    )
    ep1 = factory.stub("route53-recovery-cluster", EP1)
    ep1.add_response("get_routing_control_state", rc_state(RC_EAST, "On"), {"RoutingControlArn": RC_EAST})
    ep1.add_response("get_routing_control_state", rc_state(RC_WEST, "Off"), {"RoutingControlArn": RC_WEST})
    targets = FailoverTargets(
        global_cluster_identifier=GLOBAL_ID,
        regions=(EAST, WEST, EU),
        health_check_ids={EAST: east_hc, WEST: west_hc},
        arc_cluster_arn=ARC_CLUSTER,
        routing_control_arns={EAST: RC_EAST, WEST: RC_WEST},
        dynamodb_table_name="sessions",
    )
    reporter = RecordingReporter()
    status = collect_status(factory, targets, make_clock(FakeClock()), reporter)

    assert status.errors == []
    assert (status.writer_region, status.asked_region, status.global_status) == (EAST, WEST, "available")
    assert [(m.region, m.role, m.sync_status, m.lag_ms) for m in status.members] == [
        (EAST, "writer", None, None),
        (WEST, "reader", "connected", 45.0),
    ]
    assert [(h.region, h.inverted, h.effective_healthy) for h in status.health_checks] == [
        (EAST, False, True),
        (WEST, True, False),
    ]
    assert [(r.region, r.state) for r in status.routing_controls] == [(EAST, "On"), (WEST, "Off")]
    assert [(d.region, d.table_status) for d in status.dynamodb] == [
        (EAST, "ACTIVE"),
        (WEST, "ACTIVE"),
        (EU, "MISSING"),
    ]
    assert any("rds in us-east-1 unavailable" in w for w in reporter.kinds("warn"))
    factory.assert_all_used()

    # JSON is complete and serialisable; the tables render without a terminal.
    data = json.loads(json.dumps(status.to_json(), default=str))
    assert data["writer_region"] == EAST
    assert data["health_checks"][1]["effective_healthy"] is False
    console = Console(record=True, width=160)
    for table in render_status(status):
        console.print(table)
    text = " ".join(console.export_text().split())
    assert "writer in us-east-1" in text and "MISSING" in text and "45" in text


def test_status_reports_failed_parts_and_carries_on(moto_url: str) -> None:
    factory = FakeFactory(moto_url=moto_url)
    make_table(factory, WEST)
    factory.stub("rds", EAST).add_client_error(
        "describe_global_clusters", "GlobalClusterNotFoundFault", "gone", 404
    )
    targets = FailoverTargets(
        global_cluster_identifier=GLOBAL_ID,
        regions=(EAST, WEST),
        health_check_ids={EAST: "does-not-exist"},
        dynamodb_table_name="sessions",
    )
    status = collect_status(factory, targets, make_clock(FakeClock()))
    assert status.errors == [
        "aurora: global cluster 'orders-global' not found (asked in us-east-1)",
        "health check us-east-1: route53 health check does-not-exist (us-east-1): NoSuchHealthCheck: "
        "A health check with id does-not-exist does not exist.",
    ]
    assert [(d.region, d.table_status) for d in status.dynamodb] == [(EAST, "MISSING"), (WEST, "ACTIVE")]

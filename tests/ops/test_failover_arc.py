"""ARC data plane: each cluster endpoint in turn, backoff rounds, clean errors (Stubber, refused port)."""

from __future__ import annotations

import pytest
from failover_support import (
    ARC_CLUSTER,
    EAST,
    EP1,
    EP2,
    RC_EAST,
    RC_WEST,
    FakeClock,
    FakeFactory,
    RecordingReporter,
    arc_cluster_response,
    closed_port_url,
    make_clock,
    rc_state,
)
from hakit.errors import HakitError
from hakit.ops.failover_arc import ArcDataPlane


def plane(
    factory: FakeFactory, *endpoints: tuple[str, str], rounds: int = 2
) -> tuple[ArcDataPlane, FakeClock, RecordingReporter]:
    factory.stub("route53-recovery-control-config", "control").add_response(
        "describe_cluster", arc_cluster_response(*endpoints), {"ClusterArn": ARC_CLUSTER}
    )
    clock, reporter = FakeClock(), RecordingReporter()
    arc = ArcDataPlane(factory, ARC_CLUSTER, make_clock(clock), reporter, rounds=rounds, backoff_s=1.0)
    return arc, clock, reporter


def test_unreachable_first_endpoint_falls_through_to_the_next() -> None:
    dead = closed_port_url()  # a real connection refusal, not a simulated one
    factory = FakeFactory()
    arc, clock, reporter = plane(factory, (dead, EAST), (EP2, "ap-southeast-2"))
    factory.stub("route53-recovery-cluster", EP2).add_response(
        "get_routing_control_state", rc_state(RC_WEST, "On"), {"RoutingControlArn": RC_WEST}
    )
    assert arc.get_state(RC_WEST) == "On"
    assert factory.operations() == [
        "route53-recovery-control-config@control:DescribeCluster",
        f"route53-recovery-cluster@{dead}:GetRoutingControlState",
        f"route53-recovery-cluster@{EP2}:GetRoutingControlState",
    ]
    [warning] = reporter.kinds("warn")
    assert warning.startswith("ARC endpoint us-east-1 failed (EndpointConnectionError: ")
    assert clock.sleeps == []  # the next endpoint is tried at once; backoff only between rounds


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalServerException", 500),
        ("EndpointTemporarilyUnavailableException", 503),
        ("ThrottlingException", 429),
    ],
)
def test_5xx_and_throttling_at_one_endpoint_use_the_next(code: str, status: int) -> None:
    factory = FakeFactory()
    arc, _, _ = plane(factory, (EP1, EAST), (EP2, "ap-southeast-2"))
    entries = [
        {"RoutingControlArn": RC_WEST, "RoutingControlState": "On"},
        {"RoutingControlArn": RC_EAST, "RoutingControlState": "Off"},
    ]
    factory.stub("route53-recovery-cluster", EP1).add_client_error(
        "update_routing_control_states",
        code,
        "boom",
        status,
        expected_params={"UpdateRoutingControlStateEntries": entries},
    )
    factory.stub("route53-recovery-cluster", EP2).add_response(
        "update_routing_control_states", {}, {"UpdateRoutingControlStateEntries": entries}
    )
    arc.set_states({RC_WEST: "On", RC_EAST: "Off"})
    assert [c.where for c in factory.mutating()] == [
        f"route53-recovery-cluster@{EP1}",
        f"route53-recovery-cluster@{EP2}",
    ]
    factory.assert_all_used()


def test_all_endpoints_failing_is_an_error_after_the_rounds() -> None:
    dead = closed_port_url()
    factory = FakeFactory()
    arc, clock, reporter = plane(factory, (dead, EAST), (EP2, "ap-southeast-2"), rounds=3)
    for _ in range(3):
        factory.stub("route53-recovery-cluster", EP2).add_client_error(
            "get_routing_control_state", "InternalServerException", "down", 500
        )
    with pytest.raises(HakitError) as err:
        arc.get_state(RC_EAST)
    assert err.value.exit_code == 1
    assert err.value.lines == [
        "ARC get_routing_control_state: all 2 cluster endpoints failed, 3 rounds "
        "(last ap-southeast-2: InternalServerException: down)"
    ]
    assert len(factory.calls) == 1 + 6  # describe_cluster, then 3 rounds x 2 endpoints
    assert clock.sleeps == [1.0, 2.0]  # backoff between rounds, none after the last
    assert len(reporter.kinds("warn")) == 6
    factory.assert_all_used()


def test_a_validation_error_is_not_retried_elsewhere() -> None:
    factory = FakeFactory()
    arc, _, _ = plane(factory, (EP1, EAST), (EP2, "ap-southeast-2"))
    factory.stub("route53-recovery-cluster", EP1).add_client_error(
        "update_routing_control_states", "ConflictException", "safety rule assert-one-on violated", 409
    )
    with pytest.raises(HakitError) as err:
        arc.set_states({RC_EAST: "Off", RC_WEST: "Off"})
    assert err.value.lines == [
        "ARC update_routing_control_states at us-east-1: ConflictException: safety rule assert-one-on "
        "violated (a safety rule blocked it: see --override-safety-rule)"
    ]
    assert len(factory.mutating()) == 1


def test_safety_rule_override_is_sent() -> None:
    factory = FakeFactory()
    arc, _, _ = plane(factory, (EP1, EAST))
    rule = "arn:aws:route53-recovery-control::123456789012:controlpanel/p1/safetyrule/one-on"
    factory.stub("route53-recovery-cluster", EP1).add_response(
        "update_routing_control_states",
        {},
        {
            "UpdateRoutingControlStateEntries": [
                {"RoutingControlArn": RC_EAST, "RoutingControlState": "Off"}
            ],
            "SafetyRulesToOverride": [rule],
        },
    )
    arc.set_states({RC_EAST: "Off"}, (rule,))
    factory.assert_all_used()


def test_describe_cluster_errors_and_empty_clusters() -> None:
    factory = FakeFactory()
    factory.stub("route53-recovery-control-config", "control").add_client_error(
        "describe_cluster", "AccessDeniedException", "not allowed", 403
    )
    arc = ArcDataPlane(factory, ARC_CLUSTER, make_clock(FakeClock()), RecordingReporter())
    with pytest.raises(HakitError, match=r"^ARC describe_cluster .*: AccessDeniedException: not allowed$"):
        arc.endpoints()

    factory = FakeFactory()
    arc, _, _ = plane(factory)
    with pytest.raises(HakitError, match="has no endpoints"):
        arc.endpoints()

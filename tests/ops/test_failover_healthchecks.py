"""Health-check inversion (the fallback without ARC) against a moto server: Inverted really flips."""

from __future__ import annotations

from typing import Any

import pytest
from failover_support import (
    EAST,
    GLOBAL_ID,
    WEST,
    WEST_ARN,
    FakeClock,
    FakeFactory,
    RecordingReporter,
    db_clusters,
    global_cluster,
    lag_request,
    lag_response,
    make_clock,
    promoting,
)
from hakit.ops.failover import Kind, Runbook, RunbookSettings
from hakit.ops.failover_healthchecks import HealthCheckState, plan_inversion, read_health_check
from hakit.ops.failover_targets import FailoverTargets
from hypothesis import given
from hypothesis import strategies as st


def create_check(route53: Any, name: str, inverted: bool, kind: str = "HTTPS") -> str:
    config: dict[str, Any] = {"Type": kind, "Inverted": inverted}
    if kind == "CALCULATED":
        config.update(HealthThreshold=0, ChildHealthChecks=[])
    else:
        config.update(FullyQualifiedDomainName=f"{name}.example.com", Port=443, ResourcePath="/health")
    return str(
        route53.create_health_check(CallerReference=name, HealthCheckConfig=config)["HealthCheck"]["Id"]
    )


def inverted(route53: Any, check_id: str) -> bool:
    return bool(
        route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]["Inverted"]
    )


def test_switchover_inverts_health_checks_in_moto(moto_url: str) -> None:
    factory = FakeFactory(moto_url=moto_url)
    route53 = factory.route53()
    east = create_check(route53, "east", inverted=False)
    west = create_check(route53, "west", inverted=True)  # the secondary was drained earlier
    rds = factory.stub("rds", WEST)
    rds.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    rds.add_response("describe_db_clusters", db_clusters(WEST_ARN), {"DBClusterIdentifier": WEST_ARN})
    factory.stub("cloudwatch", WEST).add_response(
        "get_metric_statistics", lag_response(8.0), lag_request("orders-west")
    )
    params = {"GlobalClusterIdentifier": GLOBAL_ID, "TargetDbClusterIdentifier": WEST_ARN}
    rds.add_response("switchover_global_cluster", promoting(), params)
    rds.add_response(
        "describe_global_clusters", global_cluster(writer=WEST_ARN), {"GlobalClusterIdentifier": GLOBAL_ID}
    )
    targets = FailoverTargets(
        global_cluster_identifier=GLOBAL_ID, regions=(EAST, WEST), health_check_ids={EAST: east, WEST: west}
    )
    book = Runbook(factory, targets, RunbookSettings(), make_clock(FakeClock()), RecordingReporter())

    plan = book.prepare(Kind.SWITCHOVER, WEST)
    assert plan.traffic_method == "health-checks"
    assert plan.steps()[-2:] == [
        f"route53 update_health_check {west} (us-west-2) Inverted=False",
        f"route53 update_health_check {east} (us-east-1) Inverted=True",
    ]
    assert (inverted(route53, east), inverted(route53, west)) == (False, True)  # the plan changed nothing

    book.execute(plan)
    assert (inverted(route53, east), inverted(route53, west)) == (True, False)
    updates = [(c.params["HealthCheckId"], c.params["Inverted"]) for c in factory.mutating()[1:]]
    assert factory.mutating()[0].operation == "SwitchoverGlobalCluster"
    assert updates == [(west, False), (east, True)]  # the target first: never both regions drained
    factory.assert_all_used()


def test_read_health_check_from_moto(moto_url: str) -> None:
    factory = FakeFactory(moto_url=moto_url)
    check = create_check(factory.route53(), "east", inverted=True)
    calc = create_check(factory.route53(), "switch", inverted=False, kind="CALCULATED")
    state = read_health_check(factory, make_clock(FakeClock()), EAST, check)
    assert (state.type, state.inverted, state.observers, state.observers_ok) == ("HTTPS", True, 1, 1)
    assert (state.endpoint_healthy, state.effective_healthy) == (True, False)
    calc_state = read_health_check(factory, make_clock(FakeClock()), WEST, calc)
    assert (calc_state.type, calc_state.observers, calc_state.endpoint_healthy) == ("CALCULATED", 0, None)
    # Route 53 refuses GetHealthCheckStatus for calculated checks: it must not be called for them.
    assert [c.operation for c in factory.calls].count("GetHealthCheckStatus") == 1


def test_missing_health_check_is_a_clean_error(moto_url: str) -> None:
    from hakit.errors import HakitError

    factory = FakeFactory(moto_url=moto_url)
    with pytest.raises(HakitError, match=r"^route53 health check nope \(us-east-1\): NoSuchHealthCheck"):
        read_health_check(factory, make_clock(FakeClock()), EAST, "nope")


def test_a_failing_endpoint_check_is_not_inverted() -> None:
    dead_east = HealthCheckState(EAST, "hc-east", "HTTPS", False, False, observers=3, observers_ok=0)
    west = HealthCheckState(WEST, "hc-west", "HTTPS", True, False, observers=3, observers_ok=3)
    changes, warnings = plan_inversion([dead_east, west], WEST)
    assert [(c.check_id, c.inverted) for c in changes] == [("hc-west", False)]
    assert warnings == [
        "health check hc-east (us-east-1) already fails: left as is; invert it once the region recovers, "
        "or traffic returns there"
    ]


states = st.builds(
    HealthCheckState,
    region=st.sampled_from([EAST, WEST, "eu-west-1"]),
    check_id=st.text("abc123", min_size=1, max_size=4),
    type=st.sampled_from(["HTTPS", "CALCULATED"]),
    inverted=st.booleans(),
    disabled=st.just(False),
    observers=st.integers(0, 3),
    observers_ok=st.integers(0, 3),
).filter(lambda s: s.observers_ok <= s.observers)


@given(st.lists(states, max_size=4, unique_by=lambda s: s.region), st.sampled_from([EAST, WEST, "eu-west-1"]))
def test_inversion_plan_properties(checks: list[HealthCheckState], target: str) -> None:
    changes, _ = plan_inversion(checks, target)
    # The target is only ever un-inverted, and that happens before any other region is drained.
    assert all(not c.inverted for c in changes if c.region == target)
    if changes and any(c.region == target for c in changes):
        assert changes[0].region == target
    # Only checks whose state differs from the goal are touched.
    by_region = {c.region: c for c in checks}
    assert all(by_region[c.region].inverted != c.inverted for c in changes)


def test_endpoint_health_follows_route53s_18_percent_rule() -> None:
    """Route 53: healthy when more than 18 % of checkers say so (3 of 16 is 18.75 %), not a majority."""

    def state(ok: int, observers: int = 16) -> HealthCheckState:
        return HealthCheckState(EAST, "hc", "HTTPS", False, False, observers=observers, observers_ok=ok)

    assert state(3).endpoint_healthy is True
    assert state(2).endpoint_healthy is False
    assert state(0, observers=0).endpoint_healthy is None

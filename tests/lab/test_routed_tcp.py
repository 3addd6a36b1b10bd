"""The lab drills routed and TCP frontends: every pool's servers run, a route reaches its own pool, and a
backend kill behind the routed frontend and behind the TCP frontend is measured like any other drill.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from hakit.lab.drills import DrillRunner
from hakit.lab.from_inventory import build_plan
from hakit.lab.runtime import Lab
from hakit.lab.session import open_inventory
from lab_support import running_lab

pytestmark = [pytest.mark.lab, pytest.mark.serial]

INVENTORY = Path(__file__).parent / "routed.yaml"


@pytest.fixture(scope="module")
def routed_lab() -> Iterator[Lab]:
    """A running lab of tests/lab/routed.yaml (HAProxy: routed www + TCP stream frontends)."""
    with running_lab(INVENTORY, "haproxy") as lab:
        yield lab


def test_routes_reach_their_pool_and_a_kill_loses_nothing(routed_lab: Lab) -> None:
    """/api/ goes to the api pool, the rest to app; killing an app server under load loses nothing."""
    records = routed_lab.run_load(routed_lab.plan.load_config(path="/api/x", keepalive=0, max_requests=5))
    assert {r[5] for r in records} == {"api1"}, records
    records = routed_lab.run_load(routed_lab.plan.load_config(keepalive=0, max_requests=6))
    assert {r[5] for r in records} == {"web1", "web2"}, records
    result = DrillRunner(routed_lab).run(1)
    print(result.to_dict())
    assert result.sent >= 100 and result.failed == 0, result


def test_tcp_frontend_is_drilled_too(routed_lab: Lab) -> None:
    """The same lab loaded through the TCP frontend (HTTP bytes through `mode tcp`): a server killed."""
    inv, cluster = open_inventory(INVENTORY, None)
    tcp_plan = build_plan(inv, cluster, source="x", workdir=routed_lab.workdir / "replan", frontend="stream")
    # Same cluster, same lab: only the target changes (port, pool).
    routed_lab.plan = dataclasses.replace(
        routed_lab.plan, port=tcp_plan.port, proxy_backend=tcp_plan.proxy_backend, frontend="stream"
    )
    result = DrillRunner(routed_lab).run(1)
    print(result.to_dict())
    assert result.detail == "t1 killed", result  # a server of the TCP pool, not of the HTTP one
    assert result.sent >= 100 and result.detect_s is not None, result
    # A TCP proxy cannot replay a request already sent on a connection the dead server held: at most the
    # requests in flight at the kill fail (new connections are redispatched).
    assert result.failed <= 2, result

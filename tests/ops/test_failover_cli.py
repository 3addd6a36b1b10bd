"""`hakit failover ...` through typer's CliRunner (stubbed AWS) and as a real subprocess (moto server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from failover_support import (
    EAST,
    GLOBAL_ID,
    WEST,
    WEST_ARN,
    FakeClock,
    FakeFactory,
    closed_port_url,
    db_clusters,
    global_cluster,
    lag_request,
    lag_response,
    make_clock,
    promoting,
)
from hakit.commands import failover as failover_commands
from hakit.errors import HakitError
from typer.testing import CliRunner

app = typer.Typer()
failover_commands.register(app)


@app.callback()
def _root() -> None:
    """Root group, as in hakit.cli."""


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def wired(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[FakeFactory, FakeClock, list[tuple[object, ...]]]]:
    """Route the CLI's factory and clock to fakes; record how the factory was asked for."""
    factory, clock = FakeFactory(), FakeClock()
    asked: list[tuple[object, ...]] = []

    def fake_factory(*args: object) -> FakeFactory:
        asked.append(args)
        return factory

    monkeypatch.setattr(failover_commands, "make_factory", fake_factory)
    monkeypatch.setattr(failover_commands, "make_clock", lambda: make_clock(clock))
    yield factory, clock, asked


def invoke(*args: str) -> Outcome:
    """Run like hakit.cli.main does: a HakitError becomes its lines on stderr and its exit code."""
    result = CliRunner().invoke(app, list(args))
    stderr = result.stderr
    code = result.exit_code
    if isinstance(result.exception, HakitError):
        stderr += "\n".join(result.exception.lines)
        code = result.exception.exit_code
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(code, result.stdout, stderr)


def queue_prechecks(factory: FakeFactory, lag: float = 20.0) -> None:
    rds = factory.stub("rds", WEST)
    rds.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    rds.add_response("describe_db_clusters", db_clusters(WEST_ARN), {"DBClusterIdentifier": WEST_ARN})
    factory.stub("cloudwatch", WEST).add_response(
        "get_metric_statistics", lag_response(lag), lag_request("orders-west")
    )


BASE = ("--global-cluster", GLOBAL_ID, "--region", EAST, "--region", WEST, "--to", WEST)


def test_dry_run_prints_the_plan_and_changes_nothing(
    wired: tuple[FakeFactory, FakeClock, list[tuple[object, ...]]],
) -> None:
    factory, _, _ = wired
    queue_prechecks(factory)
    out = invoke("failover", "switchover", *BASE, "--dry-run")
    assert out.code == 0, out.stderr
    assert "1. rds switchover_global_cluster orders-global -> orders-west (us-west-2)" in out.stdout
    assert "2. wait until orders-west is the writer" in out.stdout
    assert factory.mutating() == []
    factory.assert_all_used()


def test_dry_run_json_parses(wired: tuple[FakeFactory, FakeClock, list[tuple[object, ...]]]) -> None:
    factory, _, _ = wired
    queue_prechecks(factory)
    out = invoke("failover", "unplanned", *BASE, "--dry-run", "--json")
    assert out.code == 0, out.stderr
    plan = json.loads(out.stdout)
    assert (plan["kind"], plan["target_region"], plan["ok"], plan["lag_ms"]) == ("failover", WEST, True, 20.0)
    assert plan["steps"][0].endswith("AllowDataLoss=True (may lose ~20 ms of writes)")
    assert factory.mutating() == []


@pytest.mark.parametrize("flags", [(), ("--allow-data-loss",), ("--yes",)])
def test_failover_without_both_confirmations_exits_2_before_any_call(
    wired: tuple[FakeFactory, FakeClock, list[tuple[object, ...]]], flags: tuple[str, ...]
) -> None:
    factory, _, asked = wired
    out = invoke("failover", "unplanned", *BASE, *flags)
    assert out.code == 2
    assert out.stderr.strip() == (
        "failover may lose writes: confirm with --allow-data-loss --yes (or --dry-run, or switchover)"
    )
    assert asked == [] and factory.calls == []


def test_confirmed_failover_sends_allow_data_loss(
    wired: tuple[FakeFactory, FakeClock, list[tuple[object, ...]]],
) -> None:
    factory, _, _ = wired
    queue_prechecks(factory)
    rds = factory.stub("rds", WEST)
    rds.add_response(
        "failover_global_cluster",
        promoting(),
        {"GlobalClusterIdentifier": GLOBAL_ID, "TargetDbClusterIdentifier": WEST_ARN, "AllowDataLoss": True},
    )
    rds.add_response(
        "describe_global_clusters", global_cluster(writer=WEST_ARN), {"GlobalClusterIdentifier": GLOBAL_ID}
    )
    # The first spelling of the verb ("failover failover") stays a working, hidden alias of "unplanned".
    out = invoke("failover", "failover", *BASE, "--allow-data-loss", "--yes", "--json")
    assert out.code == 0, out.stderr
    assert json.loads(out.stdout)["result"] == {"writer_region": WEST, "ok": True}
    assert [c.operation for c in factory.mutating()] == ["FailoverGlobalCluster"]
    factory.assert_all_used()


def test_lag_too_high_exits_3(wired: tuple[FakeFactory, FakeClock, list[tuple[object, ...]]]) -> None:
    factory, _, _ = wired
    queue_prechecks(factory, lag=4000.0)
    out = invoke("failover", "switchover", *BASE, "--yes", "--max-lag-ms", "500")
    assert out.code == 3
    assert out.stderr.strip() == "refused: FAIL lag: 4000 ms (limit 500 ms)"
    assert factory.mutating() == []


def test_switchover_without_yes_and_no_terminal_exits_2(
    wired: tuple[FakeFactory, FakeClock, list[tuple[object, ...]]],
) -> None:
    factory, _, _ = wired
    queue_prechecks(factory)
    out = invoke("failover", "switchover", *BASE)
    assert out.code == 2
    assert "pass --yes" in out.stderr
    assert factory.mutating() == []


def test_writer_timeout_exits_4(wired: tuple[FakeFactory, FakeClock, list[tuple[object, ...]]]) -> None:
    factory, clock, _ = wired
    queue_prechecks(factory)
    rds = factory.stub("rds", WEST)
    params = {"GlobalClusterIdentifier": GLOBAL_ID, "TargetDbClusterIdentifier": WEST_ARN}
    rds.add_response("switchover_global_cluster", promoting(), params)
    for _ in range(3):
        rds.add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GLOBAL_ID})
    out = invoke("failover", "switchover", *BASE, "--yes", "--timeout", "20", "--poll-interval", "10")
    assert out.code == 4
    assert "did not become the writer of orders-global within 20 s" in out.stderr
    assert clock.sleeps == [10.0, 10.0]
    factory.assert_all_used()


def test_stack_outputs_file_and_bad_input(
    wired: tuple[FakeFactory, FakeClock, list[tuple[object, ...]]], tmp_path: Path
) -> None:
    factory, _, _ = wired
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {"globalClusterIdentifier": GLOBAL_ID, "regions": [EAST, WEST], "vpcId": "vpc-1"}, indent=2
        )
    )
    queue_prechecks(factory)
    out = invoke("failover", "switchover", "--stack-outputs", str(outputs), "--to", WEST, "--dry-run")
    assert out.code == 0, out.stderr

    outputs.write_text('{\n  "globalClusterIdentifier": "g",\n  "regions": ["us-east-1", "mars-1"]\n}\n')
    out = invoke("failover", "status", "--stack-outputs", str(outputs))
    assert out.code == 2
    assert out.stderr.strip() == f"{outputs}:3: regions: Value error, 'mars-1' is not an AWS region name"

    out = invoke("failover", "status", "--health-check", "nowhere")
    assert out.code == 2
    assert out.stderr.strip() == "--health-check: expected REGION=VALUE (e.g. us-east-1=...), got 'nowhere'"

    out = invoke("failover", "switchover", "--global-cluster", "g", "--to", "moon")
    assert (out.code, out.stderr.strip()) == (2, "--to: 'moon' is not an AWS region name")

    before = len(factory.calls)
    out = invoke("failover", "status")
    assert (out.code, out.stderr.strip()) == (
        2,
        "nothing to look at: pass --stack-outputs or name resources (see --help)",
    )
    assert len(factory.calls) == before  # refused before any AWS call


# ------------------------------------------------------------------ the real command, as a process
def run_hakit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": EAST,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    code = "from hakit.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_subprocess_exit_codes_and_status_json_against_moto(moto_url: str) -> None:
    refused = run_hakit("failover", "failover", "--global-cluster", "g", "--to", WEST)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "Traceback" not in refused.stderr

    factory = FakeFactory(moto_url=moto_url)
    check = factory.route53().create_health_check(
        CallerReference="east",
        HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": "east.example.com", "Port": 443},
    )["HealthCheck"]["Id"]
    status = run_hakit(
        "failover", "status", "--health-check", f"{EAST}={check}", "--dynamodb-table", "sessions",
        "--region", EAST, "--endpoint-url", moto_url, "--json",
    )  # fmt: skip
    # The table does not exist in moto: the status is still printed, and the run says it is complete.
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["health_checks"][0]["check_id"] == check
    assert data["health_checks"][0]["effective_healthy"] is True
    assert data["dynamodb"] == [{"region": EAST, "table_status": "MISSING", "replica_status": None}]


def test_status_with_every_region_unreachable_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real boto3 factory, pointed at a closed port: a clean one-line error per missing part."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    args = ("--global-cluster", "g", "--region", EAST, "--region", WEST, "--endpoint-url", closed_port_url())
    out = invoke("failover", "status", *args, "--max-attempts", "1")
    assert out.code == 1
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "incomplete: aurora: global cluster 'g': no region answered (us-east-1: EndpointConnectionError: "
        )
    )

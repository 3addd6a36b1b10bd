"""`hakit drill` against botocore's Stubber (moto has no FIS): call order, measurements, one-line failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from failover_support import FakeClock, html_error_server, make_clock
from hakit.commands import drill as drill_commands
from hakit.errors import HakitError
from hakit.ops.drill import (
    EXIT_AWS,
    EXIT_NOT_COMPLETED,
    EXIT_OVER_BUDGET,
    EXIT_TIMEOUT,
    DrillSettings,
    healthy_from_status,
    run_drill,
)

REGION = "us-east-1"
TEMPLATE = "EXT1a2b3c4d5e6f7"
EXPERIMENT = "EXP9z8y7x6w5v4u3"
CHECK = "0d5e1c2b-1111-2222-3333-444455556666"
START = {"experimentTemplateId": TEMPLATE, "clientToken": ANY, "tags": {"hakit:started-by": "hakit drill"}}


def _client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def _experiment(status: str, reason: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"status": status}
    if reason:
        state["reason"] = reason
    return {"experiment": {"id": EXPERIMENT, "experimentTemplateId": TEMPLATE, "state": state}}


def _health(ok: int, of: int = 8) -> dict[str, Any]:
    observations = [
        {
            "Region": "us-east-1",
            "IPAddress": f"192.0.2.{i}",
            "StatusReport": {"Status": "Success: HTTP Status Code 200, OK" if i < ok else "Failure: timeout"},
        }
        for i in range(of)
    ]
    return {"HealthCheckObservations": observations}


class Stubs:
    """Stubbed FIS and Route 53 clients recording the global call order."""

    def __init__(self) -> None:
        self.fis = _client("fis")
        self.route53 = _client("route53")
        self.fis_stub = Stubber(self.fis)
        self.r53_stub = Stubber(self.route53)
        self.calls: list[str] = []
        for client in (self.fis, self.route53):
            client.meta.events.register("before-call.*.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def get(self, status: str, reason: str = "") -> None:
        self.fis_stub.add_response("get_experiment", _experiment(status, reason), {"id": EXPERIMENT})

    def health(self, ok: int) -> None:
        self.r53_stub.add_response("get_health_check_status", _health(ok), {"HealthCheckId": CHECK})

    def __enter__(self) -> Stubs:
        self.fis_stub.activate()
        self.r53_stub.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fis_stub.deactivate()
        self.r53_stub.deactivate()


def _settings(**extra: Any) -> DrillSettings:
    values: dict[str, Any] = {"template_id": TEMPLATE, "region": REGION, "health_check_id": CHECK}
    values.update(extra)
    return DrillSettings(**values)


def test_measures_detection_and_recovery_in_call_order() -> None:
    stubs = Stubs()
    stubs.fis_stub.add_response("start_experiment", _experiment("initiating"), START)
    for status, ok in [("running", 8), ("running", 0), ("running", 1), ("completed", 1), (None, 2)]:
        if status:
            stubs.get(status)
        stubs.health(ok)
    clock = FakeClock()
    with stubs:
        result = run_drill(stubs.fis, stubs.route53, _settings(budget_seconds=30), make_clock(clock))
        stubs.fis_stub.assert_no_pending_responses()
        stubs.r53_stub.assert_no_pending_responses()
    assert stubs.calls == ["StartExperiment"] + ["GetExperiment", "GetHealthCheckStatus"] * 4 + [
        "GetHealthCheckStatus"
    ]
    # Polls at 0, 10, 20, 30, 40 s: unhealthy from 10 s (1 of 8 is not > 18 %), healthy (2 of 8) at 40 s,
    # after the experiment completed at 30 s: the watch goes on until the service recovers.
    assert (result.detected_seconds, result.recovered_seconds, result.outage_seconds) == (10, 40, 30)
    assert result.status == "completed" and result.within_budget is True and result.exit_code() == 0
    assert result.health_timeline == [(0, True), (10, False), (40, True)]
    assert clock.sleeps == [10, 10, 10, 10]
    assert result.to_json()["outage_seconds"] == 30


def test_outage_over_budget_and_never_recovered() -> None:
    stubs = Stubs()
    stubs.fis_stub.add_response("start_experiment", _experiment("initiating"), START)
    stubs.get("running")
    stubs.health(0)
    stubs.get("completed")
    for _ in range(3):
        stubs.health(0)
    with stubs:
        result = run_drill(
            stubs.fis, stubs.route53, _settings(timeout=30, budget_seconds=5), make_clock(FakeClock())
        )
    assert result.status == "completed" and result.recovered_seconds is None
    assert result.within_budget is False and result.exit_code() == EXIT_OVER_BUDGET


def test_stop_condition_is_a_failed_drill() -> None:
    stubs = Stubs()
    stubs.fis_stub.add_response("start_experiment", _experiment("initiating"), START)
    stubs.get("stopped", "Experiment stopped by stop condition: shop-5xx")
    with stubs:
        result = run_drill(stubs.fis, None, _settings(health_check_id=None), make_clock(FakeClock()))
    assert result.status == "stopped" and "stop condition" in result.reason
    assert result.exit_code() == EXIT_NOT_COMPLETED
    assert stubs.calls == ["StartExperiment", "GetExperiment"]


def test_timeout_stops_the_experiment() -> None:
    stubs = Stubs()
    stubs.fis_stub.add_response("start_experiment", _experiment("initiating"), START)
    for _ in range(3):
        stubs.get("running")
    stubs.fis_stub.add_response("stop_experiment", _experiment("stopping"), {"id": EXPERIMENT})
    with stubs:
        result = run_drill(
            stubs.fis, None, _settings(health_check_id=None, timeout=20), make_clock(FakeClock())
        )
        stubs.fis_stub.assert_no_pending_responses()
    assert result.status == "timeout" and result.exit_code() == EXIT_TIMEOUT
    assert "experiment EXP9z8y7x6w5v4u3 stopped" in result.reason
    assert stubs.calls[-1] == "StopExperiment"


def test_access_denied_is_one_line() -> None:
    stubs = Stubs()
    stubs.fis_stub.add_client_error(
        "start_experiment",
        "AccessDeniedException",
        "User is not authorized to perform: fis:StartExperiment",
        403,
    )
    with stubs, pytest.raises(HakitError) as error:
        run_drill(stubs.fis, None, _settings(), make_clock(FakeClock()))
    assert error.value.exit_code == EXIT_AWS
    assert error.value.lines == [
        f"fis {TEMPLATE} ({REGION}): start_experiment: AccessDeniedException: "
        "User is not authorized to perform: fis:StartExperiment"
    ]


def test_health_check_error_while_watching_stops_the_experiment() -> None:
    stubs = Stubs()
    stubs.fis_stub.add_response("start_experiment", _experiment("initiating"), START)
    stubs.get("running")
    stubs.r53_stub.add_client_error("get_health_check_status", "NoSuchHealthCheck", "no such check", 404)
    stubs.fis_stub.add_response("stop_experiment", _experiment("stopping"), {"id": EXPERIMENT})
    with stubs, pytest.raises(HakitError) as error:
        run_drill(stubs.fis, stubs.route53, _settings(), make_clock(FakeClock()))
    (line,) = error.value.lines
    assert line.startswith(f"route53 health check {CHECK}: get_health_check_status: NoSuchHealthCheck")
    assert line.endswith(f"experiment {EXPERIMENT} stopped")
    assert stubs.calls[-1] == "StopExperiment"


def test_html_error_page_is_one_line() -> None:
    with html_error_server(502) as url:
        fis = _client("fis", endpoint_url=url)
        with pytest.raises(HakitError) as error:
            run_drill(fis, None, _settings(health_check_id=None), make_clock(FakeClock()))
    (line,) = error.value.lines
    assert line.startswith(f"fis {TEMPLATE} ({REGION}): start_experiment: ")
    assert "not an AWS" in line and "<" not in line
    assert error.value.exit_code == EXIT_AWS


def test_healthy_share_is_route53s_18_percent() -> None:
    assert healthy_from_status(_health(2, of=8)) is True  # 25 %
    assert healthy_from_status(_health(1, of=8)) is False  # 12.5 %
    assert healthy_from_status({"HealthCheckObservations": []}) is None


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli_stubs(monkeypatch: pytest.MonkeyPatch) -> Stubs:
    stubs = Stubs()
    monkeypatch.setattr(drill_commands, "make_clients", lambda *_: (stubs.fis, stubs.route53))
    monkeypatch.setattr(drill_commands, "make_clock", lambda: make_clock(FakeClock()))
    return stubs


def _report(tmp_path: Path, rto: Any = 40) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"budget": {"paths": [{"name": "region-outage", "rto_seconds": rto}]}}))
    return path


def test_cli_run_json_with_the_report_budget(cli_stubs: Stubs, hakit_cli: Any, tmp_path: Path) -> None:
    cli_stubs.fis_stub.add_response("start_experiment", _experiment("initiating"), START)
    cli_stubs.get("running")
    cli_stubs.health(0)
    cli_stubs.get("completed")
    cli_stubs.health(8)
    report = _report(tmp_path)
    with cli_stubs:
        result = hakit_cli(
            "drill", "run", "--template-id", TEMPLATE, "--region", REGION, "--health-check-id", CHECK,
            "--report", str(report), "--budget-path", "region-outage", "--yes", "--json",
        )  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert (data["detected_seconds"], data["recovered_seconds"], data["budget_seconds"]) == (0, 10, 40)
    assert data["within_budget"] is True


def test_cli_run_table_shows_the_budget_verdict(cli_stubs: Stubs, hakit_cli: Any) -> None:
    cli_stubs.fis_stub.add_response("start_experiment", _experiment("initiating"), START)
    cli_stubs.get("running")
    cli_stubs.health(0)
    cli_stubs.get("completed")
    cli_stubs.health(8)
    with cli_stubs:
        result = hakit_cli(
            "drill", "run", "--template-id", TEMPLATE, "-r", REGION, "--health-check-id", CHECK,
            "--budget-seconds", "5", "--yes",
        )  # fmt: skip
    assert result.code == EXIT_OVER_BUDGET
    assert "OVER BUDGET" in result.out and "10 s" in result.out
    assert "health check" in result.err  # progress lines go to stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a `hakit report --json` file"),
        ('{"budget": {}}', "budget.paths: missing"),
        ('{"budget": {"paths": [{"name": "az"}]}}', "no path 'region-outage' (paths: az)"),
        (
            '{"budget": {"paths": [{"name": "region-outage", "rto_seconds": null}]}}',
            "rto_seconds: not a number",
        ),
    ],
)
def test_cli_bad_report_is_exit_2(
    cli_stubs: Stubs, hakit_cli: Any, tmp_path: Path, content: str, message: str
) -> None:
    report = tmp_path / "report.json"
    report.write_text(content)
    result = hakit_cli(
        "drill", "run", "--template-id", TEMPLATE, "-r", REGION, "--report", str(report),
        "--budget-path", "region-outage", "--yes",
    )  # fmt: skip
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1 and message in result.err
    assert cli_stubs.calls == []  # nothing started


def test_cli_access_denied_exit_3(cli_stubs: Stubs, hakit_cli: Any) -> None:
    cli_stubs.fis_stub.add_client_error("start_experiment", "AccessDeniedException", "denied", 403)
    with cli_stubs:
        result = hakit_cli("drill", "run", "--template-id", TEMPLATE, "-r", REGION, "--yes")
    assert result.code == EXIT_AWS
    assert result.err.strip() == f"fis {TEMPLATE} ({REGION}): start_experiment: AccessDeniedException: denied"


def test_cli_list(cli_stubs: Stubs, hakit_cli: Any) -> None:
    tagged = {"id": "EXT1", "description": "az", "tags": {"hakit:drill": "az-power"}}
    page1 = {"experimentTemplates": [tagged], "nextToken": "t2"}
    page2 = {"experimentTemplates": [{"id": "EXT2", "description": "other"}]}
    cli_stubs.fis_stub.add_response("list_experiment_templates", page1, {"maxResults": 100})
    cli_stubs.fis_stub.add_response(
        "list_experiment_templates", page2, {"maxResults": 100, "nextToken": "t2"}
    )
    with cli_stubs:
        result = hakit_cli("drill", "list", "-r", REGION, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == [
        {"id": "EXT1", "description": "az", "drill": "az-power"},
        {"id": "EXT2", "description": "other", "drill": ""},
    ]

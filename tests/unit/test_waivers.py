"""Waivers round-trip: stack config (`hakit:waivers`), inventory (`waivers:`) and the policy pack list a
waived finding as waived (never dropped), stop failing on it, and fail again once the waiver expires."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from analysis_programs import CASES
from google.protobuf import json_format, struct_pb2
from hakit.analysis.policy import WAIVED_POLICY, policy_config
from hakit.analysis.report import inventory_report, stack_report
from hakit.analysis.view import from_graph
from hakit.analysis.waivers import config_waivers
from hakit.errors import SpecError
from hakit.spec.inventory import load_inventory
from hakit.testing import synth
from pulumi.runtime.proto import analyzer_pb2
from test_policy_pack import servicer, stack_request

TODAY = datetime.date(2026, 12, 7)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory.yaml"


@pytest.fixture(scope="module")
def ha001() -> Any:
    bad, _ = CASES["HA001"]
    return synth(bad, config={"aws:region": "us-east-1"})


def _waiver(expires: str | None = None, resource: str = "primary") -> dict[str, Any]:
    entry = {"rule": "HA001", "resource": resource, "reason": "a test endpoint, no health check yet"}
    return entry | ({"expires": expires} if expires else {})


def test_stack_config_waiver_lists_the_finding_as_waived_until_it_expires(ha001: Any) -> None:
    view = from_graph(ha001)
    fresh = stack_report(
        "t", view, waivers=config_waivers({"hakit:waivers": [_waiver("2027-01-01")]}, "F"), today=TODAY
    )
    (finding,) = [f for f in fresh.findings if f.rule_id == "HA001"]
    assert finding.waived and finding.waiver is not None
    assert finding.waiver.text() == "waived until 2027-01-01: a test endpoint, no health check yet"
    assert fresh.counts()["waived"] == 1 and finding in fresh.waived
    assert fresh.failures(strict=False, fail_on=_high()) == []
    expired = stack_report(
        "t", view, waivers=config_waivers({"hakit:waivers": [_waiver("2026-12-07")]}, "F"), today=TODAY
    )
    (again,) = [f for f in expired.findings if f.rule_id == "HA001"]
    assert not again.waived and again in expired.active  # the expiry day itself fails again
    assert expired.failures(strict=False, fail_on=_high()) == ["1 finding(s) of severity high or worse"]
    assert expired.as_dict()["findings"][0]["waiver"] == {
        "reason": "a test endpoint, no health check yet",
        "expires": "2026-12-07",
        "expired": True,
    }


def test_a_waiver_matching_nothing_is_reported(ha001: Any) -> None:
    report = stack_report(
        "t", from_graph(ha001), waivers=config_waivers({"hakit:waivers": [_waiver(resource="gone")]}, "F")
    )
    assert report.notes == ("waiver HA001 on gone matches no finding",)


def test_bad_waiver_is_one_line_naming_the_file_and_field() -> None:
    with pytest.raises(SpecError) as err:
        config_waivers(
            {"hakit:waivers": [{"rule": "XX1", "resource": "a", "reason": "because"}]}, "Pulumi.dev.yaml"
        )
    assert str(err.value).startswith("Pulumi.dev.yaml: hakit:waivers: waivers.0.rule:")
    with pytest.raises(SpecError, match=r"waivers.0.reason"):
        config_waivers({"hakit:waivers": [{"rule": "HA001", "resource": "a"}]}, "F")


def test_inventory_waiver_covers_the_object_and_what_is_under_it(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "resource: load_balancers.api.proxy.frontends.api" in text
    report = inventory_report("example", load_inventory(EXAMPLE), today=TODAY)
    assert [(f.rule_id, f.waived) for f in report.findings] == [("SEC003", True)]
    broader = tmp_path / "inventory.yaml"
    broader.write_text(
        text.replace(
            "resource: load_balancers.api.proxy.frontends.api", "resource: load_balancers.api"
        ).replace("# expires: 2027-06-30", "expires: 2026-12-01"),
        encoding="utf-8",
    )
    expired = inventory_report("broader", load_inventory(broader), today=TODAY)
    (finding,) = expired.findings
    assert not finding.waived and finding.waiver is not None and finding.waiver.expired


def _configure(analyzer: Any, config: dict[str, Any]) -> None:
    request = analyzer_pb2.ConfigureAnalyzerRequest(
        policyConfig={
            name: analyzer_pb2.PolicyConfig(
                enforcementLevel=analyzer_pb2.MANDATORY,
                properties=json_format.ParseDict(value, struct_pb2.Struct()),
            )
            for name, value in config.items()
        }
    )
    analyzer.Configure(request, None)


def _policy(diagnostics: Any, prefix: str) -> list[Any]:
    return [d for d in diagnostics if d.policyName.startswith(prefix)]


def test_policy_pack_config_waiver_moves_the_violation_to_the_waived_listing(ha001: Any) -> None:
    waivers = config_waivers({"hakit:waivers": [_waiver("2999-01-01")]}, "F")
    analyzer = servicer()
    _configure(analyzer, policy_config(waivers))
    response = analyzer.AnalyzeStack(stack_request(ha001), None)
    assert _policy(response.diagnostics, "ha001-") == []
    (listed,) = _policy(response.diagnostics, WAIVED_POLICY)
    assert "\n[HA001 waived until 2999-01-01: a test endpoint" in listed.message
    assert listed.urn.endswith("::primary")
    lapsed = servicer()
    _configure(lapsed, policy_config(config_waivers({"hakit:waivers": [_waiver("2020-01-01")]}, "F")))
    response = lapsed.AnalyzeStack(stack_request(ha001), None)
    (violation,) = _policy(response.diagnostics, "ha001-")
    assert "(waiver expired 2020-01-01: a test endpoint" in violation.message
    assert _policy(response.diagnostics, WAIVED_POLICY) == []


def test_policy_pack_reads_the_stacks_own_waivers(ha001: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine hands the stack config to the pack: Pulumi.<stack>.yaml's `hakit:waivers` applies there."""
    monkeypatch.setenv("PULUMI_CONFIG_HAKIT_WAIVERS", json.dumps([_waiver()]))
    import pulumi.runtime.config as runtime_config

    token = runtime_config.CONFIG.set(
        {k: v for k, v in runtime_config.CONFIG.get().items() if k != "hakit:waivers"}
    )
    try:
        response = servicer().AnalyzeStack(stack_request(ha001), None)
    finally:
        runtime_config.CONFIG.reset(token)
    assert _policy(response.diagnostics, "ha001-") == []
    assert len(_policy(response.diagnostics, WAIVED_POLICY)) == 1


def _high() -> Any:
    from hakit.analysis.model import Severity

    return Severity.HIGH

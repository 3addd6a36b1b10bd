"""Every cloud rule fails its failing graph and passes its passing graph (raw pulumi-aws programs)."""

from __future__ import annotations

from functools import cache

import pytest
from analysis_programs import CASES, Program
from hakit.analysis import RULES, Finding, analyze, from_graph
from hakit.testing import synth


@cache
def findings_of(program: Program) -> tuple[Finding, ...]:
    """All findings of a program's graph (cached: the bad/good programs are shared across tests)."""
    return tuple(analyze(from_graph(synth(program, config={"aws:region": "us-east-1"}))))


def test_at_least_fifteen_rules_each_with_cases() -> None:
    cloud = [r.id for r in RULES.values() if r.check is not None]
    assert len(cloud) >= 15
    assert sorted(CASES) == sorted(cloud)
    assert {r.category for r in RULES.values()} == {"ha", "security"}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_failing_graph_violates_rule(rule_id: str) -> None:
    bad, _ = CASES[rule_id]
    hits = [f for f in findings_of(bad) if f.rule_id == rule_id]
    assert hits, f"{rule_id} found nothing in its failing graph"
    rule = RULES[rule_id]
    for finding in hits:
        assert finding.severity is rule.severity
        assert finding.resource.startswith("urn:pulumi:test::project::")
        assert finding.message and finding.label


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_passing_graph_satisfies_rule(rule_id: str) -> None:
    _, good = CASES[rule_id]
    assert [f.message for f in findings_of(good) if f.rule_id == rule_id] == []


def test_findings_name_the_offending_resource() -> None:
    bad, _ = CASES["HA001"]
    (finding,) = [f for f in findings_of(bad) if f.rule_id == "HA001"]
    assert finding.resource.endswith("aws:route53/record:Record::primary")
    assert finding.label == "Record primary"
    assert finding.region == "us-east-1"
    assert finding.as_dict()["severity"] == "high"


def test_findings_sorted_most_severe_first() -> None:
    ranks = [f.severity.rank for f in findings_of(CASES["HA010"][0])]  # HA004 (high) and HA010 (medium)
    assert len(set(ranks)) == 2
    assert ranks == sorted(ranks)

"""Every cloud rule fails its failing graph and passes its passing graph (raw pulumi-aws programs)."""

from __future__ import annotations

from collections.abc import Callable
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
    assert finding.region == "global"  # placed as `hakit plan` places Route 53 records
    assert finding.as_dict()["severity"] == "high"


def test_findings_sorted_most_severe_first() -> None:
    ranks = [f.severity.rank for f in findings_of(CASES["HA010"][0])]  # HA004 (high) and HA010 (medium)
    assert len(set(ranks)) == 2
    assert ranks == sorted(ranks)


def _latency_pair(with_checks: bool) -> None:
    import pulumi_aws.route53 as route53
    from analysis_programs import alb, health_check

    for region in ("us-east-1", "us-west-2"):
        balancer = alb(f"lb-{region}", region)
        check = health_check(f"hc-{region}", balancer) if with_checks else None
        route53.Record(
            f"app-{region}",
            zone_id="Z123",
            name="app.example.com",
            type="A",
            set_identifier=region,
            latency_routing_policies=[{"region": region}],
            health_check_id=check.id if check is not None else None,
            aliases=[
                {"name": balancer.dns_name, "zone_id": balancer.zone_id, "evaluate_target_health": False}
            ],
        )


def test_latency_answers_need_health_checks_too() -> None:
    hits = [f for f in findings_of(lambda: _latency_pair(False)) if f.rule_id == "HA001"]
    assert sorted(f.label for f in hits) == ["Record app-us-east-1", "Record app-us-west-2"]
    assert hits[0].message.startswith("latency record app.example.com (us-")
    assert not [f for f in findings_of(lambda: _latency_pair(True)) if f.rule_id in ("HA001", "HA002")]


def test_alias_evaluating_target_health_counts_as_a_check() -> None:
    from analysis_programs import alb, failover_record

    def program() -> None:
        east, west = alb("east", "us-east-1"), alb("west", "us-west-2")
        failover_record("primary", "PRIMARY", east, None, ev=True)
        failover_record("secondary", "SECONDARY", west, None)

    assert not [f for f in findings_of(program) if f.rule_id in ("HA001", "HA002")]


def test_backup_copy_to_a_vault_arn_outside_the_stack() -> None:
    import pulumi_aws.backup as backup

    def program(region: str) -> Callable[[], None]:
        def build() -> None:
            vault = backup.Vault("vault", region="us-east-1")
            arn = f"arn:aws:backup:{region}:123456789012:backup-vault:dr"
            rule = {"rule_name": "r", "target_vault_name": vault.name, "schedule": "cron(0 3 * * ? *)"}
            backup.Plan(
                "plan", rules=[{**rule, "copy_actions": [{"destination_vault_arn": arn}]}], region="us-east-1"
            )

        return build

    assert not [f for f in findings_of(program("eu-west-1")) if f.rule_id == "HA005"]
    assert [f for f in findings_of(program("us-east-1")) if f.rule_id == "HA005"]


def test_ebs_encryption_by_default_covers_volumes_and_instances() -> None:
    import pulumi_aws.ebs as ebs
    from analysis_programs import keepalived_pair, volume

    def program() -> None:
        ebs.EncryptionByDefault("default", enabled=True)
        volume(False)
        keepalived_pair()

    assert not [f for f in findings_of(program) if f.rule_id == "SEC001"]
    unencrypted = [f for f in findings_of(lambda: volume(False)) if f.rule_id == "SEC001"]
    assert [f.label for f in unencrypted] == ["Volume data"]

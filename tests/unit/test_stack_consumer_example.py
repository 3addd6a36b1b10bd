"""examples/consumer-stack: another team's program using hakit components, run under the harness."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from hakit.testing import ResourceGraph, load_stack_config, synth

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer-stack"


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    config = load_stack_config(str(EXAMPLE / "Pulumi.example.yaml"))
    return synth(
        lambda: runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__"),
        config=config,
        stack="example",
        project="orders",
    )


def test_the_consumer_composes_hakit_components(graph: ResourceGraph) -> None:
    kinds = sorted(node.type for node in graph.components)
    assert kinds == [
        "hakit:backup:AwsBackup",
        "hakit:database:GlobalDatabase",
        "hakit:dns:FailoverDns",
        "hakit:loadbalancer:LoadBalancer",
        "hakit:loadbalancer:LoadBalancer",
    ]
    assert graph.regions() == ["eu-central-1", "eu-west-1"]


def test_failover_between_the_two_regions(graph: ResourceGraph) -> None:
    balancers = {n.region: n.output("dns_name") for n in graph.by_type("aws:lb/loadBalancer:LoadBalancer")}
    records = {
        r.input("failover_routing_policies.0.type"): r.input("aliases.0.name")
        for r in graph.by_type("aws:route53/record:Record")
    }
    assert records == {"PRIMARY": balancers["eu-west-1"], "SECONDARY": balancers["eu-central-1"]}


def test_table_replicated_and_backed_up_in_both_regions(graph: ResourceGraph) -> None:
    (table,) = graph.by_type("aws:dynamodb/table:Table")
    assert table.region == "eu-west-1"
    assert [r["regionName"] for r in table.input("replicas")] == ["eu-central-1"]
    assert sorted(v.region or "" for v in graph.by_type("aws:backup/vault:Vault")) == [
        "eu-central-1",
        "eu-west-1",
    ]
    assert graph.stack_outputs["url"] == "https://orders.example.org/"
    assert set(graph.stack_outputs["backupVaults"]) == {"eu-central-1", "eu-west-1"}


def test_outputs_feed_the_failover_runbooks(graph: ResourceGraph) -> None:
    from hakit.ops.failover_targets import FailoverTargets

    targets = FailoverTargets.model_validate(graph.stack_outputs)
    assert targets.regions == ("eu-west-1", "eu-central-1")
    assert set(targets.health_check_ids) == {"eu-west-1", "eu-central-1"}
    assert targets.dynamodb_table_name == graph.one("aws:dynamodb/table:Table").id

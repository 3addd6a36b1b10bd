"""FailoverDns under the mock harness: records, health checks, ARC wiring, policies, rejections, options."""

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from hakit.components.cdn import FailoverCdn
from hakit.components.dns import FailoverDns, FailoverDnsArgs
from hakit.components.loadbalancer import LoadBalancer
from hakit.testing import ResourceGraph, synth
from hypothesis import given, settings
from hypothesis import strategies as st

RECORD = "aws:route53/record:Record"
CHECK = "aws:route53/healthCheck:HealthCheck"
CERT_USE1 = "arn:aws:acm:us-east-1:123456789012:certificate/app"


def _failover_program() -> None:
    """An ALB in us-east-1 is PRIMARY, a CloudFront distribution SECONDARY, both gated by ARC cells."""
    alb = LoadBalancer(
        "use1",
        {
            "vpc_id": "vpc-1",
            "subnet_ids": ["subnet-a", "subnet-b"],
            "certificate_arn": CERT_USE1,
            "target_security_group_ids": ["sg-app"],
            "region": "us-east-1",
        },
    )
    cdn = FailoverCdn(
        "site",
        {
            "primary": {"domain_name": "origin-euw1.example.com"},
            "secondary": {"s3_bucket": "degraded", "s3_bucket_region": "eu-west-1"},
            "use_default_certificate": True,
        },
    )
    dns = FailoverDns(
        "app",
        {
            "zone_id": "Z0HOSTED",
            "name": "app.example.com",
            "health_checks": {
                "us-east-1": {
                    "type": "HTTPS",
                    "fqdn": alb.dns_name,
                    "path": "/healthz",
                    "search_string": "ok",
                    "regions": ["us-east-1", "us-west-2", "eu-west-1"],
                    "measure_latency": True,
                },
                "eu-west-1": {"type": "HTTPS", "fqdn": cdn.domain_name, "request_interval": 30},
                "alarm": {"type": "CLOUDWATCH_METRIC", "alarm_name": "app-5xx", "inverted": True},
                "any": {
                    "type": "CALCULATED",
                    "children": ["us-east-1", "eu-west-1"],
                    "child_health_threshold": 1,
                },
            },
            "records": [
                {
                    "role": "PRIMARY",
                    "alias": {"name": alb.dns_name, "zone_id": alb.zone_id},
                    "health_check": "us-east-1",
                    "cell": "us-east-1",
                },
                {
                    "role": "SECONDARY",
                    "alias": {"name": cdn.domain_name, "zone_id": cdn.hosted_zone_id},
                    "cell": "eu-west-1",
                },
            ],
            "recovery_control": {"cells": ["us-east-1", "eu-west-1"], "wait_period_ms": 3000},
            "tags": {"team": "sre"},
        },
    )
    pulumi.export("health_check_ids", dns.health_check_ids)
    pulumi.export("routing_control_arns", dns.routing_control_arns)
    pulumi.export("fqdn", dns.fqdn)
    pulumi.export("set_identifiers", dns.set_identifiers)


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return synth(_failover_program, config={"aws:region": "us-east-1"})


def _dns_children(graph: ResourceGraph) -> list[Any]:
    return graph.descendants(graph.one("hakit:dns:FailoverDns"))


def test_resource_types_and_counts(graph: ResourceGraph) -> None:
    counts: dict[str, int] = {}
    for node in _dns_children(graph):
        counts[node.type] = counts.get(node.type, 0) + 1
    assert counts == {
        CHECK: 4 + 2 + 1,  # four named, one per cell, one gate (cell AND endpoint) for the primary
        RECORD: 2,
        "aws:route53recoverycontrol/cluster:Cluster": 1,
        "aws:route53recoverycontrol/controlPanel:ControlPanel": 1,
        "aws:route53recoverycontrol/routingControl:RoutingControl": 2,
        "aws:route53recoverycontrol/safetyRule:SafetyRule": 1,
    }
    dns = graph.one("hakit:dns:FailoverDns")
    assert all(graph.parent_of(n) is dns for n in _dns_children(graph))


def test_alias_targets_point_at_component_outputs(graph: ResourceGraph) -> None:
    lb = graph.one("aws:lb/loadBalancer:LoadBalancer")
    dist = graph.one("aws:cloudfront/distribution:Distribution")
    primary = graph.one(RECORD, "app-primary")
    secondary = graph.one(RECORD, "app-secondary")
    assert primary.input("failover_routing_policies") == [{"type": "PRIMARY"}]
    assert primary.input("set_identifier") == "primary"
    assert primary.input("aliases.0.name") == lb.output("dns_name")
    assert primary.input("aliases.0.zone_id") == "Z35SXDOTRQ7X7K"  # ALB zone of us-east-1
    assert primary.input("aliases.0.evaluate_target_health") is True
    assert secondary.input("aliases.0.name") == dist.output("domain_name")
    assert secondary.input("aliases.0.zone_id") == "Z2FDTNDATAQYW2"
    # Route 53 does not evaluate CloudFront targets' health: forced off.
    assert secondary.input("aliases.0.evaluate_target_health") is False
    assert primary.depends_on(lb) and secondary.depends_on(dist)
    assert "ttl" not in primary.inputs


def test_health_checks_sit_on_the_right_records(graph: ResourceGraph) -> None:
    endpoint = graph.one(CHECK, "app-hc-us-east-1")
    cell_primary = graph.one(CHECK, "app-hc-rc-us-east-1")
    cell_secondary = graph.one(CHECK, "app-hc-rc-eu-west-1")
    gate = graph.one(CHECK, "app-hc-gate-primary")
    assert gate.input("type") == "CALCULATED"
    assert gate.input("child_healthchecks") == [cell_primary.id, endpoint.id]
    assert gate.input("child_health_threshold") == 2
    assert graph.one(RECORD, "app-primary").input("health_check_id") == gate.id
    assert graph.one(RECORD, "app-secondary").input("health_check_id") == cell_secondary.id


def test_endpoint_check_settings(graph: ResourceGraph) -> None:
    check = graph.one(CHECK, "app-hc-us-east-1")
    assert check.input("type") == "HTTPS_STR_MATCH"
    assert check.input("search_string") == "ok"
    assert check.input("resource_path") == "/healthz"
    assert check.input("port") == 443
    assert check.input("request_interval") == 10
    assert check.input("failure_threshold") == 3
    assert check.input("regions") == ["us-east-1", "us-west-2", "eu-west-1"]
    assert check.input("measure_latency") is True
    assert check.input("enable_sni") is True
    assert check.input("fqdn") == graph.one("aws:lb/loadBalancer:LoadBalancer").output("dns_name")
    assert check.input("tags.Name") == "app-us-east-1"
    assert check.input("tags.team") == "sre"
    assert graph.one(CHECK, "app-hc-eu-west-1").input("request_interval") == 30


def test_calculated_and_alarm_checks(graph: ResourceGraph) -> None:
    calc = graph.one(CHECK, "app-hc-any")
    assert calc.input("child_healthchecks") == [
        graph.one(CHECK, "app-hc-us-east-1").id,
        graph.one(CHECK, "app-hc-eu-west-1").id,
    ]
    assert calc.input("child_health_threshold") == 1
    alarm = graph.one(CHECK, "app-hc-alarm")
    assert alarm.input("type") == "CLOUDWATCH_METRIC"
    assert alarm.input("cloudwatch_alarm_name") == "app-5xx"
    assert alarm.input("cloudwatch_alarm_region") == "us-east-1"  # from aws:region
    assert alarm.input("insufficient_data_health_status") == "LastKnownStatus"
    assert alarm.input("invert_healthcheck") is True


def test_recovery_control_wiring(graph: ResourceGraph) -> None:
    cluster = graph.one("aws:route53recoverycontrol/cluster:Cluster")
    panel = graph.one("aws:route53recoverycontrol/controlPanel:ControlPanel")
    controls = graph.by_type("aws:route53recoverycontrol/routingControl:RoutingControl")
    rule = graph.one("aws:route53recoverycontrol/safetyRule:SafetyRule")
    assert panel.input("cluster_arn") == cluster.output("arn")
    assert {c.input("control_panel_arn") for c in controls} == {panel.output("arn")}
    assert sorted(rule.input("asserted_controls")) == sorted(c.output("arn") for c in controls)
    assert rule.input("rule_config") == {"type": "ATLEAST", "threshold": 1, "inverted": False}
    assert rule.input("wait_period_ms") == 3000
    for control in controls:
        cell = control.name.removeprefix("app-rc-")
        check = graph.one(CHECK, f"app-hc-rc-{cell}")
        assert check.input("type") == "RECOVERY_CONTROL"
        assert check.input("routing_control_arn") == control.output("arn")


def test_outputs_for_stacks_and_runbooks(graph: ResourceGraph) -> None:
    outputs = graph.stack_outputs
    assert outputs["fqdn"] == "app.example.com"
    assert outputs["set_identifiers"] == ["primary", "secondary"]
    assert set(outputs["health_check_ids"]) == {"us-east-1", "eu-west-1", "alarm", "any"}
    assert outputs["health_check_ids"]["us-east-1"] == graph.one(CHECK, "app-hc-us-east-1").id
    control = "aws:route53recoverycontrol/routingControl:RoutingControl"
    assert outputs["routing_control_arns"] == {
        "us-east-1": graph.one(control, "app-rc-us-east-1").output("arn"),
        "eu-west-1": graph.one(control, "app-rc-eu-west-1").output("arn"),
    }


def _plain_args(**extra: Any) -> FailoverDnsArgs:
    args: dict[str, Any] = {
        "zone_id": "Z0HOSTED",
        "name": "api.example.com",
        "health_checks": {"a": {"type": "HTTP", "ip_address": "192.0.2.10", "path": "/up"}},
        "records": [
            {"role": "PRIMARY", "values": ["192.0.2.10"], "health_check": "a", "ttl": 30},
            {"role": "SECONDARY", "values": ["192.0.2.20"]},
        ],
    }
    args.update(extra)
    return args  # type: ignore[return-value]


def test_plain_failover_records_with_ttl() -> None:
    graph = synth(lambda: FailoverDns("api", _plain_args()))
    primary = graph.one(RECORD, "api-primary")
    assert primary.input("records") == ["192.0.2.10"]
    assert primary.input("ttl") == 30
    assert primary.input("health_check_id") == graph.one(CHECK, "api-hc-a").id
    assert graph.one(RECORD, "api-secondary").input("ttl") == 60
    assert "health_check_id" not in graph.one(RECORD, "api-secondary").inputs
    tcp = graph.one(CHECK, "api-hc-a")
    assert (tcp.input("type"), tcp.input("port"), tcp.input("resource_path")) == ("HTTP", 80, "/up")


def test_weighted_and_latency_policies() -> None:
    def program() -> None:
        FailoverDns(
            "w",
            {
                "zone_id": "Z0",
                "name": "w.example.com",
                "routing_policy": "weighted",
                "records": [
                    {
                        "weight": 200,
                        "region": "us-east-1",
                        "alias": {"name": "a.elb", "zone_id": "Z35SXDOTRQ7X7K"},
                    },
                    {"weight": 55, "alias": {"name": "b.elb", "zone_id": "Z32O12XQLNTSW2"}},
                ],
            },
        )
        FailoverDns(
            "l",
            {
                "zone_id": "Z0",
                "name": "l.example.com",
                "routing_policy": "latency",
                "records": [
                    {"region": "us-east-1", "alias": {"name": "a.elb", "zone_id": "Z35SXDOTRQ7X7K"}},
                    {"region": "eu-west-1", "alias": {"name": "b.elb", "zone_id": "Z32O12XQLNTSW2"}},
                ],
            },
        )

    graph = synth(program)
    weighted = sorted((n for n in graph.by_type(RECORD) if n.name.startswith("w-")), key=lambda n: n.name)
    assert [(n.input("set_identifier"), n.input("weighted_routing_policies")) for n in weighted] == [
        ("us-east-1", [{"weight": 200}]),
        ("weighted-1", [{"weight": 55}]),
    ]
    latency = sorted((n for n in graph.by_type(RECORD) if n.name.startswith("l-")), key=lambda n: n.name)
    assert [n.input("latency_routing_policies.0.region") for n in latency] == ["eu-west-1", "us-east-1"]
    assert [n.input("set_identifier") for n in latency] == ["eu-west-1", "us-east-1"]


def test_existing_arc_cluster_is_reused() -> None:
    arn = "arn:aws:route53-recovery-control::123456789012:cluster/shared"
    args = _plain_args(recovery_control={"cells": ["use1", "euw1"], "cluster_arn": arn, "min_cells_on": 2})
    args["records"][0]["cell"] = "use1"
    args["records"][1]["cell"] = "euw1"
    graph = synth(lambda: FailoverDns("api", args))
    assert not graph.by_type("aws:route53recoverycontrol/cluster:Cluster")
    assert graph.one("aws:route53recoverycontrol/controlPanel:ControlPanel").input("cluster_arn") == arn
    assert graph.one("aws:route53recoverycontrol/safetyRule:SafetyRule").input("rule_config.threshold") == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: a["records"][0].pop("health_check"),
            r"records\[0\]: a non-alias PRIMARY record needs a health_check",
        ),
        (
            lambda a: [r.update(set_identifier="same") for r in a["records"]],
            "duplicate set identifier 'same'",
        ),
        (lambda a: a["records"][0].update(ttl=0), r"records\[0\]\.ttl: 0 is out of range 1\.\.86400"),
        (lambda a: a["records"][1].update(ttl=172800), r"records\[1\]\.ttl: 172800 is out of range"),
        (lambda a: a["records"][1].update(role="PRIMARY"), "exactly one PRIMARY and one SECONDARY"),
        (lambda a: a["records"].pop(), "exactly one PRIMARY and one SECONDARY"),
        (lambda a: a["records"][0].update(health_check="b"), r"health_check: 'b' is not in health_checks"),
        (lambda a: a["health_checks"]["a"].update(request_interval=20), "request_interval: 20 is not one of"),
        (
            lambda a: a["health_checks"]["a"].update(failure_threshold=11),
            "failure_threshold: 11 is out of range",
        ),
        (lambda a: a["health_checks"]["a"].update(regions=["us-east-1"]), "at least 3 checker regions"),
        (lambda a: a["health_checks"]["a"].update(type="TCP"), r"\.path: only HTTP/HTTPS checks take it"),
        (lambda a: a["health_checks"]["a"].pop("ip_address"), "needs `fqdn` or `ip_address`"),
        (
            lambda a: a["health_checks"].update(c={"type": "CALCULATED", "children": ["c"]}),
            "cannot be its own child",
        ),
        (
            lambda a: a["health_checks"].update(
                c={"type": "CALCULATED", "children": ["d"]}, d={"type": "CALCULATED", "children": ["c"]}
            ),
            "calculated checks form a cycle: c -> d -> c",
        ),
        (lambda a: a["health_checks"].update(m={"type": "CLOUDWATCH_METRIC"}), "alarm_name: is required"),
        (
            lambda a: a["records"][0].update(alias={"name": "x", "zone_id": "Z1"}),
            "exactly one of `alias` or `values`",
        ),
        (lambda a: a.update(routing_policy="geo"), "routing_policy: 'geo' is not one of"),
        (
            lambda a: a["records"][1].update(values=["db.example.com"]),
            r"values\[0\]: 'db.example.com' is not an IP",
        ),
        (lambda a: a.update(type="AAAA"), r"values\[0\]: '192.0.2.10' is not an IPv6 address"),
        (lambda a: a.update(recovery_control={"cells": ["x"]}), r"records\[0\]\.cell: with recovery_control"),
    ],
)
def test_rejections(change: Any, message: str) -> None:
    args = json.loads(json.dumps(_plain_args()))
    change(args)
    with pytest.raises(ValueError, match=message):
        synth(lambda: FailoverDns("api", args))


def test_primary_alias_to_cloudfront_needs_a_health_check() -> None:
    args = _plain_args()
    args["records"][0] = {
        "role": "PRIMARY",
        "alias": {"name": "d1.cloudfront.net", "zone_id": "Z2FDTNDATAQYW2"},
    }
    with pytest.raises(ValueError, match="PRIMARY alias to CloudFront needs a health_check"):
        synth(lambda: FailoverDns("api", args))


def test_rejection_registers_nothing() -> None:
    registered: list[str] = []

    def program() -> None:
        args = _plain_args()
        args["records"][0].pop("health_check")
        try:
            FailoverDns("api", args)
        except ValueError:
            registered.append("rejected")

    graph = synth(program)
    assert registered == ["rejected"]
    assert len(graph) == 0


def test_explicit_provider_and_protect_reach_the_children() -> None:
    def program() -> None:
        provider = aws.Provider("global", region="us-west-2")
        args = _plain_args(recovery_control={"cells": ["a", "b"]})
        args["records"][0]["cell"] = "a"
        args["records"][1]["cell"] = "b"
        FailoverDns("api", args, opts=pulumi.ResourceOptions(provider=provider, protect=True))

    graph = synth(program)
    provider = graph.one("pulumi:providers:aws")
    children = graph.descendants(graph.one("hakit:dns:FailoverDns"))
    assert len(children) == 11  # check, 2 cells x (control + check), cluster, panel, rule, gate, 2 records
    for child in children:
        assert graph.provider_of(child) is provider, child.short()
        assert child.options.protect, child.short()
        assert child.region == "us-west-2"
        assert "region" not in child.inputs  # Route 53 and ARC are global: no per-resource region


def test_schema_is_inferred() -> None:
    from pulumi.provider.experimental.component import ComponentProvider

    schema = json.loads(ComponentProvider([FailoverDns], "hakit").schema)
    resource = schema["resources"]["hakit:index:FailoverDns"]
    assert sorted(resource["requiredInputs"]) == ["name", "records", "zoneId"]
    assert "healthCheckIds" in resource["properties"]
    record = schema["types"]["hakit:index:FailoverDnsRecordArgs"]["properties"]
    assert record["ttl"]["description"].startswith("Plain records only")


@given(ttl=st.integers(min_value=-10, max_value=200_000))
@settings(max_examples=60, deadline=None)
def test_ttl_bounds_property(ttl: int) -> None:
    from hakit.components.dns import _validate

    args = _plain_args()
    args["records"][1]["ttl"] = ttl
    if 1 <= ttl <= 86_400:
        assert [set_id for _, set_id in _validate(args)] == ["primary", "secondary"]
    else:
        with pytest.raises(ValueError, match=r"records\[1\]\.ttl: .* is out of range 1\.\.86400"):
            _validate(args)

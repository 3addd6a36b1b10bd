"""LoadBalancer under the mock harness: ALB/NLB shape, explicit health checks, TLS, security group, WAF."""

import json
import sys
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from hakit.components.loadbalancer import LoadBalancer, LoadBalancerArgs
from hakit.testing import ResourceGraph, synth
from hypothesis import given, settings
from hypothesis import strategies as st

LB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
CERT_USE1 = "arn:aws:acm:us-east-1:123456789012:certificate/app"
CERT_EUW1 = "arn:aws:acm:eu-west-1:123456789012:certificate/app"


def _alb_args(**extra: Any) -> LoadBalancerArgs:
    args: dict[str, Any] = {
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b", "subnet-c"],
        "certificate_arn": CERT_USE1,
        "target_security_group_ids": ["sg-app"],
    }
    args.update(extra)
    return args  # type: ignore[return-value]


def _program() -> None:
    alb = LoadBalancer(
        "web", _alb_args(waf={"rate_limit": 500, "evaluation_window_sec": 60}, tags={"team": "sre"})
    )
    pulumi.export("target_group_arns", alb.target_group_arns)
    pulumi.export("dns_name", alb.dns_name)
    pulumi.export("zone_id", alb.zone_id)
    pulumi.export("web_acl_arn", alb.web_acl_arn)


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return synth(_program, config={"aws:region": "us-east-1"})


def test_resource_types_and_counts(graph: ResourceGraph) -> None:
    assert graph.count_by_type() == {
        SG: 1,
        EGRESS: 1,  # targets' security group, target port 80
        INGRESS: 2,  # 80 and 443 from 0.0.0.0/0
        LB: 1,
        LISTENER: 2,
        TG: 1,
        "aws:wafv2/webAcl:WebAcl": 1,
        "aws:wafv2/webAclAssociation:WebAclAssociation": 1,
    }
    component = graph.one("hakit:loadbalancer:LoadBalancer")
    assert all(graph.parent_of(n) is component for n in graph.resources)


def test_load_balancer_secure_defaults(graph: ResourceGraph) -> None:
    lb = graph.one(LB)
    assert lb.input("load_balancer_type") == "application"
    assert lb.input("internal") is False
    assert lb.input("subnets") == ["subnet-a", "subnet-b", "subnet-c"]
    assert lb.input("security_groups") == [graph.one(SG).id]
    assert lb.input("drop_invalid_header_fields") is True
    assert lb.input("desync_mitigation_mode") == "defensive"
    assert lb.input("enable_deletion_protection") is True
    assert lb.input("enable_zonal_shift") is True
    assert lb.input("idle_timeout") == 60
    assert "access_logs" not in lb.inputs
    assert lb.input("tags.team") == "sre"
    assert lb.input("tags") == {
        "hakit:component": "hakit:loadbalancer:LoadBalancer",
        "hakit:name": "web",
        "team": "sre",
    }


def test_target_group_health_check_is_fully_explicit(graph: ResourceGraph) -> None:
    tg = graph.one(TG)
    assert tg.input("health_check") == {
        "enabled": True,
        "protocol": "HTTP",
        "port": "traffic-port",
        "path": "/healthz",
        "matcher": "200-399",
        "interval": 10,
        "timeout": 5,
        "healthyThreshold": 3,
        "unhealthyThreshold": 2,  # the ELB API's default; pulumi-aws would send 3
    }
    assert tg.input("deregistration_delay") == 30
    assert tg.input("slow_start") == 0
    assert tg.input("load_balancing_algorithm_type") == "weighted_random"
    assert tg.input("load_balancing_anomaly_mitigation") == "on"
    assert tg.input("load_balancing_cross_zone_enabled") == "true"
    assert tg.input("target_group_health") == {
        "dnsFailover": {"minimumHealthyTargetsCount": "1"},
        "unhealthyStateRouting": {"minimumHealthyTargetsCount": 1},
    }
    assert (tg.input("vpc_id"), tg.input("port"), tg.input("protocol"), tg.input("target_type")) == (
        "vpc-1",
        80,
        "HTTP",
        "ip",
    )


def test_listeners_redirect_and_serve_https(graph: ResourceGraph) -> None:
    lb = graph.one(LB)
    http = graph.one(LISTENER, "web-http")
    https = graph.one(LISTENER, "web-https")
    assert http.input("load_balancer_arn") == lb.output("arn")
    assert (http.input("port"), http.input("protocol")) == (80, "HTTP")
    assert http.input("default_actions") == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ]
    assert (https.input("port"), https.input("protocol")) == (443, "HTTPS")
    assert https.input("ssl_policy") == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https.input("certificate_arn") == CERT_USE1
    assert https.input("default_actions") == [
        {"type": "forward", "targetGroupArn": graph.one(TG).output("arn")}
    ]


def test_security_group_is_least_privilege(graph: ResourceGraph) -> None:
    sg = graph.one(SG)
    assert "ingress" not in sg.inputs and "egress" not in sg.inputs  # no inline (all-open default) rules
    assert sg.input("revoke_rules_on_delete") is True
    ingress = sorted(
        (r.input("from_port"), r.input("to_port"), r.input("cidr_ipv4")) for r in graph.by_type(INGRESS)
    )
    assert ingress == [(80, 80, "0.0.0.0/0"), (443, 443, "0.0.0.0/0")]
    (egress,) = graph.by_type(EGRESS)
    assert egress.input("referenced_security_group_id") == "sg-app"
    assert (egress.input("from_port"), egress.input("to_port"), egress.input("ip_protocol")) == (
        80,
        80,
        "tcp",
    )
    assert "cidr_ipv4" not in egress.inputs
    for rule in [*graph.by_type(INGRESS), egress]:
        assert rule.input("security_group_id") == sg.id


def test_waf_rate_limit_is_attached(graph: ResourceGraph) -> None:
    acl = graph.one("aws:wafv2/webAcl:WebAcl")
    assert acl.input("scope") == "REGIONAL"
    assert acl.input("default_action") == {"allow": {}}
    rules = {r["name"]: r for r in acl.input("rules")}
    assert rules["rate-limit-per-ip"]["action"] == {"block": {}}
    assert rules["rate-limit-per-ip"]["statement"]["rateBasedStatement"] == {
        "aggregateKeyType": "IP",
        "limit": 500,
        "evaluationWindowSec": 60,
    }
    assert rules["AWSManagedRulesCommonRuleSet"]["overrideAction"] == {"none": {}}
    association = graph.one("aws:wafv2/webAclAssociation:WebAclAssociation")
    assert association.input("resource_arn") == graph.one(LB).output("arn")
    assert association.input("web_acl_arn") == acl.output("arn")
    assert graph.stack_outputs["web_acl_arn"] == acl.output("arn")


def test_outputs(graph: ResourceGraph) -> None:
    lb = graph.one(LB)
    assert graph.stack_outputs["dns_name"] == lb.output("dns_name")
    assert graph.stack_outputs["zone_id"] == "Z35SXDOTRQ7X7K"
    assert graph.stack_outputs["target_group_arns"] == {"app": graph.one(TG).output("arn")}


def test_region_pins_every_child_and_the_zone_follows() -> None:
    def program() -> None:
        LoadBalancer("use1", _alb_args(region="us-east-1"))
        LoadBalancer("euw1", _alb_args(region="eu-west-1", certificate_arn=CERT_EUW1))

    graph = synth(program, config={"aws:region": "us-west-2"})
    for prefix, region, zone in (
        ("use1", "us-east-1", "Z35SXDOTRQ7X7K"),
        ("euw1", "eu-west-1", "Z32O12XQLNTSW2"),
    ):
        component = graph.one("hakit:loadbalancer:LoadBalancer", prefix)
        children = graph.children_of(component)
        assert len(children) == 8
        assert {(c.input("region"), c.region) for c in children} == {(region, region)}
        assert graph.one(LB, f"{prefix}-lb").output("zone_id") == zone


def test_network_load_balancer() -> None:
    args = _alb_args(
        type="network",
        target_groups=[
            {"name": "tcp", "port": 5432, "health_check": {"interval": 30, "timeout": 10}},
            {
                "name": "http",
                "port": 8080,
                "health_check": {"protocol": "HTTP", "path": "/ready", "port": "8081"},
            },
        ],
        target_cidr_blocks=["10.0.0.0/16"],
        target_security_group_ids=[],
        listener_port=5432,
        access_logs={"bucket": "lb-logs"},
        cross_zone=False,
    )
    graph = synth(lambda: LoadBalancer("db", args))
    lb = graph.one(LB)
    assert lb.input("load_balancer_type") == "network"
    assert lb.input("enable_cross_zone_load_balancing") is False
    assert "drop_invalid_header_fields" not in lb.inputs
    assert lb.input("access_logs") == {"bucket": "lb-logs", "prefix": "db", "enabled": True}
    tcp, http = graph.one(TG, "db-tg-tcp"), graph.one(TG, "db-tg-http")
    assert tcp.input("health_check") == {
        "enabled": True,
        "protocol": "TCP",
        "port": "traffic-port",
        "interval": 30,
        "timeout": 10,
        "healthyThreshold": 3,
        "unhealthyThreshold": 2,
    }
    assert http.input("health_check.path") == "/ready"
    assert "load_balancing_anomaly_mitigation" not in tcp.inputs
    assert tcp.input("connection_termination") is True
    assert tcp.input("load_balancing_cross_zone_enabled") == "false"
    assert "target_health_states" not in tcp.inputs  # cross-zone off: zonal shift has no extra needs
    (listener,) = graph.by_type(LISTENER)
    assert (listener.input("port"), listener.input("protocol")) == (5432, "TLS")
    assert listener.input("ssl_policy").startswith("ELBSecurityPolicy-TLS13-")
    assert listener.input("default_actions.0.target_group_arn") == tcp.output("arn")
    egress = sorted((r.input("from_port"), r.input("cidr_ipv4")) for r in graph.by_type(EGRESS))
    assert egress == [(5432, "10.0.0.0/16"), (8080, "10.0.0.0/16"), (8081, "10.0.0.0/16")]
    assert sorted(r.input("from_port") for r in graph.by_type(INGRESS)) == [5432]


def test_cross_zone_nlb_keeps_connections_for_zonal_shift() -> None:
    args = _alb_args(type="network", certificate_arn=None, target_groups=[{"name": "tcp", "port": 6379}])
    graph = synth(lambda: LoadBalancer("cache", args))
    tg = graph.one(TG)
    assert tg.input("target_health_states") == [{"enableUnhealthyConnectionTermination": False}]
    assert tg.input("load_balancing_cross_zone_enabled") == "true"
    assert graph.one(LB).input("enable_zonal_shift") is True
    (listener,) = graph.by_type(LISTENER)
    assert (listener.input("port"), listener.input("protocol")) == (443, "TCP")
    assert "ssl_policy" not in listener.inputs


def test_internal_alb_with_prefix_list_and_slow_start() -> None:
    args = _alb_args(
        internal=True,
        ingress_prefix_list_ids=["pl-cloudfront"],
        target_groups=[{"name": "app", "slow_start": 60, "anomaly_mitigation": False}],
    )
    graph = synth(lambda: LoadBalancer("int", args))
    ingress = graph.by_type(INGRESS)
    assert {r.input("prefix_list_id") for r in ingress} == {"pl-cloudfront"}
    assert all("cidr_ipv4" not in r.inputs for r in ingress)
    tg = graph.one(TG)
    assert (tg.input("slow_start"), tg.input("load_balancing_algorithm_type")) == (60, "round_robin")
    assert tg.input("load_balancing_anomaly_mitigation") == "off"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(subnet_ids=["subnet-a"]), r"subnet_ids: needs subnets in at least two"),
        (lambda a: a.update(subnet_ids=["subnet-a", "subnet-a"]), "is listed twice"),
        (lambda a: a.pop("certificate_arn"), "certificate_arn: an ALB serves HTTPS only"),
        (
            lambda a: a.update(certificate_arn=CERT_EUW1),
            "certificate is in eu-west-1 but the load balancer is in",
        ),
        (lambda a: a.update(ssl_policy="ELBSecurityPolicy-2016-08"), "is not a current TLS 1.3 policy"),
        (
            lambda a: a.pop("target_security_group_ids"),
            "give target_security_group_ids or target_cidr_blocks",
        ),
        (lambda a: a.update(internal=True), "internal load balancer needs its allowed client ranges"),
        (
            lambda a: a.update(ingress_cidr_blocks=["10.0.0.1/16"]),
            r"ingress_cidr_blocks\[0\]: '10.0.0.1/16' is not a CIDR",
        ),
        (
            lambda a: a.update(target_cidr_blocks=["10.0.0.0"]),
            r"target_cidr_blocks\[0\]: '10.0.0.0' is not a CIDR",
        ),
        (lambda a: a.update(type="gateway"), "type: 'gateway' is not one of"),
        (
            lambda a: a.update(target_groups=[{"name": "a", "slow_start": 30}]),
            "slow_start: slow start needs round-robin routing",
        ),
        (
            lambda a: a.update(target_groups=[{"name": "a", "health_check": {"interval": 5, "timeout": 5}}]),
            r"health_check\.timeout: 5 s must be below the interval",
        ),
        (
            lambda a: a.update(target_groups=[{"name": "a", "health_check": {"unhealthy_threshold": 1}}]),
            r"unhealthy_threshold: 1 is out of range 2\.\.10",
        ),
        (
            lambda a: a.update(target_groups=[{"name": "a"}, {"name": "a"}]),
            "duplicate target group name 'a'",
        ),
        (
            lambda a: a.update(target_groups=[{"name": "a", "protocol": "TCP"}]),
            "protocol: 'TCP' is not one of",
        ),
        (
            lambda a: a.update(type="network", waf={}),
            "waf: is only available on an application load balancer",
        ),
        (lambda a: a.update(waf={"rate_limit": 5}), r"waf\.rate_limit: 5 is out of range"),
        (
            lambda a: a.update(type="network", target_groups=[{"name": "a", "target_type": "alb"}]),
            "ALB targets exclude zonal shift on a cross-zone NLB",
        ),
        (lambda a: a.update(waf={"evaluation_window_sec": 30}), "evaluation_window_sec: 30 is not one of"),
    ],
)
def test_rejections(change: Any, message: str) -> None:
    args = json.loads(json.dumps(_alb_args()))
    change(args)
    with pytest.raises(ValueError, match=message):
        synth(lambda: LoadBalancer("web", args), config={"aws:region": "us-east-1"})


def test_explicit_provider_and_protect_reach_the_children() -> None:
    def program() -> None:
        provider = aws.Provider("euw1", region="eu-west-1")
        LoadBalancer(
            "web",
            _alb_args(certificate_arn=CERT_EUW1),
            opts=pulumi.ResourceOptions(provider=provider, protect=True),
        )

    graph = synth(program, config={"aws:region": "us-east-1"})
    provider = graph.one("pulumi:providers:aws")
    children = graph.descendants(graph.one("hakit:loadbalancer:LoadBalancer"))
    assert len(children) == 8
    for child in children:
        assert graph.provider_of(child) is provider, child.short()
        assert child.options.protect, child.short()
        assert "region" not in child.inputs  # the provider decides
        assert child.region == "eu-west-1"
    assert graph.one(LB).output("zone_id") == "Z32O12XQLNTSW2"


def test_waf_module_is_imported_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import pulumi_aws.wafv2` fail: only a WAF request may import it.
    monkeypatch.setitem(sys.modules, "pulumi_aws.wafv2", None)
    graph = synth(lambda: LoadBalancer("web", _alb_args()), config={"aws:region": "us-east-1"})
    assert len(graph.resources) == 8
    with pytest.raises(ImportError, match=r"pulumi_aws\.wafv2"):
        synth(lambda: LoadBalancer("web", _alb_args(waf={})), config={"aws:region": "us-east-1"})


def test_schema_is_inferred() -> None:
    from pulumi.provider.experimental.component import ComponentProvider

    schema = json.loads(ComponentProvider([LoadBalancer], "hakit").schema)
    resource = schema["resources"]["hakit:index:LoadBalancer"]
    assert sorted(resource["requiredInputs"]) == ["subnetIds", "vpcId"]
    assert {"dnsName", "zoneId", "arn", "targetGroupArns"} <= set(resource["properties"])
    health = schema["types"]["hakit:index:LoadBalancerHealthCheckArgs"]["properties"]
    assert "API's" in health["unhealthyThreshold"]["description"]


@given(interval=st.integers(min_value=0, max_value=400), timeout=st.integers(min_value=0, max_value=200))
@settings(max_examples=80, deadline=None)
def test_health_check_timing_property(interval: int, timeout: int) -> None:
    from hakit.components.loadbalancer import _validate

    args = _alb_args(
        target_groups=[{"name": "app", "health_check": {"interval": interval, "timeout": timeout}}]
    )
    valid = 5 <= interval <= 300 and 2 <= timeout <= 120 and timeout < interval
    if valid:
        assert [g["name"] for g in _validate(args, None)] == ["app"]
    else:
        with pytest.raises(ValueError, match=r"target_groups\[0\]\.health_check\.(interval|timeout)"):
            _validate(args, None)

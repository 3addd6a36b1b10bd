"""Property: any valid service config of one to three regions gets one front door, check and record each."""

from __future__ import annotations

from hakit.spec.stack import StackConfig
from hakit.stacks.service import build_service
from hakit.testing import synth
from hypothesis import given, settings
from hypothesis import strategies as st

REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]


@st.composite
def configs(draw: st.DrawFn) -> StackConfig:
    count = draw(st.integers(min_value=1, max_value=3))
    names = REGIONS[:count]
    primary = draw(st.sampled_from(names))
    policies = ["latency", "weighted"] + (["failover"] if count <= 2 else [])
    regions = [
        {
            "name": name,
            "role": "primary" if name == primary else "secondary",
            "weight": draw(st.integers(min_value=1, max_value=255)),
            "vpc_id": f"vpc-0{index}aaaaaaaaaaaaaaa",
            "subnet_ids": [f"subnet-0{index}a1a1a1a1a1a1a1a", f"subnet-0{index}b1b1b1b1b1b1b1b"],
            "targets": [f"10.{index}.1.10", f"10.{index}.2.10"],
            "certificate_arn": f"arn:aws:acm:{name}:123456789012:certificate/c{index}",
        }
        for index, name in enumerate(names)
    ]
    return StackConfig.model_validate(
        {
            "hakit:service": {"name": "svc", "domain": "example.com"},
            "hakit:slo": {"rto_seconds": 300, "rpo_seconds": 60},
            "hakit:regions": regions,
            "hakit:routing": {"policy": draw(st.sampled_from(policies))},
        }
    )


@settings(max_examples=12)
@given(configs())
def test_one_front_door_check_and_record_per_region(config: StackConfig) -> None:
    graph = synth(lambda: build_service(config, "prop"), project="hakit", stack="prop")
    names = [r.name for r in config.regions]
    balancers = {n.region: n.output("dns_name") for n in graph.by_type("aws:lb/loadBalancer:LoadBalancer")}
    assert sorted(balancers) == sorted(names)
    checks = {c.id: c for c in graph.by_type("aws:route53/healthCheck:HealthCheck")}
    records = graph.by_type("aws:route53/record:Record")
    assert len(records) == len(names) == len(checks)
    # Every record aliases one region's ALB and is gated by the check of that same ALB.
    for record in records:
        target = record.input("aliases.0.name")
        assert target in balancers.values()
        assert checks[record.input("health_check_id")].input("fqdn") == target
    assert sorted(graph.regions()) == sorted(names)

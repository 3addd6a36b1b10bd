"""ComputeTier under mocks: group shape, ELB health checks, refresh, drain hook, IMDSv2, rejections."""

from typing import Any

import pulumi
import pytest
from hakit.components.compute import ComputeTier, ComputeTierArgs
from hakit.testing import ResourceGraph, synth
from hakit.testing.graph import Node, to_snake

ASG = "aws:autoscaling/group:Group"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
HOOK = "aws:autoscaling/lifecycleHook:LifecycleHook"
POLICY = "aws:autoscaling/policy:Policy"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app/0123456789abcdef"


def _args(**extra: Any) -> ComputeTierArgs:
    args: dict[str, Any] = {
        "subnet_ids": ["subnet-a", "subnet-b", "subnet-c"],
        "availability_zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
        "image_id": "ami-0123456789abcdef0",
        "security_group_ids": ["sg-app"],
        "target_group_arns": [TG_ARN],
    }
    args.update(extra)
    return args  # type: ignore[return-value]


def _in(node: Node, path: str) -> Any:
    """An input with nested keys in snake_case (the harness records camelCase, like the engine)."""
    return to_snake(node.input(path))


def _latest_version(type_: str, name: str, inputs: Any) -> dict[str, Any] | None:
    # The provider computes latestVersion; without it the group's pinned version would vanish.
    return {"latestVersion": 3} if type_ == LT else None


def _synth(args: ComputeTierArgs, stack: str = "test") -> ResourceGraph:
    def program() -> None:
        tier = ComputeTier("web", args)
        pulumi.export("group", tier.group_name)

    return synth(program, config={"aws:region": "us-east-1"}, stack=stack, outputs=_latest_version)


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return _synth(
        _args(
            user_data="#!/bin/sh\necho hello\n",
            instance_profile_arn="arn:aws:iam::123456789012:instance-profile/web",
            instance_refresh={"rollback_alarm_names": ["web-5xx"]},
            tags={"team": "sre"},
        ),
        stack="prod",
    )


def test_resource_types_and_parents(graph: ResourceGraph) -> None:
    assert graph.count_by_type() == {ASG: 1, LT: 1, HOOK: 1, POLICY: 1}
    component = graph.one("hakit:compute:ComputeTier")
    assert all(graph.parent_of(n) is component for n in graph.resources)


def test_group_spans_the_zones_with_elb_health_checks(graph: ResourceGraph) -> None:
    group = graph.one(ASG)
    assert group.input("vpc_zone_identifiers") == ["subnet-a", "subnet-b", "subnet-c"]
    assert group.input("health_check_type") == "ELB"
    assert group.input("health_check_grace_period") == 300
    assert group.input("capacity_rebalance") is True
    assert group.input("target_group_arns") == [TG_ARN]
    assert (group.input("min_size"), group.input("max_size")) == (2, 6)
    assert "desired_capacity" not in group.inputs  # the scaling policy owns it
    lt = graph.one(LT)
    assert _in(group, "launch_template") == {"id": lt.id, "version": "3"}
    assert group.depends_on(lt)
    tags = {t["key"]: (t["value"], t["propagate_at_launch"]) for t in _in(group, "tags")}
    assert tags["team"] == ("sre", True)
    assert tags["hakit:component"] == ("hakit:compute:ComputeTier", True)


def test_instance_refresh_preferences(graph: ResourceGraph) -> None:
    refresh = _in(graph.one(ASG), "instance_refresh")
    assert refresh["strategy"] == "Rolling"
    assert refresh["preferences"] == {
        "min_healthy_percentage": 90,
        "max_healthy_percentage": 110,
        "checkpoint_percentages": [50, 100],
        "checkpoint_delay": "300",
        "auto_rollback": True,
        "skip_matching": True,
        "alarm_specification": {"alarms": ["web-5xx"]},
    }


def test_termination_hook_drains_and_scaling_is_bounded(graph: ResourceGraph) -> None:
    hook = graph.one(HOOK)
    assert hook.input("lifecycle_transition") == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook.input("heartbeat_timeout") == 300
    assert hook.input("default_result") == "CONTINUE"
    assert hook.input("autoscaling_group_name") == graph.one(ASG).output("name")
    policy = graph.one(POLICY)
    assert policy.input("policy_type") == "TargetTrackingScaling"
    assert _in(policy, "target_tracking_configuration") == {
        "predefined_metric_specification": {"predefined_metric_type": "ASGAverageCPUUtilization"},
        "target_value": 50.0,
        "disable_scale_in": False,
    }


def test_launch_template_is_imdsv2_encrypted_and_private(graph: ResourceGraph) -> None:
    lt = graph.one(LT)
    assert _in(lt, "metadata_options") == {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
        "instance_metadata_tags": "disabled",
    }
    (volume,) = _in(lt, "block_device_mappings")
    assert volume["ebs"]["encrypted"] == "true"
    (nic,) = _in(lt, "network_interfaces")
    assert nic["associate_public_ip_address"] == "false"
    assert nic["security_groups"] == ["sg-app"]
    assert lt.input("user_data") == "IyEvYmluL3NoCmVjaG8gaGVsbG8K"  # base64 of the caller's script
    assert _in(lt, "iam_instance_profile") == {"arn": "arn:aws:iam::123456789012:instance-profile/web"}


def test_requests_per_target_scaling_and_no_alarms() -> None:
    label = "app/web/0123/targetgroup/app/4567"
    graph = _synth(
        _args(scaling={"metric": "requests_per_target", "target_value": 200, "resource_label": label})
    )
    config = _in(graph.one(POLICY), "target_tracking_configuration")
    assert config["predefined_metric_specification"] == {
        "predefined_metric_type": "ALBRequestCountPerTarget",
        "resource_label": label,
    }
    assert "alarm_specification" not in _in(graph.one(ASG), "instance_refresh.preferences")
    assert "user_data" not in graph.one(LT).inputs


@pytest.mark.parametrize(
    ("extra", "stack", "message"),
    [
        (
            {"subnet_ids": ["subnet-a"], "availability_zones": ["us-east-1a"]},
            "dev",
            "at least two availability",
        ),
        ({"availability_zones": ["us-east-1a"] * 3}, "dev", "at least two availability"),
        ({"availability_zones": ["us-east-1a", "us-east-1b"]}, "dev", "gives 2 zones for 3 subnets"),
        ({"health_check_type": "EC2"}, "dev", "health_check_type: 'EC2' is not one of 'ELB'"),
        ({"min_size": 1}, "prod", "min_size: 1 in 'prod'"),
        ({"min_size": 1, "environment": "production"}, "dev", "min_size: 1 in 'production'"),
        ({"health_check_grace_period": -1}, "dev", "health_check_grace_period: -1 is out of range"),
        ({"min_size": 4, "max_size": 3}, "dev", "max_size: 3 is below min_size (4)"),
        ({"drain_timeout": 60, "deregistration_delay": 120}, "dev", "drain_timeout: 60 s is shorter"),
        (
            {"instance_refresh": {"checkpoint_percentages": [50, 20]}},
            "dev",
            "must rise strictly and end at 100",
        ),
        ({"instance_refresh": {"min_healthy_percentage": 101}}, "dev", "min_healthy_percentage: 101"),
        ({"scaling": {"target_value": 99}}, "dev", "scaling.target_value: 99 is out of range"),
        ({"scaling": {"metric": "requests_per_target"}}, "dev", "needs the ALB/target group label"),
        ({"target_group_arns": []}, "dev", "target_group_arns: is required"),
        ({"region": "eu-west-1"}, "dev", "'us-east-1a' is not in region eu-west-1"),
    ],
)
def test_unsafe_settings_are_rejected(extra: dict[str, Any], stack: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        _synth(_args(**extra), stack=stack)
    text = str(error.value)
    assert text.startswith("ComputeTierArgs.") and "\n" not in text
    assert message in text


def test_single_instance_needs_the_explicit_opt_out() -> None:
    graph = _synth(_args(min_size=1, allow_single_instance=True), stack="prod")
    assert graph.one(ASG).input("min_size") == 1
    dev = _synth(_args(min_size=1), stack="dev")
    assert dev.one(ASG).input("min_size") == 1


def test_report_flags_a_group_in_one_zone_and_not_the_tier(graph: ResourceGraph) -> None:
    from analysis_programs import autoscaling_group
    from hakit.analysis import analyze, from_graph

    one_zone = synth(lambda: autoscaling_group(subnets=("subnet-a",)), config={"aws:region": "us-east-1"})
    (finding,) = [f for f in analyze(from_graph(one_zone)) if f.rule_id == "HA014"]
    assert "one availability zone (subnet-a)" in finding.message
    assert not [f for f in analyze(from_graph(graph)) if f.rule_id == "HA014"]


# ---------------------------------------------------------------- in the service stack (Pulumi.prod.yaml)


@pytest.fixture(scope="module")
def prod() -> ResourceGraph:
    from pathlib import Path

    from hakit.stacks.program import synth_stack

    return synth_stack("prod", root=Path(__file__).resolve().parents[2])


def test_prod_regions_run_a_compute_tier_behind_their_alb(prod: ResourceGraph) -> None:
    groups = {node.region: node for node in prod.by_type(ASG)}
    assert set(groups) == {"us-east-1", "us-west-2"}
    assert (groups["us-east-1"].input("min_size"), groups["us-west-2"].input("min_size")) == (3, 2)
    assert not prod.by_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")  # no fixed targets
    for region, group in groups.items():
        assert group.input("health_check_type") == "ELB"
        (tg,) = [t for t in prod.by_type("aws:lb/targetGroup:TargetGroup") if t.region == region]
        assert tg.input("target_type") == "instance"
        assert group.input("target_group_arns") == [tg.output("arn")]
        assert group.input("vpc_zone_identifiers") and len(group.input("vpc_zone_identifiers")) == 3
        (app_sg,) = [
            g
            for g in prod.by_type("aws:ec2/securityGroup:SecurityGroup")
            if g.name.endswith(f"{region}-app-sg")
        ]
        (lt,) = [t for t in prod.by_type(LT) if t.region == region]
        assert _in(lt, "network_interfaces")[0]["security_groups"] == [app_sg.id]
        (from_alb,) = [
            r
            for r in prod.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
            if r.input("security_group_id") == app_sg.id
        ]
        assert from_alb.input("from_port") == 8080  # the service port, from the ALB's security group only
        assert "cidr_ipv4" not in from_alb.inputs


def _region_yaml(extra: str) -> str:
    return (
        "config:\n  hakit:service: {name: shop, domain: example.com}\n"
        "  hakit:slo: {rto_seconds: 300, rpo_seconds: 60}\n"
        "  hakit:regions:\n    - name: us-east-1\n      role: primary\n      vpc_id: vpc-0a1b2c3d4e5f60718\n"
        "      subnet_ids: [subnet-0a0a0a0a0a0a0a0a0, subnet-0b0b0b0b0b0b0b0b0]\n"
        "      certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/x\n" + extra
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("", "hakit:regions[0].targets: give two or more application targets (or a compute tier)"),
        (
            "      targets: [10.0.1.10, 10.0.2.10]\n      compute: {image_id: ami-0123456789abcdef0}\n",
            "hakit:regions[0].compute: compute replaces fixed targets behind an ALB",
        ),
        (
            "      compute: {image_id: ami-0123456789abcdef0, min_size: 5, max_size: 4}\n",
            "hakit:regions[0].compute.max_size: is below min_size",
        ),
        (
            "      targets: [10.0.1.10, 10.0.2.10]\n  hakit:drills:\n"
            "    stop_alarm_arns: [arn:aws:cloudwatch:us-east-1:123456789012:alarm:a]\n"
            "    availability_zone: us-east-1c\n",
            "hakit:drills.availability_zone: us-east-1c is not a zone of us-east-1's subnets",
        ),
        (
            "      targets: [10.0.1.10, 10.0.2.10]\n  hakit:drills: {stop_alarm_arns: []}\n",
            "hakit:drills.stop_alarm_arns",
        ),
    ],
)
def test_stack_config_compute_rules(tmp_path: Any, extra: str, message: str) -> None:
    from hakit.errors import SpecError
    from hakit.spec.stack import stack_config_from_file

    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(_region_yaml(extra))
    with pytest.raises(SpecError) as error:
        stack_config_from_file(path)
    assert any(message in line for line in error.value.lines), error.value.lines


def test_prod_ships_the_fault_drills(prod: ResourceGraph) -> None:
    templates = {n.name: n for n in prod.by_type("aws:fis/experimentTemplate:ExperimentTemplate")}
    assert sorted(templates) == [
        "shop-drills-aurora-failover",
        "shop-drills-az-power",
        "shop-drills-region-outage",
    ]
    alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:shop-5xx-rate"
    for node in templates.values():
        assert node.input("region") == "us-east-1"
        assert _in(node, "stop_conditions") == [{"source": "aws:cloudwatch:alarm", "value": alarm}]
    (cluster,) = _in(templates["shop-drills-aurora-failover"], "targets")
    east = next(c for c in prod.by_type("aws:rds/cluster:Cluster") if c.region == "us-east-1")
    assert cluster["resource_arns"] == [east.output("arn")]
    (instances, *_) = _in(templates["shop-drills-az-power"], "targets")
    # The drills find the instances by the tag the compute tier propagates to them.
    assert instances["resource_tags"] == [{"key": "hakit:service", "value": "shop"}]
    asg = next(iter(prod.by_type(ASG)))
    assert {"key": "hakit:service", "value": "shop", "propagate_at_launch": True} in _in(asg, "tags")


def test_the_harness_gives_a_new_launch_template_version_1() -> None:
    def program() -> None:
        ComputeTier("web", _args())

    graph = synth(program, config={"aws:region": "us-east-1"}, stack="dev")
    assert _in(graph.one(ASG), "launch_template") == {"id": graph.one(LT).id, "version": "1"}


def test_prod_budget_has_an_instance_replacement_stage_outside_the_rto(prod: ResourceGraph) -> None:
    from hakit.analysis import from_graph
    from hakit.analysis.budget import stack_budget

    budget = stack_budget(from_graph(prod))
    stages = [s for p in budget.paths for s in p.stages if s.layer == "asg"]
    assert {s.resource for s in stages} == {"shop-us-east-1-compute-asg", "shop-us-west-2-compute-asg"}
    for stage in stages:
        # ALB check every 10 s x 2 failures, 60 s assumed launch, 300 s grace period.
        assert (stage.scenario, stage.seconds) == ("capacity", 380)
        assert stage.formula == "interval x unhealthy_threshold + launch + health_check_grace_period"
    # Traffic leaves a dead instance in 20 s: replacing it restores capacity, it is not on the RTO path.
    for path in budget.paths:
        without = [s for s in path.stages if s.layer != "asg"]
        assert path.rto_seconds == type(path)(path.name, path.kind, tuple(without)).rto_seconds


def test_prod_report_names_the_experiment_that_verifies_each_stage(prod: ResourceGraph) -> None:
    from hakit.analysis import from_graph
    from hakit.analysis.budget import stack_budget
    from hakit.analysis.report import stage_figure

    budget = stack_budget(from_graph(prod))
    verified = {(s.layer, s.resource): s.verified_by for p in budget.paths for s in p.stages}
    assert verified[("asg", "shop-us-east-1-compute-asg")] == ("shop-drills-az-power",)
    assert ("shop-drills-region-outage",) in {v for (layer, _), v in verified.items() if layer == "dns"}
    assert all(not v for (layer, _), v in verified.items() if layer in ("aurora-global", "backup"))
    stage = next(s for p in budget.paths for s in p.stages if s.layer == "asg")
    assert stage_figure(stage) == "380 s; verified by FIS shop-drills-az-power"
    assert stage.as_dict()["verified_by"] == ["shop-drills-az-power"]

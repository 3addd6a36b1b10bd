"""FaultDrills under mocks: one FIS template per drill, targets, alarm stop conditions, tag-scoped role."""

import json
from typing import Any

import pulumi
import pytest
from hakit.components.fis import FaultDrills, FaultDrillsArgs, role_policy
from hakit.testing import ResourceGraph, synth
from hakit.testing.graph import Node, to_snake

TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"
ALARM = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:shop-5xx"
ALARM_WEST = "arn:aws:cloudwatch:us-west-2:123456789012:alarm:shop-west-5xx"
CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:shop"
TAGS = {"hakit:service": "shop"}


def _args(**extra: Any) -> FaultDrillsArgs:
    args: dict[str, Any] = {
        "instance_tags": TAGS,
        "stop_alarm_arns": [ALARM],
        "az_power": {
            "availability_zone": "us-east-1a",
            "disrupt_subnets": True,
            "subnet_tags": {"tier": "app"},
        },
        "aurora_failover": {"cluster_arn": CLUSTER},
        "region_outage": {"region": "us-east-1"},
    }
    args.update(extra)
    return args  # type: ignore[return-value]


def _synth(args: FaultDrillsArgs, region: str = "us-east-1") -> ResourceGraph:
    def program() -> None:
        drills = FaultDrills("drills", args)
        pulumi.export("ids", drills.template_ids)

    return synth(program, config={"aws:region": region})


def _in(node: Node, path: str) -> Any:
    return to_snake(node.input(path))


def _template(graph: ResourceGraph, drill: str) -> Node:
    return graph.one(TEMPLATE, f"drills-{drill}")


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return _synth(_args())


def test_one_template_per_drill_all_under_the_component(graph: ResourceGraph) -> None:
    assert graph.count_by_type() == {TEMPLATE: 3, ROLE: 1, POLICY: 1}
    component = graph.one("hakit:fis:FaultDrills")
    assert all(graph.parent_of(n) is component for n in graph.resources)
    ids = graph.stack_outputs["ids"]
    assert sorted(ids) == ["aurora-failover", "az-power", "region-outage"]
    role = graph.one(ROLE)
    for node in graph.by_type(TEMPLATE):
        assert node.input("role_arn") == role.output("arn")
        assert node.depends_on(graph.one(POLICY))  # the role can act before an experiment can start
        assert _in(node, "experiment_options") == {"empty_target_resolution_mode": "fail"}


def test_every_template_stops_on_the_alarms(graph: ResourceGraph) -> None:
    for node in graph.by_type(TEMPLATE):
        assert _in(node, "stop_conditions") == [{"source": "aws:cloudwatch:alarm", "value": ALARM}]


def test_az_power_targets_one_zone_of_tagged_instances_and_subnets(graph: ResourceGraph) -> None:
    node = _template(graph, "az-power")
    instances, subnets = _in(node, "targets")
    assert instances["resource_type"] == "aws:ec2:instance"
    assert instances["resource_tags"] == [{"key": "hakit:service", "value": "shop"}]
    assert {"path": "Placement.AvailabilityZone", "values": ["us-east-1a"]} in instances["filters"]
    assert subnets["resource_type"] == "aws:ec2:subnet"
    assert subnets["filters"] == [{"path": "AvailabilityZone", "values": ["us-east-1a"]}]
    stop, cut = _in(node, "actions")
    assert stop["action_id"] == "aws:ec2:stop-instances"
    assert stop["target"] == {"key": "Instances", "value": "instances"}
    assert stop["parameters"] == [{"key": "startInstancesAfterDuration", "value": "PT10M"}]
    assert cut["action_id"] == "aws:network:disrupt-connectivity"
    assert cut["target"] == {"key": "Subnets", "value": "subnets"}


def test_aurora_and_region_drills(graph: ResourceGraph) -> None:
    aurora = _template(graph, "aurora-failover")
    (cluster,) = _in(aurora, "targets")
    assert cluster["resource_arns"] == [CLUSTER]
    (failover,) = _in(aurora, "actions")
    assert failover["action_id"] == "aws:rds:failover-db-cluster"
    assert failover["target"] == {"key": "Clusters", "value": "cluster"}
    region = _template(graph, "region-outage")
    assert region.input("region") == "us-east-1"
    (instances,) = _in(region, "targets")
    assert instances["filters"] == [{"path": "State.Name", "values": ["running"]}]  # every zone
    (stop,) = _in(region, "actions")
    assert stop["parameters"] == [{"key": "startInstancesAfterDuration", "value": "PT15M"}]


def test_role_is_assumed_by_fis_and_scoped_to_the_tags(graph: ResourceGraph) -> None:
    trust = json.loads(graph.one(ROLE).input("assume_role_policy"))
    assert trust["Statement"][0]["Principal"] == {"Service": "fis.amazonaws.com"}
    policy = json.loads(graph.one(POLICY).input("policy"))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    stop = by_sid["StopAndStartTheServiceInstances"]
    assert stop["Resource"] == "arn:aws:ec2:*:*:instance/*"
    assert stop["Condition"] == {"StringEquals": {"aws:ResourceTag/hakit:service": "shop"}}
    assert by_sid["FailOverTheCluster"]["Resource"] == CLUSTER
    assert by_sid["SwapTheServiceSubnetsAcl"]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/tier": "app"}
    }
    # Only Describe* (read-only, no resource-level permissions exist) and FIS's own ACLs are unscoped.
    for statement in policy["Statement"]:
        if statement["Resource"] == "*":
            assert all(a.split(":")[1].startswith("Describe") for a in statement["Action"]), statement


def test_partition_follows_the_provider() -> None:
    graph = _synth(
        _args(
            az_power={"availability_zone": "us-gov-west-1a"},
            aurora_failover=None,
            region_outage=None,
            stop_alarm_arns=["arn:aws-us-gov:cloudwatch:us-gov-west-1:123456789012:alarm:a"],
        ),
        region="us-gov-west-1",
    )
    policy = json.loads(graph.one(POLICY).input("policy"))
    (stop,) = [s for s in policy["Statement"] if s["Sid"] == "StopAndStartTheServiceInstances"]
    assert stop["Resource"] == "arn:aws-us-gov:ec2:*:*:instance/*"
    assert graph.count_by_type()[TEMPLATE] == 1
    assert "NetworkAclsFisCreates" not in {s["Sid"] for s in policy["Statement"]}


def test_per_drill_alarms_replace_the_shared_ones() -> None:
    graph = _synth(
        _args(
            stop_alarm_arns=[],
            region_outage={"region": "us-west-2", "stop_alarm_arns": [ALARM_WEST]},
            az_power=None,
            aurora_failover=None,
        )
    )
    (node,) = graph.by_type(TEMPLATE)
    assert _in(node, "stop_conditions") == [{"source": "aws:cloudwatch:alarm", "value": ALARM_WEST}]
    assert node.input("region") == "us-west-2"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"stop_alarm_arns": []}, "az_power.stop_alarm_arns: no stop condition"),
        ({"stop_alarm_arns": ["shop-5xx"]}, "is not a CloudWatch alarm ARN"),
        ({"instance_tags": {}}, "instance_tags: needs at least one tag"),
        ({"az_power": None, "aurora_failover": None, "region_outage": None}, "asks for no drill"),
        (
            {"az_power": {"availability_zone": "eu-west-1a", "region": "us-east-1"}},
            "is not in region us-east-1",
        ),
        ({"az_power": {"availability_zone": "us-east-1a", "disrupt_subnets": True}}, "needs the tags"),
        ({"az_power": {"availability_zone": "us-east-1a", "duration_minutes": 0}}, "duration_minutes: 0"),
        ({"aurora_failover": {"cluster_arn": "shop"}}, "is not an RDS cluster ARN"),
        ({"region_outage": {"region": "nowhere"}}, "'nowhere' is not an AWS region name"),
    ],
)
def test_unsafe_drills_are_rejected(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        _synth(_args(**extra))
    text = str(error.value)
    assert text.startswith("FaultDrillsArgs") and "\n" not in text
    assert message in text


def test_role_policy_without_instance_drills_cannot_stop_instances() -> None:
    policy = role_policy("aws", TAGS, ["aurora-failover"], CLUSTER)
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    assert "ec2:StopInstances" not in actions
    assert "rds:FailoverDBCluster" in actions

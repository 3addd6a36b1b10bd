"""The EC2 keepalived pair under mocks: same rendered configs as bare metal, least privilege, recovery."""

from __future__ import annotations

import json

import pytest
from hakit.components.keepalived_pair import (
    EIP_HOOK,
    EIP_SETTINGS,
    KeepalivedPair,
    KeepalivedPairArgs,
    decode_user_data,
    pair_files,
)
from hakit.paths import scripts_dir
from hakit.testing import ResourceGraph, synth
from ruamel.yaml import YAML

ARGS = KeepalivedPairArgs(
    vpc_id="vpc-0123456789abcdef0",
    vpc_cidr="10.21.0.0/16",
    subnet_ids=["subnet-a", "subnet-b"],
    private_ips=["10.21.1.50", "10.21.2.50"],
    targets=["10.21.1.10", "10.21.2.10"],
    target_port=8080,
    region="us-west-2",
)


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return synth(lambda: KeepalivedPair("edge", ARGS), config={"aws:region": "us-east-1"})


def _cloud_config(graph: ResourceGraph, node: str) -> dict:
    instance = graph.one("aws:ec2/instance:Instance", f"edge-{node}")
    text = decode_user_data(instance.input("user_data_base64"))
    assert text.startswith("#cloud-config\n")
    return YAML(typ="safe").load(text)


def test_two_instances_in_two_subnets_with_imdsv2(graph: ResourceGraph) -> None:
    # Registration order follows Output resolution (not deterministic): order by name.
    instances = sorted(graph.by_type("aws:ec2/instance:Instance"), key=lambda node: node.name)
    assert [i.input("subnet_id") for i in instances] == ["subnet-a", "subnet-b"]
    assert [i.input("private_ip") for i in instances] == ["10.21.1.50", "10.21.2.50"]
    for instance in instances:
        assert instance.region == "us-west-2"
        assert instance.input("metadata_options.http_tokens") == "required"
        assert instance.input("root_block_device.encrypted") is True
        assert instance.options.delete_before_replace  # a fixed private IP cannot exist twice


def test_cloud_init_embeds_the_bare_metal_render(graph: ResourceGraph) -> None:
    rendered = pair_files(ARGS, source="pulumi component edge")
    eip = graph.one("aws:ec2/eip:Eip")
    for node in ("node-a", "node-b"):
        document = _cloud_config(graph, node)
        files = {f["path"]: f for f in document["write_files"]}
        for path, expected in rendered[node].items():
            assert files["/" + path]["content"] == expected.content
            assert files["/" + path]["permissions"] == f"0{expected.effective_mode:o}"
        assert files[EIP_HOOK]["content"] == (scripts_dir() / "eip_notify.py").read_text()
        assert files[EIP_HOOK]["permissions"] == "0755"
        settings = json.loads(files[EIP_SETTINGS]["content"])
        assert settings == {"allocation_id": eip.output("allocation_id"), "region": "us-west-2"}
        assert {"keepalived", "haproxy", "python3-boto3"} <= set(document["packages"])
    conf_a = rendered["node-a"]["etc/keepalived/keepalived.conf"].content
    # Unicast VRRP (no multicast in a VPC): each node names the other as its peer.
    assert "unicast_src_ip 10.21.1.50" in conf_a and "unicast_peer {\n        10.21.2.50" in conf_a
    assert "notify_master_rx_lower_pri" in conf_a and "state MASTER" in conf_a
    assert "state BACKUP" in rendered["node-b"]["etc/keepalived/keepalived.conf"].content
    haproxy = rendered["node-a"]["etc/haproxy/haproxy.cfg"].content
    assert "server app-1 10.21.1.10:8080" in haproxy and "server app-2 10.21.2.10:8080" in haproxy


def test_vrrp_only_between_the_pair_plus_the_service_port(graph: ResourceGraph) -> None:
    group = graph.one("aws:ec2/securityGroup:SecurityGroup")
    rules = graph.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    vrrp = [r for r in rules if r.input("ip_protocol") == "112"]
    assert len(vrrp) == 1
    assert vrrp[0].input("referenced_security_group_id") == group.id
    assert vrrp[0].input("cidr_ipv4", None) is None
    others = [r for r in rules if r is not vrrp[0]]
    assert [(r.input("ip_protocol"), r.input("from_port"), r.input("to_port")) for r in others] == [
        ("tcp", 80, 80)
    ]
    for instance in graph.by_type("aws:ec2/instance:Instance"):
        assert instance.input("vpc_security_group_ids") == [group.id]


def test_role_may_only_move_this_eip(graph: ResourceGraph) -> None:
    eip = graph.one("aws:ec2/eip:Eip")
    assert eip.input("domain") == "vpc"
    assert not graph.by_type("aws:ec2/eipAssociation:EipAssociation")  # keepalived owns the association
    policy = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy").input("policy"))
    statements = {s["Sid"]: s for s in policy["Statement"]}
    move = statements["MoveThePairEip"]
    assert move["Action"] == "ec2:AssociateAddress"
    instance_ids = [
        i.id for i in sorted(graph.by_type("aws:ec2/instance:Instance"), key=lambda node: node.name)
    ]
    assert move["Resource"] == [f"arn:aws:ec2:us-west-2:*:elastic-ip/{eip.output('allocation_id')}"] + [
        f"arn:aws:ec2:us-west-2:*:instance/{i}" for i in instance_ids
    ]
    assert statements["SeeAddresses"]["Action"] == "ec2:DescribeAddresses"
    assert set(statements) == {"MoveThePairEip", "SeeAddresses"}
    role = graph.one("aws:iam/role:Role")
    assert "ec2.amazonaws.com" in role.input("assume_role_policy")


def test_auto_recovery_alarms(graph: ResourceGraph) -> None:
    alarms = graph.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    instances = {i.id: i.name for i in graph.by_type("aws:ec2/instance:Instance")}
    found = {
        (instances[a.input("dimensions.InstanceId")], a.input("metric_name"), a.input("alarm_actions.0"))
        for a in alarms
    }
    assert found == {
        (f"edge-{node}", f"StatusCheckFailed_{check}", f"arn:aws:automate:us-west-2:ec2:{action}")
        for node in ("node-a", "node-b")
        for check, action in (("System", "recover"), ("Instance", "reboot"))
    }


def test_arns_take_the_partition_from_the_provider() -> None:
    """GovCloud: the EIP policy and the recovery actions must not say `arn:aws:`."""
    gov = KeepalivedPairArgs(**{**ARGS, "region": "us-gov-west-1"})  # type: ignore[typeddict-item]
    graph = synth(lambda: KeepalivedPair("edge", gov), config={"aws:region": "us-gov-west-1"})
    policy = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy").input("policy"))
    move = {s["Sid"]: s for s in policy["Statement"]}["MoveThePairEip"]
    assert len(move["Resource"]) == 3
    assert all(arn.startswith("arn:aws-us-gov:ec2:us-gov-west-1:*:") for arn in move["Resource"])
    actions = {a.input("alarm_actions.0") for a in graph.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert actions == {f"arn:aws-us-gov:automate:us-gov-west-1:ec2:{a}" for a in ("recover", "reboot")}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"private_ips": ["10.21.1.50"]}, "KeepalivedPairArgs.private_ips: exactly two distinct addresses"),
        ({"private_ips": ["10.21.1.50", "10.99.2.50"]}, "10.99.2.50 is outside vpc_cidr 10.21.0.0/16"),
        ({"private_ips": ["10.21.1.50", "10.21.1"]}, "KeepalivedPairArgs.private_ips: Expected 4 octets"),
        ({"vpc_cidr": "not-a-cidr"}, "KeepalivedPairArgs.vpc_cidr:"),
        ({"subnet_ids": ["subnet-a"]}, "KeepalivedPairArgs.subnet_ids: two subnets"),
        ({"targets": ["10.21.1.10"]}, "KeepalivedPairArgs.targets: at least two targets for redundancy"),
    ],
)
def test_bad_arguments_register_nothing(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        synth(lambda: KeepalivedPair("edge", {**ARGS, **change}), config={"aws:region": "us-east-1"})  # type: ignore[typeddict-item]


@pytest.mark.daemons
@pytest.mark.parametrize("proxy", ["haproxy", "nginx"])
def test_embedded_configs_pass_the_real_daemons(proxy: str) -> None:
    """What cloud-init writes is what keepalived and the proxy accept (checked like bare-metal renders)."""
    from hakit.render.validate import validate_tree
    from support import require_binaries, require_root

    require_binaries("keepalived", proxy, "ip")
    require_root()
    report = validate_tree(pair_files({**ARGS, "proxy": proxy}, source="test"))
    assert report.ok, [f"{r.host} {r.path}: {r.message}" for r in report.failures]
    checked = {(r.host, r.daemon) for r in report.results if not r.skipped}
    assert {daemon for _, daemon in checked} == {"keepalived", proxy}

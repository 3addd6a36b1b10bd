"""The mock harness itself: faithful registration records, computed outputs, duplicates, isolation."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pytest
from hakit.testing import DuplicateUrnError, ResourceGraph, load_stack_config, synth


class _Pair(pulumi.ComponentResource):
    """A tiny component: an ALB and a failover record aliasing it."""

    def __init__(self, name: str, region: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hakit:test:Pair", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lb = aws.lb.LoadBalancer(
            f"{name}-lb",
            subnets=["subnet-a", "subnet-b"],
            region=region,
            opts=pulumi.ResourceOptions(parent=self, protect=True, ignore_changes=["tags"]),
        )
        check = aws.route53.HealthCheck(
            f"{name}-hc", type="HTTPS", fqdn=lb.dns_name, port=443, resource_path="/healthz", opts=child
        )
        aws.route53.Record(
            f"{name}-record",
            zone_id="Z123",
            name="app.example.com",
            type="A",
            set_identifier=f"{name}-primary",
            failover_routing_policies=[{"type": "PRIMARY"}],
            health_check_id=check.id,
            aliases=[{"name": lb.dns_name, "zone_id": lb.zone_id, "evaluate_target_health": True}],
            opts=child,
        )
        self.register_outputs({"dns_name": lb.dns_name})


def _program() -> None:
    _Pair("blue", "eu-west-1")
    password = random.RandomPassword("db", length=24)
    aws.secretsmanager.SecretVersion("db", secret_id="sec", secret_string=password.result)
    pulumi.export("password", password.result)
    pulumi.export("replicas", pulumi.Config().require_int("replicas"))


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return synth(_program, config={"replicas": 2, "aws:region": "us-west-2"})


def test_parent_children_and_options(graph: ResourceGraph) -> None:
    pair = graph.one("hakit:test:Pair")
    children = {n.type for n in graph.children_of(pair)}
    assert children == {
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:route53/healthCheck:HealthCheck",
        "aws:route53/record:Record",
    }
    lb = graph.one("aws:lb/loadBalancer:LoadBalancer")
    assert lb.options.protect is True
    assert lb.options.ignore_changes == ("tags",)
    assert graph.parent_of(lb) is pair
    assert pair in graph.roots()
    assert [n.urn for n in graph.children_of(pair)] == sorted(n.urn for n in graph.children_of(pair))


def test_computed_outputs_flow_into_dependents(graph: ResourceGraph) -> None:
    lb = graph.one("aws:lb/loadBalancer:LoadBalancer")
    record = graph.one("aws:route53/record:Record")
    check = graph.one("aws:route53/healthCheck:HealthCheck")
    assert lb.region == "eu-west-1"
    # The ALB's canonical hosted zone for eu-west-1, not the stack default region's.
    assert record.input("aliases.0.zone_id") == "Z32O12XQLNTSW2"
    assert record.input("aliases.0.name") == lb.output("dns_name")
    assert record.input("health_check_id") == check.id
    assert check.input("fqdn").endswith(".elb.amazonaws.com")
    assert record.depends_on(check) and record.depends_on(lb)


def test_region_defaults_to_stack_config(graph: ResourceGraph) -> None:
    assert graph.one("aws:route53/record:Record").region == "us-west-2"
    assert graph.one("random:index/randomPassword:RandomPassword").region is None
    assert graph.regions() == ["eu-west-1", "us-west-2"]


def test_secret_flags_and_exports(graph: ResourceGraph) -> None:
    version = graph.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.is_secret("secret_string")
    assert not version.is_secret("secret_id")
    assert "password" in graph.secret_stack_outputs
    assert graph.stack_outputs["replicas"] == 2
    assert len(graph.stack_outputs["password"]) == 24


def test_explicit_provider_sets_region() -> None:
    def program() -> None:
        provider = aws.Provider("apne1", region="ap-northeast-1")
        aws.s3.Bucket("logs", opts=pulumi.ResourceOptions(provider=provider))

    graph = synth(program)
    bucket = graph.one("aws:s3/bucket:Bucket")
    assert bucket.region == "ap-northeast-1"
    assert graph.provider_of(bucket) is graph.one("pulumi:providers:aws")
    assert bucket.output("bucket_regional_domain_name").endswith(".s3.ap-northeast-1.amazonaws.com")


def test_duplicate_urn_raises_like_the_engine() -> None:
    def program() -> None:
        aws.s3.Bucket("same")
        aws.s3.Bucket("same")

    with pytest.raises(DuplicateUrnError, match="Bucket::same"):
        synth(program)


def test_same_name_under_different_parents_is_fine() -> None:
    graph = synth(lambda: [_Pair("a", "us-east-1"), _Pair("b", "us-east-1")])
    assert len(graph.by_type("aws:lb/loadBalancer:LoadBalancer")) == 2


def test_program_errors_propagate() -> None:
    def program() -> None:
        raise ValueError("bad argument")

    with pytest.raises(ValueError, match="bad argument"):
        synth(program)


def test_synths_are_isolated() -> None:
    first = synth(lambda: pulumi.export("k", pulumi.Config().get("only_first")), config={"only_first": "x"})
    second = synth(lambda: pulumi.export("k", pulumi.Config().get("only_first")))
    assert first.stack_outputs == {"k": "x"}
    assert second.stack_outputs == {"k": None}
    assert len(synth(lambda: aws.s3.Bucket("one"))) == 1


def test_stack_file_config_with_secure_values(tmp_path) -> None:
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(
        "config:\n  aws:region: eu-central-1\n  project:dbPassword:\n    secure: v1:AAAA\n"
        "  project:regions: [eu-central-1, eu-west-1]\n"
    )
    config = load_stack_config(str(stack_file))

    def program() -> None:
        cfg = pulumi.Config()
        pulumi.export("password", cfg.require_secret("dbPassword"))
        pulumi.export("regions", cfg.require_object("regions"))
        aws.s3.Bucket("b")

    graph = synth(program, config=config, stack="prod")
    assert graph.stack_outputs["regions"] == ["eu-central-1", "eu-west-1"]
    assert "password" in graph.secret_stack_outputs
    assert graph.one("aws:s3/bucket:Bucket").region == "eu-central-1"
    assert graph.one("aws:s3/bucket:Bucket").urn.startswith("urn:pulumi:prod::project::")


def test_dump_names_every_node(graph: ResourceGraph) -> None:
    text = graph.dump()
    assert "hakit:test:Pair blue" in text
    assert "  aws:lb/loadBalancer:LoadBalancer blue-lb @eu-west-1" in text


def test_pytest_fixture(synth) -> None:  # type: ignore[no-untyped-def]
    graph = synth(lambda: aws.sns.Topic("alerts"))
    assert graph.one("aws:sns/topic:Topic").output("arn").startswith("arn:aws:sns:us-east-1:123456789012:")


def test_snake_inputs(graph: ResourceGraph) -> None:
    check = graph.one("aws:route53/healthCheck:HealthCheck")
    assert check.snake_inputs["resource_path"] == "/healthz"
    with pytest.raises(KeyError, match="no input 'nope'"):
        check.input("nope")


def test_cli_synth_exits_without_event_loop_noise() -> None:
    # The SDK leaves an event loop per worker thread; unclosed, they print tracebacks at interpreter exit.
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    code = "from hakit.cli import main; import sys; sys.argv = ['hakit', 'plan', '--stack', 'dev']; main()"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("region", "partition"), [("us-east-1", "aws"), ("us-gov-west-1", "aws-us-gov")])
def test_partition_invoke_and_arns_follow_the_region(region: str, partition: str) -> None:
    def program() -> None:
        pulumi.export("partition", aws.get_partition_output().partition)
        pulumi.export("role", aws.iam.Role("r", assume_role_policy="{}").arn)

    graph = synth(program, config={"aws:region": region})
    assert graph.stack_outputs["partition"] == partition
    assert graph.stack_outputs["role"].startswith(f"arn:{partition}:iam:")


def test_arc_arns_sit_under_their_control_panel() -> None:
    def program() -> None:
        cluster = aws.route53recoverycontrol.Cluster("c", name="c")
        panels = [aws.route53recoverycontrol.ControlPanel(f"p{i}", cluster_arn=cluster.arn) for i in (1, 2)]
        for i, panel in enumerate(panels, start=1):
            aws.route53recoverycontrol.RoutingControl(
                f"rc{i}", cluster_arn=cluster.arn, control_panel_arn=panel.arn
            )
        aws.route53recoverycontrol.RoutingControl("rc-default", cluster_arn=cluster.arn)
        aws.route53recoverycontrol.SafetyRule(
            "rule",
            control_panel_arn=panels[0].arn,
            asserted_controls=[],
            wait_period_ms=5000,
            rule_config={"inverted": False, "threshold": 1, "type": "ATLEAST"},
        )

    graph = synth(program)
    panel_arns = [
        graph.one("aws:route53recoverycontrol/controlPanel:ControlPanel", f"p{i}").output("arn")
        for i in (1, 2)
    ]
    assert len(set(panel_arns)) == 2
    assert all(":controlpanel/" in a and a.count("/") == 1 for a in panel_arns)
    for i, panel in enumerate(panel_arns, start=1):
        rc = graph.one("aws:route53recoverycontrol/routingControl:RoutingControl", f"rc{i}").output("arn")
        assert rc.startswith(f"{panel}/routingcontrol/") and rc.count("/") == 3
    default = graph.one("aws:route53recoverycontrol/routingControl:RoutingControl", "rc-default").output(
        "arn"
    )
    assert "/routingcontrol/" in default and not any(default.startswith(p) for p in panel_arns)
    rule = graph.one("aws:route53recoverycontrol/safetyRule:SafetyRule").output("arn")
    assert rule.startswith(f"{panel_arns[0]}/safetyrule/")


def test_a_value_inside_a_secret_input_is_secret() -> None:
    """The engine's rule: a secret taints everything inside it (and a container holding one is reported)."""

    def program() -> None:
        rule = {"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"]}
        aws.ec2.SecurityGroup("sg", ingress=pulumi.Output.secret([rule]), description="plain")
        aws.ec2.SecurityGroup("sg2", ingress=[{**rule, "description": pulumi.Output.secret("why")}])

    graph = synth(program)
    whole = graph.one("aws:ec2/securityGroup:SecurityGroup", "sg")
    assert whole.is_secret("ingress") and whole.is_secret("ingress.0.cidr_blocks.0")
    assert whole.is_secret("ingress.0.fromPort") and not whole.is_secret("description")
    inner = graph.one("aws:ec2/securityGroup:SecurityGroup", "sg2")
    # The SDK marks the whole top-level property secret when a value inside it is, as the engine then sees.
    assert inner.is_secret("ingress.0.description") and inner.is_secret("ingress.0.from_port")


_ORDER: list[tuple[str, str]] = []


def _tag(label: str, protect: bool = False) -> Any:
    """A transform that records its call, adds a tag and (optionally) protects the resource."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult:
        _ORDER.append((label, args.name))
        props = {**args.props, "tags": {**(args.props.get("tags") or {}), label: "yes"}}
        opts = (
            pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(protect=True))
            if protect
            else args.opts
        )
        return pulumi.ResourceTransformResult(props=props, opts=opts)

    return transform


class _Box(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hakit:test:Box", name, None, opts)
        aws.s3.Bucket(f"{name}-b", opts=pulumi.ResourceOptions(parent=self, transforms=[_tag("own")]))
        self.register_outputs({})


def test_transforms_run_in_the_engines_order() -> None:
    """Own transforms, then each ancestor's, then stack transforms (registered before the resource)."""
    _ORDER.clear()

    def program() -> None:
        aws.s3.Bucket("before")
        pulumi.runtime.register_resource_transform(_tag("stack", protect=True))
        _Box("box", opts=pulumi.ResourceOptions(transforms=[_tag("parent")]))

    graph = synth(program)
    assert _ORDER == [
        ("parent", "box"),
        ("stack", "box"),
        ("own", "box-b"),
        ("parent", "box-b"),
        ("stack", "box-b"),
    ]
    bucket = graph.one("aws:s3/bucket:Bucket", "box-b")
    assert bucket.input("tags") == {"own": "yes", "parent": "yes", "stack": "yes"}
    assert bucket.output("tags_all") == {
        "own": "yes",
        "parent": "yes",
        "stack": "yes",
    }  # mocks saw the result
    assert bucket.options.protect
    before = graph.one("aws:s3/bucket:Bucket", "before")
    assert before.input("tags", None) is None and not before.options.protect


def test_stack_references_are_supplied_by_the_test() -> None:
    def program() -> None:
        network = pulumi.StackReference("acme/network/prod")
        pulumi.export("vpc", network.get_output("vpcId"))
        pulumi.export("token", network.get_output("token"))

    graph = synth(
        program, stack_references={"acme/network/prod": {"vpcId": "vpc-1", "token": {"secure": "t"}}}
    )
    assert graph.stack_outputs == {"vpc": "vpc-1", "token": "t"}
    assert graph.secret_stack_outputs == {"token"}
    with pytest.raises(Exception, match="StackReference 'acme/other/prod': not supplied to synth"):
        synth(lambda: pulumi.StackReference("acme/other/prod"))


def test_config_secrets_reach_inputs_as_secrets() -> None:
    def program() -> None:
        config = pulumi.Config("app")
        aws.ssm.Parameter("p", type="SecureString", value=config.require_secret("dbPassword"))
        pulumi.export("region", config.require("region"))

    graph = synth(program, config={"app:dbPassword": {"secure": "v1:AAAA"}, "app:region": "eu-west-1"})
    parameter = graph.one("aws:ssm/parameter:Parameter")
    assert parameter.is_secret("value") and parameter.input("value") == "mock-secret-app-dbPassword"
    assert graph.stack_outputs["region"] == "eu-west-1"


def test_invoke_results_can_be_overridden_per_test() -> None:
    def program() -> None:
        pulumi.export("zones", aws.get_availability_zones_output().names)
        pulumi.export("account", aws.get_caller_identity_output().account_id)

    def invokes(token: str, args: Any) -> dict[str, Any] | None:
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ["us-east-1a"], "zoneIds": ["use1-az1"], "id": "us-east-1"}
        return None  # the built-in answer

    graph = synth(program, invokes=invokes)
    assert graph.stack_outputs == {"zones": ["us-east-1a"], "account": "123456789012"}


def test_pytest_plugin_loads_without_the_pulumi_sdk() -> None:
    """pytest loads the `synth` plugin in every project that installs hakit: a host agent has no Pulumi."""
    import subprocess
    import sys

    runner = (
        "import importlib.abc, sys\n"
        "class NoPulumi(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0].startswith('pulumi'):\n"
        "            raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, NoPulumi())\n"
        "import hakit.testing.pytest_plugin, hakit.testing\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('pulumi'))\n"
        "print(hakit.testing.ResourceGraph.__name__, loaded)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", runner], capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ResourceGraph", "[]"]

"""Every Pulumi.<env>.yaml run through infra/__main__.py under mocks, as `pulumi up` would load it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pulumi
import pytest
from hakit.errors import SpecError
from hakit.stacks.program import run, synth_stack
from hakit.testing import ResourceGraph, synth

ROOT = Path(__file__).resolve().parents[2]
LB = "aws:lb/loadBalancer:LoadBalancer"
RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
CLUSTER = "aws:rds/cluster:Cluster"

_GRAPHS: dict[str, ResourceGraph] = {}


def graph_of(env: str) -> ResourceGraph:
    """Synthesize each environment once per test session (each costs seconds)."""
    if env not in _GRAPHS:
        _GRAPHS[env] = synth_stack(env, root=ROOT)
    return _GRAPHS[env]


def _lb_by_region(graph: ResourceGraph) -> dict[str, str]:
    return {node.region or "": node.output("dns_name") for node in graph.by_type(LB)}


def test_prod_spans_both_regions_with_every_component() -> None:
    graph = graph_of("prod")
    assert graph.regions() == ["us-east-1", "us-west-2"]
    components = {node.type for node in graph.components}
    assert {
        "hakit:stacks:ServiceStack",
        "hakit:stacks:ServiceRegion",
        "hakit:loadbalancer:LoadBalancer",
        "hakit:dns:FailoverDns",
        "hakit:cdn:FailoverCdn",
        "hakit:database:GlobalDatabase",
        "hakit:backup:AwsBackup",
    } <= components
    for region in ("us-east-1", "us-west-2"):
        assert sum(1 for n in graph.resources if n.region == region) >= 10


def test_prod_dns_failover_is_wired_to_both_load_balancers() -> None:
    graph = graph_of("prod")
    balancers = _lb_by_region(graph)
    assert set(balancers) == {"us-east-1", "us-west-2"}
    records = {
        record.input("failover_routing_policies.0.type"): record
        for record in graph.by_type(RECORD)
        if record.input("failover_routing_policies", None)
    }
    assert set(records) == {"PRIMARY", "SECONDARY"}
    assert records["PRIMARY"].input("aliases.0.name") == balancers["us-east-1"]
    assert records["SECONDARY"].input("aliases.0.name") == balancers["us-west-2"]
    checks = {check.id: check for check in graph.by_type(HEALTH_CHECK)}
    controls = graph.by_type("aws:route53recoverycontrol/routingControl:RoutingControl")
    assert len(controls) == 2
    for role, region in (("PRIMARY", "us-east-1"), ("SECONDARY", "us-west-2")):
        # Each record is gated by "routing control On AND the region's endpoint healthy" (ARC in prod).
        gate = checks[records[role].input("health_check_id")]
        assert gate.input("type") == "CALCULATED" and gate.input("child_health_threshold") == 2
        children = [checks[child] for child in gate.input("child_healthchecks")]
        endpoint = next(c for c in children if c.input("type") == "HTTPS")
        assert endpoint.input("fqdn") == balancers[region]
        assert endpoint.input("resource_path") == "/healthz"
        control = next(c for c in children if c.input("type") == "RECOVERY_CONTROL")
        assert control.input("routing_control_arn") in {c.output("arn") for c in controls}
    # The CDN's primary origin is the failover name, its secondary the second region's own name.
    distribution = graph.one("aws:cloudfront/distribution:Distribution")
    origins = {o["originId"]: o["domainName"] for o in distribution.input("origins")}
    assert origins == {"primary": "origin.www.example.com", "secondary": "us-west-2.www.example.com"}
    assert distribution.input("aliases") == ["www.example.com"]
    zone_id = graph.one("aws:route53/zone:Zone").output("zone_id")
    assert zone_id and all(record.input("zone_id") == zone_id for record in graph.by_type(RECORD))
    entry = [r for r in graph.by_type(RECORD) if r.input("name") == "www.example.com"]
    assert {r.input("type") for r in entry} == {"A", "AAAA"}


def test_prod_database_secondary_in_the_second_region() -> None:
    graph = graph_of("prod")
    clusters = {node.region: node for node in graph.by_type(CLUSTER)}
    assert set(clusters) == {"us-east-1", "us-west-2"}
    global_cluster = graph.one("aws:rds/globalCluster:GlobalCluster")
    for cluster in clusters.values():
        assert cluster.input("global_cluster_identifier") == global_cluster.output(
            "global_cluster_identifier", "shop"
        )
        assert cluster.options.protect  # hakit:protect: true reaches the stateful resources
    assert clusters["us-west-2"].depends_on(clusters["us-east-1"]) or clusters["us-west-2"].dependencies
    # The clusters only admit the application instances (prod: the compute tier's security group).
    app_groups = {
        g.id for g in graph.by_type("aws:ec2/securityGroup:SecurityGroup") if g.name.endswith("-app-sg")
    }
    assert len(app_groups) == 2
    for group in graph.by_type("aws:ec2/securityGroup:SecurityGroup"):
        if group.name.endswith("-db-sg"):
            for rule in group.input("ingress"):
                assert "cidrBlocks" not in rule and set(rule["securityGroups"]) <= app_groups


def test_prod_backups_are_copied_cross_region() -> None:
    graph = graph_of("prod")
    plans = graph.by_type("aws:backup/plan:Plan")
    assert [plan.region for plan in plans] == ["us-east-1"]
    copies = [copy for rule in plans[0].input("rules") for copy in rule.get("copyActions", [])]
    assert copies and all(":us-west-2:" in copy["destinationVaultArn"] for copy in copies)
    vault_regions = sorted(vault.region or "" for vault in graph.by_type("aws:backup/vault:Vault"))
    assert vault_regions == ["us-east-1", "us-west-2"]


def test_prod_cdn_takes_the_shops_writes_on_the_primary() -> None:
    """POST/PUT/DELETE on the shop's write paths reach origin.<fqdn> (DNS failover), uncached."""
    dist = graph_of("prod").one("aws:cloudfront/distribution:Distribution")
    behaviors = {b["pathPattern"]: b for b in dist.input("ordered_cache_behaviors")}
    for pattern in ("/api/*", "/cart/*", "/checkout/*", "/account/*"):
        behavior = behaviors[pattern]
        assert {"POST", "PUT", "DELETE", "PATCH"} <= set(behavior["allowedMethods"])
        assert behavior["targetOriginId"] == "primary"  # never the origin group (reads only)
        assert behavior["cachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
    origins = {o["originId"]: o["domainName"] for o in dist.input("origins")}
    assert origins["primary"] == "origin.www.example.com"
    assert dist.input("default_cache_behavior.allowed_methods") == ["GET", "HEAD", "OPTIONS"]


def test_bad_cdn_write_path_is_one_line() -> None:
    from hakit.spec.stack import CdnSpec
    from pydantic import ValidationError

    for bad in ("api/*", "/a b", "/x;y", "/" + "a" * 255):
        with pytest.raises(ValidationError, match="a CloudFront path pattern like /api/\\*"):
            CdnSpec.model_validate({"write_path_patterns": [bad]})
    assert CdnSpec().write_path_patterns == ["/api/*", "/cart/*", "/checkout/*", "/account/*"]


def test_prod_exports_the_useful_outputs() -> None:
    outputs = graph_of("prod").stack_outputs
    assert outputs["entryUrl"] == "https://www.example.com/"
    assert outputs["writerEndpoint"].endswith(".global.rds.amazonaws.com")
    assert set(outputs["readerEndpoints"]) == {"us-east-1", "us-west-2"}
    assert outputs["cdnDomain"].endswith(".cloudfront.net")
    assert set(outputs["frontends"]) == {"us-east-1", "us-west-2"}
    assert outputs["slo"] == {"rtoSeconds": 300, "rpoSeconds": 60}
    assert set(outputs["backupVaults"]) == {"us-east-1", "us-west-2"}


def test_prod_outputs_drive_the_failover_runbooks() -> None:
    """`pulumi stack output --json` of prod is what `hakit failover --stack-outputs` reads."""
    from hakit.ops.failover_targets import FailoverTargets

    graph = graph_of("prod")
    targets = FailoverTargets.model_validate(graph.stack_outputs)
    assert targets.regions == ("us-east-1", "us-west-2")
    assert targets.global_cluster_identifier == graph.one("aws:rds/globalCluster:GlobalCluster").id
    assert set(targets.health_check_ids) == set(targets.routing_control_arns) == {"us-east-1", "us-west-2"}
    assert targets.arc_cluster_arn == graph.one("aws:route53recoverycontrol/cluster:Cluster").output("arn")


def test_without_recovery_control_records_use_their_endpoint_checks(tmp_path: Path) -> None:
    """prod minus `recovery_control`: each record is gated by its region's endpoint check, no ARC at all."""
    from hakit.ops.failover_targets import FailoverTargets

    text = (ROOT / "Pulumi.prod.yaml").read_text()
    assert "    recovery_control: true\n" in text
    (tmp_path / "Pulumi.noarc.yaml").write_text(text.replace("    recovery_control: true\n", ""))
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns("hakit", "__pycache__"))
    graph = synth_stack("noarc", root=tmp_path)
    balancers = _lb_by_region(graph)
    checks = {check.id: check for check in graph.by_type(HEALTH_CHECK)}
    assert not [n for n in graph.resources if n.type.startswith("aws:route53recoverycontrol/")]
    records = {
        r.input("failover_routing_policies.0.type"): r
        for r in graph.by_type(RECORD)
        if r.input("failover_routing_policies", None)
    }
    for role, region in (("PRIMARY", "us-east-1"), ("SECONDARY", "us-west-2")):
        check = checks[records[role].input("health_check_id")]
        assert check.input("type") == "HTTPS" and check.input("fqdn") == balancers[region]
    targets = FailoverTargets.model_validate(graph.stack_outputs)
    assert set(targets.health_check_ids) == {"us-east-1", "us-west-2"}
    assert targets.arc_cluster_arn is None and not targets.routing_control_arns


def test_staging_uses_latency_routing_and_a_keepalived_pair() -> None:
    graph = graph_of("staging")
    pair = graph.one("hakit:keepalived:KeepalivedPair")
    eip = graph.one("aws:ec2/eip:Eip")
    assert eip.region == "us-west-2"
    assert {n.region for n in graph.descendants(pair) if n.custom and n.type.startswith("aws:ec2/")} == {
        "us-west-2"
    }
    latency = {r.input("latency_routing_policies.0.region"): r for r in graph.by_type(RECORD)}
    assert set(latency) == {"us-east-1", "us-west-2"}
    assert latency["us-west-2"].input("records") == [eip.output("public_ip")]
    assert latency["us-east-1"].input("aliases.0.name") == _lb_by_region(graph)["us-east-1"]
    pair_group = graph.one("aws:ec2/securityGroup:SecurityGroup", "shop-us-west-2-pair-sg")
    assert graph.stack_outputs["frontends"]["us-west-2"] == {
        "kind": "keepalived",
        "eip": eip.output("public_ip"),
        "securityGroupId": pair_group.id,
    }


def test_dev_is_one_small_region() -> None:
    graph = graph_of("dev")
    assert graph.regions() == ["us-east-1"]
    (record,) = graph.by_type(RECORD)
    zone = graph.one("aws:route53/zone:Zone")
    assert zone.input("name") == "dev.example.com"
    assert record.input("zone_id") == zone.output("zone_id")
    assert graph.stack_outputs["nameServers"] == zone.output("name_servers")
    assert record.input("weighted_routing_policies.0.weight") == 100
    assert record.input("health_check_id")
    assert not graph.by_type(CLUSTER)
    assert len(graph.resources) < 20


def test_local_is_only_docker() -> None:
    graph = graph_of("local")
    assert graph.resources
    assert {node.type.split(":")[0] for node in graph.resources} == {"docker"}
    assert graph.stack_outputs["vip"] == "172.30.57.100"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (
            ("rto_seconds: 300", "rto_seconds: -5"),
            "hakit:slo.rto_seconds: Input should be greater than 0",
        ),
        (("policy: failover", "policy: anycast"), "hakit:routing.policy: Input should be 'failover'"),
        (
            ("    copy_region: us-west-2", "    copy_region: us-east-1"),
            "hakit:backup.copy_region: copies must leave the primary region",
        ),
    ],
)
def test_invalid_stack_files_fail_before_any_resource(
    tmp_path: Path, patch: tuple[str, str], expected: str
) -> None:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    assert patch[0] in text
    bad = text.replace(patch[0], patch[1])
    (tmp_path / "Pulumi.bad.yaml").write_text(bad)
    line_number = next(i for i, line in enumerate(bad.splitlines(), 1) if patch[1] in line)
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    with pytest.raises(SpecError) as caught:
        synth_stack("bad", root=tmp_path)
    (line,) = caught.value.lines
    assert line.startswith(f"{tmp_path / 'Pulumi.bad.yaml'}:{line_number}: {expected}"), line
    assert caught.value.exit_code == 2


def test_missing_stack_file_lists_the_stacks() -> None:
    with pytest.raises(SpecError) as caught:
        synth_stack("qa", root=ROOT)
    assert "no such stack file (stacks here: dev, local, prod, staging)" in caught.value.lines[0]


def test_program_rejects_bad_runtime_config_before_registering() -> None:
    """Under `pulumi up` the config comes from the engine: the program stops with a RunError, no traceback."""
    with pytest.raises(pulumi.RunError) as caught:
        synth(
            run, config={"hakit:service": {"name": "shop"}, "hakit:slo": {"rto_seconds": 1}}, project="hakit"
        )
    message = str(caught.value)
    assert "hakit:service.domain: required field is missing" in message
    assert "hakit:slo.rpo_seconds: required field is missing" in message


def test_three_regions_active_active(tmp_path: Path) -> None:
    """Up to three regions: latency records for each, the global database with two secondaries."""
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    third = """    - name: eu-west-1
      vpc_id: vpc-0c1d2e3f4a5b6c7d8
      subnet_ids: [subnet-0a1b1b1b1b1b1b1b1, subnet-0a2b2b2b2b2b2b2b2]
      targets: [10.2.1.10, 10.2.2.10]
      certificate_arn: arn:aws:acm:eu-west-1:123456789012:certificate/0b1d2c3e-prod-4000-8000-000000000009
  hakit:routing:
    policy: latency
"""
    text = text.replace("  hakit:routing:\n    policy: failover\n", third)
    (tmp_path / "Pulumi.three.yaml").write_text(text)
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns("hakit", "__pycache__"))
    graph = synth_stack("three", root=tmp_path)
    assert graph.regions() == ["eu-west-1", "us-east-1", "us-west-2"]
    latency = {
        r.input("latency_routing_policies.0.region")
        for r in graph.by_type(RECORD)
        if r.input("name") == "origin.www.example.com"
    }
    assert latency == {"eu-west-1", "us-east-1", "us-west-2"}
    assert sorted(n.region or "" for n in graph.by_type(CLUSTER)) == ["eu-west-1", "us-east-1", "us-west-2"]
    endpoint_checks = [c for c in graph.by_type(HEALTH_CHECK) if c.input("type") == "HTTPS"]
    assert sorted(c.name for c in endpoint_checks) == [
        f"shop-dns-hc-{r}" for r in ("eu-west-1", "us-east-1", "us-west-2")
    ]


def test_pulumi_up_passes_config_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The language host hands the program its config as PULUMI_CONFIG (JSON); run() reads it from there."""
    import json

    from hakit.testing import load_stack_config, normalize_config

    engine_config, _ = normalize_config(load_stack_config(str(ROOT / "Pulumi.local.yaml")), "hakit")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(engine_config))
    graph = synth(run, config={}, stack="local", project="hakit")
    assert graph.one("hakit:local:LocalLab").name == "shop"


def test_runtime_errors_name_the_stack_file_when_it_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Pulumi.test.yaml").write_text("config:\n  hakit:service:\n    name: shop\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pulumi.RunError) as caught:
        synth(run, config={"hakit:service": {"name": "shop"}}, project="hakit", stack="test")
    message = str(caught.value)
    assert f"{tmp_path / 'Pulumi.test.yaml'}:2: hakit:service.domain: required field is missing" in message
    assert f"{tmp_path / 'Pulumi.test.yaml'}:1: hakit:slo: required field is missing" in message


def test_component_rejections_stop_pulumi_up_in_one_line() -> None:
    from hakit.testing import load_stack_config

    config = load_stack_config(str(ROOT / "Pulumi.prod.yaml"))
    config["hakit:database"] = {**config["hakit:database"], "engine_version": "9.9"}
    with pytest.raises(pulumi.RunError) as caught:
        synth(run, config=config, stack="prod", project="hakit")
    # Checked before anything registers; the runtime value differs from the file here, so no file line.
    assert str(caught.value).startswith(
        "invalid stack config:\nstack prod: hakit:database.engine_version: Aurora PostgreSQL 9 cannot be"
    )

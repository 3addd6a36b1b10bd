"""The `hakit` stack-config model: one clear `FILE:LINE: hakit:path: problem` line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hakit.errors import SpecError
from hakit.spec.stack import StackConfig, stack_config_from_file, stack_config_from_mapping

ROOT = Path(__file__).resolve().parents[2]

REGION_A = """    - name: us-east-1
      role: primary
      vpc_id: vpc-0a1b2c3d4e5f60718
      subnet_ids: [subnet-0a0a0a0a0a0a0a0a0, subnet-0b0b0b0b0b0b0b0b0]
      targets: [10.0.1.10, 10.0.2.10]
      certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc
"""
REGION_B = """    - name: us-west-2
      vpc_id: vpc-0b1c2d3e4f5061728
      subnet_ids: [subnet-0d0d0d0d0d0d0d0d0, subnet-0e0e0e0e0e0e0e0e0]
      targets: [10.1.1.10, 10.1.2.10]
      certificate_arn: arn:aws:acm:us-west-2:123456789012:certificate/def
"""
HEAD = """config:
  aws:region: us-east-1
  hakit:service:
    name: shop
    domain: example.com
  hakit:slo:
    rto_seconds: 300
    rpo_seconds: 60
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(text)
    return path


def _errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        stack_config_from_file(_file(tmp_path, text))
    assert caught.value.exit_code == 2
    return caught.value.lines


@pytest.mark.parametrize("env", ["dev", "staging", "prod", "local"])
def test_every_environment_file_is_valid(env: str) -> None:
    config = stack_config_from_file(ROOT / f"Pulumi.{env}.yaml")
    assert config.slo.rto_seconds > 0
    assert config.target == ("local" if env == "local" else "aws")


def test_two_regions_prod_shape() -> None:
    config = stack_config_from_file(ROOT / "Pulumi.prod.yaml")
    assert [r.name for r in config.regions] == ["us-east-1", "us-west-2"]
    assert config.primary_region.name == "us-east-1"
    assert config.backup_copy_region == "us-west-2"
    assert config.cdn.enabled and config.database is not None and config.protect


def test_field_errors_name_file_line_and_key(tmp_path: Path) -> None:
    text = (
        HEAD.replace("name: shop", "name: Shop")
        + "  hakit:regoins: []\n  hakit:regions:\n"
        + REGION_A.replace("targets: [10.0.1.10, 10.0.2.10]", "targets: [10.0.1.300, 10.0.2.10]")
    )
    lines = _errors(tmp_path, text)
    source = str(tmp_path / "Pulumi.test.yaml")
    label = "'Shop' is not a DNS label (lower-case letters, digits, inner '-')"
    assert lines[0] == f"{source}:4: hakit:service.name: {label}"
    assert lines[1].startswith(f"{source}:9: hakit:regoins: unknown field")
    assert any(line.startswith(f"{source}:15: hakit:regions[0].targets[0]: ") for line in lines)
    assert len(lines) == 3  # one line per problem, nothing else


def test_cross_field_rules(tmp_path: Path) -> None:
    two_primaries = (
        HEAD
        + "  hakit:regions:\n"
        + REGION_A
        + REGION_B.replace("- name: us-west-2", "- name: us-west-2\n      role: primary")
    )
    lines = _errors(tmp_path, two_primaries)
    assert len(lines) == 1
    assert "hakit:regions[1].role: exactly one region has role primary (found 2)" in lines[0]

    cdn_one_region = HEAD + "  hakit:regions:\n" + REGION_A + "  hakit:cdn:\n    enabled: true\n"
    lines = _errors(tmp_path, cdn_one_region)
    assert any("hakit:cdn.enabled: origin failover needs a second region" in line for line in lines)
    assert any("hakit:cdn.certificate_arn:" in line for line in lines)
    assert all(":16: " in line or ":17: " in line for line in lines)  # the cdn lines, not line 1

    wrong_cert_region = HEAD + "  hakit:regions:\n" + REGION_A.replace("acm:us-east-1", "acm:eu-west-1")
    (line,) = _errors(tmp_path, wrong_cert_region)
    assert "hakit:regions[0].certificate_arn: ACM certificates are regional" in line

    backup_without_db = HEAD + "  hakit:regions:\n" + REGION_A + REGION_B + "  hakit:backup: {}\n"
    (line,) = _errors(tmp_path, backup_without_db)
    assert "hakit:backup: the backup plan protects the database" in line


def test_keepalived_region_needs_its_addresses(tmp_path: Path) -> None:
    pair = REGION_B.replace(
        "targets: [10.1.1.10, 10.1.2.10]", "targets: [10.1.1.10, 10.1.2.10]\n      frontend: keepalived"
    ) + ("      vpc_cidr: 10.1.0.0/16\n      keepalived:\n        private_ips: [10.1.1.50, 10.9.2.50]\n")
    lines = _errors(tmp_path, HEAD + "  hakit:regions:\n" + REGION_A + pair)
    assert len(lines) == 1
    assert "hakit:regions[1].keepalived.private_ips[1]: 10.9.2.50 is outside 10.1.0.0/16" in lines[0]


def test_local_target_needs_no_regions_but_lab_settings(tmp_path: Path) -> None:
    text = (
        HEAD.replace("  aws:region: us-east-1\n", "  hakit:target: local\n") + "  hakit:regions:\n" + REGION_A
    )
    lines = _errors(tmp_path, text)
    assert any("hakit:local: target local needs the lab settings" in line for line in lines)
    assert any("hakit:regions: target local deploys no cloud regions" in line for line in lines)


def test_yaml_syntax_error_is_one_line(tmp_path: Path) -> None:
    (line,) = _errors(tmp_path, "config:\n  hakit:service: [unclosed\n")
    assert line.startswith(str(tmp_path / "Pulumi.test.yaml") + ":")
    assert "(yaml)" in line


def test_runtime_config_as_the_engine_passes_it() -> None:
    """`pulumi up` hands structured values to the program as JSON text, scalars as strings."""
    raw = {
        "aws:region": "us-east-1",
        "hakit:target": "local",
        "hakit:service": json.dumps({"name": "shop", "domain": "lab.internal"}),
        "hakit:slo": json.dumps({"rto_seconds": 5, "rpo_seconds": 0}),
        "hakit:local": "{}",
        "hakit:protect": "false",
    }
    config = stack_config_from_mapping(raw)
    assert isinstance(config, StackConfig)
    assert config.local is not None and str(config.local.vip) == "172.30.57.100"
    with pytest.raises(SpecError) as caught:
        stack_config_from_mapping({**raw, "hakit:slo": json.dumps({"rto_seconds": 0, "rpo_seconds": 0})})
    assert caught.value.lines == ["pulumi config:1: hakit:slo.rto_seconds: Input should be greater than 0"]


def test_recovery_control_rules(tmp_path: Path) -> None:
    one_region = HEAD + "  hakit:regions:\n" + REGION_A + "  hakit:routing:\n    recovery_control: true\n"
    (line,) = _errors(tmp_path, one_region)
    assert "hakit:routing.recovery_control: routing controls shift traffic: add a second region" in line
    arn = "arn:aws:route53-recovery-control::123456789012:cluster/abc-1"
    shared = f"  hakit:routing:\n    arc_cluster_arn: {arn}\n"
    (line,) = _errors(tmp_path, HEAD + "  hakit:regions:\n" + REGION_A + REGION_B + shared)
    assert "hakit:routing.arc_cluster_arn: needs recovery_control: true" in line
    (line,) = _errors(tmp_path, HEAD + "  hakit:routing:\n    arc_cluster_arn: cluster-1\n")
    assert "hakit:routing.arc_cluster_arn: 'cluster-1' is not a Route 53 ARC cluster ARN" in line


def test_keepalived_pair_needs_two_zones(tmp_path: Path) -> None:
    pair = REGION_B.replace(
        "targets: [10.1.1.10, 10.1.2.10]", "targets: [10.1.1.10, 10.1.2.10]\n      frontend: keepalived"
    ) + (
        "      availability_zones: [us-west-2a, us-west-2a]\n      vpc_cidr: 10.1.0.0/16\n"
        "      keepalived:\n        private_ips: [10.1.1.50, 10.1.2.50]\n"
    )
    (line,) = _errors(tmp_path, HEAD + "  hakit:regions:\n" + REGION_A + pair)
    assert (
        "hakit:regions[1].availability_zones: the keepalived pair needs its first two subnets in two AZs"
        in line
    )

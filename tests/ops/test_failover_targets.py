"""Stack outputs (`pulumi stack output --json`) and CLI options -> FailoverTargets, with FILE:LINE errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hakit.errors import SpecError
from hakit.ops.failover_targets import load_stack_outputs, parse_region_pairs, resolve_targets

FULL = {
    "globalClusterIdentifier": "orders-global",
    "regions": ["us-east-1", "us-west-2"],
    "healthCheckIds": {"us-east-1": "hc-1", "us-west-2": "hc-2"},
    "arcClusterArn": "arn:aws:route53-recovery-control::123456789012:cluster/c",
    "routingControlArns": {"eu-west-1": "arn:aws:route53-recovery-control::123456789012:x"},
    "dynamodbTableName": "sessions",
    "albDnsName": "ignored.example.com",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(text)
    return path


def test_reads_every_documented_key_and_ignores_the_rest(tmp_path: Path) -> None:
    targets = load_stack_outputs(write(tmp_path, json.dumps(FULL, indent=2)))
    assert targets.global_cluster_identifier == "orders-global"
    assert targets.health_check_ids == {"us-east-1": "hc-1", "us-west-2": "hc-2"}
    assert targets.dynamodb_table_name == "sessions"
    assert targets.all_regions() == ("us-east-1", "us-west-2", "eu-west-1")


def test_options_override_the_stack_outputs(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(FULL))
    targets = resolve_targets(
        path, {"global_cluster_identifier": "other", "regions": (), "health_check_ids": {}}
    )
    assert targets.global_cluster_identifier == "other"
    assert targets.regions == ("us-east-1", "us-west-2")  # empty options keep the file's values


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n  "regions": [\n', "outputs.json:3: invalid JSON: Expecting value"),
        ("[1, 2]", "outputs.json:1: stack outputs must be a JSON object (pulumi stack output --json)"),
        (
            '{\n  "dynamodbTableName": "s",\n  "regions": ["us-east-1"]\n}',
            "outputs.json:2: dynamodbTableName: String should have at least 3 characters",
        ),
        (
            '{\n  "regions": [],\n  "healthCheckIds": {"nowhere": "hc"}\n}',
            "outputs.json:3: healthCheckIds: Value error, key 'nowhere' is not an AWS region name",
        ),
        (
            '{"routingControlArns": {"us-east-1": "arn:x"}}',
            "outputs.json:1: (root): Value error, routingControlArns needs arcClusterArn "
            "(its endpoints serve the data plane)",
        ),
    ],
)
def test_bad_stack_outputs_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_stack_outputs(path)
    assert err.value.exit_code == 2
    assert err.value.lines == [f"{tmp_path}/{message}"]


def test_missing_file_and_bad_region_pairs(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read stack outputs: No such file or directory"):
        load_stack_outputs(tmp_path / "absent.json")
    assert parse_region_pairs(["us-east-1=hc-1", "us-west-2=a=b"], "--health-check") == {
        "us-east-1": "hc-1",
        "us-west-2": "a=b",
    }
    with pytest.raises(SpecError, match=r"^--routing-control: expected REGION=VALUE"):
        parse_region_pairs(["arn:aws:x"], "--routing-control")

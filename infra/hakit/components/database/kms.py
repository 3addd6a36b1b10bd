"""One customer-managed KMS key per region (or the caller's), for storage, secrets and insights."""

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws.kms as kms


def regional_keys(
    name: str,
    regions: Sequence[str],
    given: Mapping[str, Any],
    *,
    purpose: str,
    tags: Mapping[str, Any],
    parent: pulumi.Resource,
    policy: pulumi.Input[str] | None = None,
) -> dict[str, pulumi.Output[str]]:
    """Return a key ARN per region: the caller's key where given, else a new key with yearly rotation."""
    arns: dict[str, pulumi.Output[str]] = {}
    for region in regions:
        if region in given:
            arns[region] = pulumi.Output.from_input(given[region])
            continue
        key = kms.Key(
            f"{name}-{region}",
            description=f"hakit {purpose} {name} ({region})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy,
            region=region,
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        arns[region] = key.arn
    return arns

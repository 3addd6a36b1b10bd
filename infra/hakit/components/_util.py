"""Small helpers shared by hakit components: child options, tags, regions, argument checks, WAF.

Stable API for every component module: `child_opts`, `region_kwargs`, `merge_tags`, `fail`, `check_range`,
`check_choice`, `check_region`, `check_cidr`, `check_ip`, `require_plain`, `partition_of`, `arn_region`,
`resource_suffix`,
`unique`, `check_waf`, `rate_limited_web_acl`, `service_trust_policy`.
Nothing here imports a pulumi_aws submodule at import time (see `rate_limited_web_acl`).
"""

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypedDict

import pulumi

# Tags every hakit resource carries, so analysis and operators can find what a component made.
TAG_COMPONENT = "hakit:component"
TAG_NAME = "hakit:name"

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


def child_opts(parent: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
    """Options for a component's child: parented to it, so providers/protect flow down as the engine does."""
    return pulumi.ResourceOptions(parent=parent, **extra)


def region_kwargs(region: str | None) -> dict[str, Any]:
    """`{"region": region}` when the caller pinned a region, else `{}` (provider/stack region applies)."""
    return {"region": region} if region else {}


def merge_tags(token: str, name: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's tags plus hakit's identifying tags (the caller's win on conflicts)."""
    return {TAG_COMPONENT: token, TAG_NAME: name, **dict(tags or {})}


def service_trust_policy(service: str) -> str:
    """An IAM trust policy that lets one AWS service (e.g. `fis.amazonaws.com`) assume a role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        },
        sort_keys=True,
    )


def fail(where: str, message: str) -> NoReturn:
    """Raise the one-line argument error every component uses: `Args.path: what is wrong`."""
    raise ValueError(f"{where}: {message}")


def check_range(value: Any, low: int, high: int, where: str) -> None:
    """Reject a plain number outside [low, high]; Outputs are not checked (unknown until deployment)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        if value is not None and not isinstance(value, pulumi.Output):
            fail(where, f"must be a number, got {value!r}")
        return
    if not low <= value <= high:
        fail(where, f"{value} is out of range {low}..{high}")


def check_choice(value: Any, choices: Iterable[Any], where: str) -> None:
    """Reject a plain value that is not one of `choices`."""
    allowed = list(choices)
    if value not in allowed:
        fail(where, f"{value!r} is not one of {', '.join(repr(c) for c in allowed)}")


def check_region(value: Any, where: str) -> None:
    """Reject a plain string that does not look like an AWS region name."""
    if isinstance(value, str) and not _REGION_RE.fullmatch(value):
        fail(where, f"{value!r} is not an AWS region name")


def check_cidr(value: Any, where: str) -> None:
    """Reject a plain string that is not a CIDR block with its host bits clear (`10.0.0.0/16`, `::/0`)."""
    if isinstance(value, pulumi.Output):
        return
    try:
        ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        fail(where, f"{value!r} is not a CIDR block (network address / prefix length)")
    if "/" not in str(value):
        fail(where, f"{value!r} is not a CIDR block (no prefix length)")


def check_ip(value: Any, version: int, where: str) -> None:
    """Reject a plain string that is not an IPv4 (`version` 4) or IPv6 (6) address."""
    if isinstance(value, pulumi.Output):
        return
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        fail(where, f"{value!r} is not an IP address")
    if address.version != version:
        fail(where, f"{value!r} is not an IPv{version} address")


def require_plain(value: Any, where: str) -> None:
    """Structural arguments must be known while the program runs (not Outputs)."""
    if isinstance(value, pulumi.Output):
        fail(where, "must be a plain value (the component's shape depends on it), not an Output")


def account_administers_key(partition: str, account: str) -> dict[str, Any]:
    """The KMS key-policy statement that lets the account's IAM administer the key (AWS's default)."""
    return {
        "Sid": "AccountAdministers",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def partition_of(parent: pulumi.Resource) -> pulumi.Output[str]:
    """The AWS partition (`aws`, `aws-us-gov`, `aws-cn`) of the provider `parent`'s children use.

    Asked from the provider (the getPartition invoke, parented so the caller's provider applies) instead
    of writing `arn:aws:`: ARNs built with the commercial partition are wrong in GovCloud and China.
    """
    import pulumi_aws

    return pulumi_aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=parent)).partition


def arn_region(arn: str) -> str:
    """The region field of an ARN (`arn:aws:acm:us-east-1:...` -> `us-east-1`); '' for global ARNs."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else ""


def resource_suffix(text: str) -> str:
    """A logical-name-safe form of a user label (`eu-west-1`, `Primary Cell` -> `primary-cell`)."""
    cleaned = _UNSAFE.sub("-", text).strip("-").lower()
    return cleaned or "x"


def unique(values: Sequence[str]) -> list[str]:
    """Values that occur more than once, in first-seen order."""
    seen: set[str] = set()
    dupes: list[str] = []
    for value in values:
        if value in seen and value not in dupes:
            dupes.append(value)
        seen.add(value)
    return dupes


class RateLimitedWebAclSettings(TypedDict, total=False):
    """Plain settings for `rate_limited_web_acl` (components expose their own documented Args)."""

    rate_limit: int
    evaluation_window_sec: int
    managed_rule_groups: list[str]


WAF_WINDOWS = (60, 120, 300, 600)


def check_waf(settings: Mapping[str, Any], where: str) -> None:
    """Validate rate-limit settings (AWS WAF: limit 10..2e9 per window, window 60/120/300/600 s)."""
    check_range(settings.get("rate_limit", 2000), 10, 2_000_000_000, f"{where}.rate_limit")
    check_choice(settings.get("evaluation_window_sec", 300), WAF_WINDOWS, f"{where}.evaluation_window_sec")
    for i, group in enumerate(settings.get("managed_rule_groups", []) or []):
        if not isinstance(group, str) or not group:
            fail(
                f"{where}.managed_rule_groups[{i}]",
                "must be a rule group name such as 'AWSManagedRulesCommonRuleSet'",
            )


def rate_limited_web_acl(
    name: str,
    *,
    scope: str,
    settings: Mapping[str, Any],
    parent: pulumi.Resource,
    region: str | None,
    tags: Mapping[str, str],
) -> Any:
    """A WAFv2 web ACL: AWS managed rule groups first, then a per-IP rate-based block rule; default allow.

    `scope` is REGIONAL (ALB) or CLOUDFRONT (which AWS only accepts in us-east-1). Imports
    `pulumi_aws.wafv2` here, so components that do not ask for WAF never pay for it.
    """
    import pulumi_aws.wafv2 as wafv2

    metric = resource_suffix(name)[:100]
    rules: list[Any] = []
    groups = list(settings.get("managed_rule_groups", ["AWSManagedRulesCommonRuleSet"]) or [])
    for priority, group in enumerate(groups):
        rules.append(
            {
                "name": group,
                "priority": priority,
                "override_action": {"none": {}},
                "statement": {"managed_rule_group_statement": {"name": group, "vendor_name": "AWS"}},
                "visibility_config": _visibility(f"{metric}-{group}"),
            }
        )
    rules.append(
        {
            "name": "rate-limit-per-ip",
            "priority": len(groups),
            "action": {"block": {}},
            "statement": {
                "rate_based_statement": {
                    "aggregate_key_type": "IP",
                    "limit": settings.get("rate_limit", 2000),
                    "evaluation_window_sec": settings.get("evaluation_window_sec", 300),
                }
            },
            "visibility_config": _visibility(f"{metric}-rate-limit"),
        }
    )
    default_action: Any = {"allow": {}}
    return wafv2.WebAcl(
        name,
        scope=scope,
        default_action=default_action,
        rules=rules,
        visibility_config=_visibility(metric),
        tags=dict(tags),
        opts=child_opts(parent),
        **region_kwargs(region),
    )


def _visibility(metric: str) -> Any:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric[:128], "sampled_requests_enabled": True}

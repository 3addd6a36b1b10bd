"""What a runbook acts on: resource names read from `pulumi stack output --json` and/or CLI options."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hakit.errors import SpecError

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
_REGION_RE = re.compile(REGION_PATTERN)

# The stack-output keys the runbooks read (camelCase, as Pulumi exports them); any other key is ignored.
STACK_OUTPUT_KEYS = (
    "globalClusterIdentifier",
    "regions",
    "healthCheckIds",
    "arcClusterArn",
    "routingControlArns",
    "dynamodbTableName",
)


class FailoverTargets(BaseModel):
    """The resources of one multi-region stack that status/switchover/failover look at."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    global_cluster_identifier: str | None = Field(default=None, alias="globalClusterIdentifier", min_length=1)
    regions: tuple[str, ...] = Field(default=(), alias="regions")
    health_check_ids: dict[str, str] = Field(default_factory=dict, alias="healthCheckIds")
    arc_cluster_arn: str | None = Field(default=None, alias="arcClusterArn", pattern=r"^arn:")
    routing_control_arns: dict[str, str] = Field(default_factory=dict, alias="routingControlArns")
    dynamodb_table_name: str | None = Field(default=None, alias="dynamodbTableName", min_length=3)

    @field_validator("regions")
    @classmethod
    def _regions_look_like_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            if not _REGION_RE.fullmatch(region):
                raise ValueError(f"{region!r} is not an AWS region name")
        if len(set(value)) != len(value):
            raise ValueError("regions must not repeat")
        return value

    @field_validator("health_check_ids", "routing_control_arns")
    @classmethod
    def _keys_are_regions(cls, value: dict[str, str]) -> dict[str, str]:
        for region in value:
            if not _REGION_RE.fullmatch(region):
                raise ValueError(f"key {region!r} is not an AWS region name")
        return value

    @model_validator(mode="after")
    def _routing_controls_need_cluster(self) -> FailoverTargets:
        if self.routing_control_arns and not self.arc_cluster_arn:
            raise ValueError("routingControlArns needs arcClusterArn (its endpoints serve the data plane)")
        return self

    def all_regions(self) -> tuple[str, ...]:
        """Regions named anywhere, `regions` first and in order."""
        seen = list(self.regions)
        for region in [*self.health_check_ids, *self.routing_control_arns]:
            if region not in seen:
                seen.append(region)
        return tuple(seen)


def _line_of_key(text: str, key: str) -> int:
    """1-based line where `"key":` first appears (1 when not found), for FILE:LINE messages."""
    match = re.search(r'"' + re.escape(key) + r'"\s*:', text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def load_stack_outputs(path: Path) -> FailoverTargets:
    """Read `pulumi stack output --json > FILE`; errors are `FILE:LINE: key: what is wrong` (exit 2)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"{path}: cannot read stack outputs: {err.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}:1: stack outputs must be a JSON object (pulumi stack output --json)")
    try:
        return FailoverTargets.model_validate(raw)
    except ValidationError as err:
        lines = []
        for problem in err.errors():
            loc = [str(part) for part in problem["loc"]]
            key = loc[0] if loc else ""
            where = _line_of_key(text, key) if key else 1
            lines.append(f"{path}:{where}: {'.'.join(loc) or '(root)'}: {problem['msg']}")
        raise SpecError(lines) from None


def parse_region_pairs(values: list[str], option: str) -> dict[str, str]:
    """Parse repeated `REGION=VALUE` options into a dict (bad input is a SpecError, exit 2)."""
    pairs: dict[str, str] = {}
    for item in values:
        region, sep, value = item.partition("=")
        if not sep or not value or not _REGION_RE.fullmatch(region):
            raise SpecError(f"{option}: expected REGION=VALUE (e.g. us-east-1=...), got {item!r}")
        pairs[region] = value
    return pairs


def resolve_targets(stack_outputs: Path | None, overrides: dict[str, Any]) -> FailoverTargets:
    """Stack outputs (if given) with each non-empty CLI override (by field name) on top; SpecError if bad."""
    base = load_stack_outputs(stack_outputs).model_dump() if stack_outputs is not None else {}
    base.update({k: v for k, v in overrides.items() if v not in (None, (), [], {})})
    try:
        return FailoverTargets.model_validate(base)
    except ValidationError as err:
        raise SpecError(
            [f"options: {'.'.join(map(str, p['loc'])) or '(root)'}: {p['msg']}" for p in err.errors()]
        ) from None

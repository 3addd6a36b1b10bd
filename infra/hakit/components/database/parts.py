"""What every engine builder hands back to the GlobalDatabase component."""

from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pulumi

T = TypeVar("T")


def as_secret(value: pulumi.Output[T]) -> pulumi.Output[T]:
    """Mark an Output secret (a typed wrapper: Output.secret's stub does not infer through Outputs)."""
    return cast(pulumi.Output[T], pulumi.Output.secret(cast(Any, value)))


def arn_in_region(arn: pulumi.Output[str], home: str, region: str) -> pulumi.Output[str]:
    """The ARN of the same-named resource in another region (replicas share name and account)."""
    return arn.apply(lambda value: value.replace(f":{home}:", f":{region}:"))


@dataclass
class EngineParts:
    """Endpoints, per-region connection info and protectable ARNs of one engine's resources."""

    writer_endpoint: pulumi.Output[str]
    reader_endpoints: dict[str, pulumi.Output[str]]
    connections: dict[str, pulumi.Output[dict[str, Any]]]
    resource_arns: dict[str, list[pulumi.Output[str]]]
    global_arn: pulumi.Output[str] | None = None
    master_secret_arn: pulumi.Output[str] | None = None
    members: list[pulumi.Resource] = field(default_factory=list)

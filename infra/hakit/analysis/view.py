"""The neutral view rules read: resources with type, name, props, region, parent and references.

One view type serves two sources: a `ResourceGraph` from the mock harness (`from_graph`) and the
`PolicyResource` objects pulumi-policy hands to a policy pack (`from_policy_resources`). Rules never see
either source directly, so one implementation of each rule serves `hakit report` and `pulumi preview`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hakit.testing.graph import ResourceGraph


class _Unknown:
    """A value the engine cannot know yet (preview): rules treat it as 'set, but unreadable'."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        return True


UNKNOWN: Any = _Unknown()
"""The single unknown marker."""

# pulumi-policy's wire sentinels for unknown values (pulumi_policy.proxy).
_UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)

_MISSING = object()

GLOBAL = "global"
GLOBAL_SERVICES = frozenset({"route53", "cloudfront", "iam", "globalaccelerator", "route53recoverycontrol"})
"""AWS services whose resources are global whatever region their API call goes to (as `hakit plan`)."""
GLOBAL_TYPES = frozenset({"aws:rds/globalCluster:GlobalCluster"})
"""Resource types that span regions although their API call goes to one."""


def _camel(part: str) -> str:
    head, *rest = part.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def is_unknown(value: Any) -> bool:
    """True for the unknown marker."""
    return value is UNKNOWN


@dataclass(frozen=True)
class Resource:
    """One resource as rules see it: props in camelCase (wire casing), references as URNs."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    region: str | None = None
    parent: str | None = None
    refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Top-level prop name -> URNs of the resources whose outputs flowed into it."""
    secret_paths: frozenset[str] | None = None
    """Dotted camelCase paths that were secret; None when the source cannot tell."""
    protect: bool = False
    physical_id: str | None = None

    def get(self, path: str, default: Any = None) -> Any:
        """A prop by dotted path in snake_case or camelCase; list items by index (`origins.0.domainName`)."""
        value: Any = self.props
        for part in path.split("."):
            if value is UNKNOWN:
                return UNKNOWN
            if isinstance(value, list) and part.isdigit():
                index = int(part)
                value = value[index] if index < len(value) else _MISSING
            elif isinstance(value, Mapping):
                value = value.get(part, value.get(_camel(part), _MISSING))
            else:
                value = _MISSING
            if value is _MISSING:
                return default
        return value

    def items(self, path: str) -> list[Any]:
        """A list prop (missing or unknown -> [])."""
        value = self.get(path)
        return list(value) if isinstance(value, list) else []

    def label(self) -> str:
        """`type-suffix name` for tables: `Record app-primary`."""
        return f"{self.type.rsplit(':', 1)[-1]} {self.name}"

    def placement(self) -> str | None:
        """Where the resource lives, as `hakit plan` places it: its region, or `global` for global services
        (Route 53, CloudFront, IAM, ARC, global clusters, CloudFront-scope WAF); None when unknown."""
        if self.type.startswith("aws:"):
            service = self.type.split(":")[1].split("/")[0]
            if service in GLOBAL_SERVICES or self.type in GLOBAL_TYPES:
                return GLOBAL
            if service == "wafv2" and str(self.get("scope") or "").upper() == "CLOUDFRONT":
                return GLOBAL
        return self.region

    def is_secret(self, path: str) -> bool | None:
        """True/False when the source tracks secrets, None when it cannot tell."""
        if self.secret_paths is None:
            return None
        # Paths built from prop keys are already wire names (`DB_PASSWORD` must stay as it is).
        candidates = {path, ".".join(_camel(p) for p in path.split("."))}
        # A secret ancestor (a whole object made secret by one secret field) covers the path too.
        return any(
            s == c or s.startswith(c + ".") or c.startswith(s + ".")
            for s in self.secret_paths
            for c in candidates
        )


@dataclass
class StackView:
    """Every resource of a stack (or one resource, for per-resource policies) plus optional config."""

    resources: list[Resource]
    config: Mapping[str, Any] = field(default_factory=dict)
    _by_urn: dict[str, Resource] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Registration order follows Output resolution and changes between runs: every rule, stage and
        # diagram reads the view in URN order (and references in URN order) so output is byte-stable.
        self.resources = sorted(
            (
                replace(r, refs={k: tuple(sorted(set(v))) for k, v in sorted(r.refs.items())})
                for r in self.resources
            ),
            key=lambda r: r.urn,
        )
        self._by_urn = {r.urn: r for r in self.resources}

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def of_type(self, *types: str) -> list[Resource]:
        """Resources of any of these type tokens, in registration order."""
        return [r for r in self.resources if r.type in types]

    def by_urn(self, urn: str) -> Resource | None:
        """The resource with this URN, if it is in the view."""
        return self._by_urn.get(urn)

    def referenced(self, resource: Resource, prop: str, *types: str) -> list[Resource]:
        """Resources whose outputs flowed into `prop` (by dependency, else by matching ARN/id values)."""
        found: list[Resource] = []
        for urn in resource.refs.get(_camel(prop.split(".")[0]), ()):
            target = self._by_urn.get(urn)
            if target is not None and (not types or target.type in types) and target not in found:
                found.append(target)
        if found:
            return found
        wanted = set(_scalars(resource.get(prop)))
        if not wanted:
            return []
        for candidate in self.resources if not types else self.of_type(*types):
            keys = {candidate.physical_id, candidate.get("arn"), candidate.get("id"), candidate.get("name")}
            if wanted & {k for k in keys if isinstance(k, str) and k}:
                found.append(candidate)
        return found

    def referencing(self, target: Resource, *types: str) -> list[Resource]:
        """Resources (of these types) with any prop that refers to `target`."""
        return [
            r
            for r in (self.of_type(*types) if types else self.resources)
            if any(target.urn in urns for urns in r.refs.values())
        ]


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, str) and value:
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)


def num(value: Any) -> str:
    """A number for messages: `80` not `80.0` (the engine sends numbers as floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def region_from_arn(arn: Any) -> str | None:
    """The region field of an ARN (`arn:aws:backup:eu-west-1:...` -> eu-west-1)."""
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":")
        if len(parts) > 3 and parts[3]:
            return parts[3]
    return None


# ------------------------------------------------------------------ adaptors


IDENTITY_OUTPUTS = frozenset(
    {
        "arn",
        "id",
        "name",
        "bucket",
        "dnsName",
        "zoneId",
        "domainName",
        "hostedZoneId",
        "bucketDomainName",
        "bucketRegionalDomainName",
        "endpoint",
        "readerEndpoint",
        "clusterIdentifier",
        "globalClusterIdentifier",
        "allocationId",
        "publicIp",
    }
)
"""Computed outputs a graph view keeps: what references resolve against, never settings."""


def from_graph(graph: ResourceGraph, config: Mapping[str, Any] | None = None) -> StackView:
    """The view of a harness graph: custom resources with their inputs (outputs fill gaps such as `arn`)."""
    resources = []
    for node in graph.resources:
        # Only identity outputs: other mock outputs are invented values that rules must not read as settings.
        identity = {k: v for k, v in node.outputs.items() if k in IDENTITY_OUTPUTS and k not in node.inputs}
        props = {**identity, **node.inputs}
        resources.append(
            Resource(
                urn=node.urn,
                type=node.type,
                name=node.name,
                props=props,
                region=node.region,
                parent=node.parent,
                refs=dict(node.property_dependencies),
                secret_paths=frozenset(node.secret_inputs),
                protect=node.options.protect,
                physical_id=node.id,
            )
        )
    return StackView(resources, dict(config or {}))


def plain(value: Any) -> Any:
    """Copy pulumi-policy props into plain dicts/lists, turning unknowns into UNKNOWN."""
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in list(value):
            result[str(key)] = plain(_read(value, key))
        return result
    if isinstance(value, Sequence):
        return [plain(_read(value, index)) for index in range(len(value))]
    if type(value).__name__ == "Secret" and hasattr(value, "value"):
        return plain(value.value)
    return value


def _read(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except Exception as err:  # pulumi_policy.proxy.UnknownValueError: not importable without the extra
        if type(err).__name__ == "UnknownValueError":
            return UNKNOWN
        raise


def _secret_paths(value: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of pulumi-policy `Secret` wrappers (resource policies receive inputs with them)."""
    if type(value).__name__ == "Secret" and hasattr(value, "value"):
        yield path
        return
    if isinstance(value, Mapping):
        for key in list(value):
            try:
                child = value[key]
            except Exception:
                continue
            yield from _secret_paths(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for index in range(len(value)):
            try:
                child = value[index]
            except Exception:
                continue
            yield from _secret_paths(child, f"{path}.{index}" if path else str(index))


def _policy_region(props: Mapping[str, Any], provider: Any) -> str | None:
    own = props.get("region")
    if isinstance(own, str) and own:
        return own
    provider_props = plain(getattr(provider, "props", None) or {})
    region = provider_props.get("region") if isinstance(provider_props, Mapping) else None
    return region if isinstance(region, str) and region else None


def from_policy_resource(
    resource_type: str,
    props: Any,
    urn: str,
    name: str,
    provider: Any = None,
    *,
    parent: str | None = None,
    property_dependencies: Mapping[str, Iterable[Any]] | None = None,
    protect: bool = False,
    track_secrets: bool = False,
) -> Resource:
    """A view resource from pulumi-policy fields (ResourceValidationArgs or a stack's PolicyResource)."""
    # pulumi-policy keeps `Secret` wrappers only on some paths (remediation): none means "cannot tell".
    secrets = (frozenset(_secret_paths(props)) or None) if track_secrets else None
    clean = plain(props)
    refs = {
        key: tuple(getattr(dep, "urn", dep) for dep in deps)
        for key, deps in (property_dependencies or {}).items()
    }
    physical_id = clean.get("id") if isinstance(clean.get("id"), str) else None
    return Resource(
        urn=urn,
        type=resource_type,
        name=name,
        props=clean,
        region=_policy_region(clean, provider),
        parent=parent,
        refs=refs,
        secret_paths=secrets,
        protect=protect,
        physical_id=physical_id,
    )


def from_policy_resources(resources: Iterable[Any]) -> StackView:
    """The view of `StackValidationArgs.resources` (custom resources only; components carry no props)."""
    view: list[Resource] = []
    for item in resources:
        if item.resource_type.startswith("pulumi:") or not _is_custom(item.resource_type):
            continue
        parent = getattr(item, "parent", None)
        view.append(
            from_policy_resource(
                item.resource_type,
                item.props,
                item.urn,
                item.name,
                getattr(item, "provider", None),
                parent=getattr(parent, "urn", None),
                property_dependencies=getattr(item, "property_dependencies", None),
                protect=bool(getattr(getattr(item, "opts", None), "protect", False)),
            )
        )
    return StackView(view)


def _is_custom(type_token: str) -> bool:
    """Provider resource types look like `pkg:module/name:Name`; components have no slash (`hakit:dns:X`)."""
    return "/" in type_token.split(":")[1] if type_token.count(":") == 2 else False

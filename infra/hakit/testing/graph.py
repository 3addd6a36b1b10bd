"""The resource graph a synth produces: nodes with inputs, options and relations, and queries over them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def snake_to_camel(name: str) -> str:
    """`health_check_id` -> `healthCheckId` (the engine's wire casing)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_to_snake(name: str) -> str:
    """`healthCheckId` -> `health_check_id`."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def to_snake(value: Any) -> Any:
    """Return `value` with every mapping key converted to snake_case, recursively."""
    if isinstance(value, Mapping):
        return {camel_to_snake(str(k)): to_snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_snake(v) for v in value]
    return value


_MISSING = object()


@dataclass(frozen=True)
class Options:
    """Resource options as the engine received them."""

    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    replace_on_changes: tuple[str, ...] = ()
    additional_secret_outputs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    import_id: str = ""
    version: str = ""
    custom_timeouts: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Node:
    """One registered resource (custom, component or provider)."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str | None
    parent: str | None
    provider: str | None
    region: str | None
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    options: Options
    secret_inputs: frozenset[str]
    children: list[str] = field(default_factory=list)

    @property
    def is_component(self) -> bool:
        """True for ComponentResources (not custom, not providers)."""
        return not self.custom and not self.type.startswith("pulumi:providers:")

    @property
    def is_provider(self) -> bool:
        """True for provider resources."""
        return self.type.startswith("pulumi:providers:")

    @property
    def snake_inputs(self) -> dict[str, Any]:
        """Inputs with every key in snake_case, as Python programs wrote them."""
        result: dict[str, Any] = to_snake(self.inputs)
        return result

    def input(self, path: str, default: Any = _MISSING) -> Any:
        """Look up an input by dotted path in snake_case or camelCase (`health_check.path`, `tags.Name`)."""
        value: Any = self.inputs
        for part in path.split("."):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
                continue
            if not isinstance(value, Mapping):
                value = _MISSING
                break
            for key in (part, snake_to_camel(part)):
                if key in value:
                    value = value[key]
                    break
            else:
                value = _MISSING
                break
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(
                    f"{self.type} {self.name!r} has no input {path!r}; it has {sorted(self.inputs)}"
                )
            return default
        return value

    def output(self, key: str, default: Any = None) -> Any:
        """Look up a (mock) output property by snake_case or camelCase name."""
        for candidate in (key, snake_to_camel(key)):
            if candidate in self.outputs:
                return self.outputs[candidate]
        return default

    def is_secret(self, path: str) -> bool:
        """True when the input at `path` (camelCase or snake_case, dotted) is secret or holds a secret.

        The engine's rule: a secret taints everything inside it, so `origins.0.customHeaders.0.value` is
        secret when `origins` was passed as a secret; a container that holds a secret somewhere is
        reported too, since showing it would show the secret.
        """
        camel = ".".join(snake_to_camel(p) for p in path.split("."))
        return any(
            s == camel or s.startswith(camel + ".") or camel.startswith(s + ".") for s in self.secret_inputs
        )

    def depends_on(self, other: Node) -> bool:
        """True when this resource has an explicit or property dependency on `other`."""
        if other.urn in self.dependencies:
            return True
        return any(other.urn in deps for deps in self.property_dependencies.values())

    def short(self) -> str:
        """`type name (region)` for messages."""
        region = f" @{self.region}" if self.region else ""
        return f"{self.type} {self.name}{region}"


class DuplicateUrnError(Exception):
    """Two resources registered the same URN (the engine rejects this; bare mocks do not)."""


@dataclass
class ResourceGraph:
    """Every resource a program registered, with parent/child and dependency relations."""

    nodes: dict[str, Node]
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    secret_stack_outputs: frozenset[str] = frozenset()
    stack: str = "test"
    project: str = "project"

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def resources(self) -> list[Node]:
        """Custom resources only (what a cloud would create), in registration order."""
        return [n for n in self.nodes.values() if n.custom and not n.is_provider]

    @property
    def components(self) -> list[Node]:
        """Component resources, in registration order."""
        return [n for n in self.nodes.values() if n.is_component]

    def get(self, urn: str) -> Node:
        """The node with this URN."""
        return self.nodes[urn]

    def by_type(self, type_: str) -> list[Node]:
        """Nodes of one type token (`aws:route53/record:Record`), in registration order."""
        return [n for n in self.nodes.values() if n.type == type_]

    def by_name(self, name: str) -> list[Node]:
        """Nodes with this logical name (several types may share one)."""
        return [n for n in self.nodes.values() if n.name == name]

    def one(self, type_: str, name: str | None = None) -> Node:
        """The single node of a type (and name); raises with the graph dump when there is not exactly one."""
        matches = [n for n in self.by_type(type_) if name is None or n.name == name]
        if len(matches) != 1:
            what = f"{type_}" + (f" named {name!r}" if name else "")
            raise LookupError(f"expected exactly one {what}, found {len(matches)}:\n{self.dump()}")
        return matches[0]

    def parent_of(self, node: Node) -> Node | None:
        """The parent node, or None for resources parented to the stack."""
        return self.nodes.get(node.parent) if node.parent else None

    def children_of(self, node: Node) -> list[Node]:
        """Direct children of `node`, sorted by URN (registration order varies between runs)."""
        return [self.nodes[u] for u in sorted(node.children)]

    def descendants(self, node: Node) -> list[Node]:
        """Every node below `node`, depth first."""
        out: list[Node] = []
        for child in self.children_of(node):
            out.append(child)
            out.extend(self.descendants(child))
        return out

    def roots(self) -> list[Node]:
        """Nodes parented to the stack, sorted by URN."""
        return sorted(
            (n for n in self.nodes.values() if n.parent is None and not n.is_provider), key=lambda n: n.urn
        )

    def walk(self) -> Iterator[tuple[int, Node]]:
        """(depth, node) pairs, depth first from the roots."""

        def visit(node: Node, depth: int) -> Iterator[tuple[int, Node]]:
            yield depth, node
            for child in self.children_of(node):
                yield from visit(child, depth + 1)

        for root in self.roots():
            yield from visit(root, 0)

    def provider_of(self, node: Node) -> Node | None:
        """The explicit provider resource of `node`, if it was given one."""
        return self.nodes.get(node.provider) if node.provider else None

    def regions(self) -> list[str]:
        """Distinct effective regions of custom resources, sorted."""
        return sorted({n.region for n in self.resources if n.region})

    def count_by_type(self) -> dict[str, int]:
        """Custom resource counts per type token."""
        counts: dict[str, int] = {}
        for n in self.resources:
            counts[n.type] = counts.get(n.type, 0) + 1
        return dict(sorted(counts.items()))

    def dump(self) -> str:
        """A compact indented tree: one line per node, for failure messages."""
        lines = [f"stack {self.project}/{self.stack}: {len(self.resources)} resources"]
        for depth, node in self.walk():
            lines.append("  " * (depth + 1) + node.short())
        return "\n".join(lines)

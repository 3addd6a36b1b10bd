"""'What would be built': a synthesized stack as a resource tree plus counts per type and region (pure)."""

from __future__ import annotations

import json
from typing import Any

from hakit.testing.graph import Node, ResourceGraph

GLOBAL_SERVICES = frozenset({"route53", "cloudfront", "iam", "globalaccelerator", "route53recoverycontrol"})
"""AWS services whose resources are global, whatever region their API call goes to."""

GLOBAL_TYPES = frozenset({"aws:rds/globalCluster:GlobalCluster"})
"""Resource types that span regions although their API call goes to one."""

LOCAL = "local"
GLOBAL = "global"
STATE = "state"


def placement(node: Node) -> str:
    """Where a resource lives: an AWS region, `global`, `local` (Docker engine) or `state` (e.g. random)."""
    if node.type.startswith("aws:"):
        service = node.type.split(":")[1].split("/")[0]
        if service in GLOBAL_SERVICES or node.type in GLOBAL_TYPES:
            return GLOBAL
        if service == "wafv2" and str(node.inputs.get("scope", "")).upper() == "CLOUDFRONT":
            return GLOBAL
        return node.region or GLOBAL
    if node.type.startswith("docker:"):
        return LOCAL
    return STATE  # pulumi_random and friends: values kept in the Pulumi state, nothing deployed


def _placements(graph: ResourceGraph, node: Node) -> list[str]:
    nodes = [node, *graph.descendants(node)] if node.is_component else [node]
    return sorted({placement(n) for n in nodes if n.custom and not n.is_provider})


SECRET = "[secret]"


def masked_inputs(node: Node) -> Any:
    """The resource's inputs with every secret value (or anything inside one) replaced by `[secret]`."""

    def walk(value: Any, path: str) -> Any:
        if path and any(path == s or path.startswith(s + ".") for s in node.secret_inputs):
            return SECRET
        if isinstance(value, dict):
            return {key: walk(item, f"{path}.{key}" if path else key) for key, item in sorted(value.items())}
        if isinstance(value, list):
            return [walk(item, f"{path}.{index}") for index, item in enumerate(value)]
        return value

    return walk(node.inputs, "")


def _tree(graph: ResourceGraph, node: Node, *, inputs: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": node.type, "name": node.name}
    if inputs and node.custom:
        entry["inputs"] = masked_inputs(node)
    if node.is_component:
        entry["component"] = True
        entry["where"] = _placements(graph, node)
        # Registration order follows Output resolution and varies between runs: sort for stable output.
        children = sorted(graph.children_of(node), key=lambda c: (not c.is_component, c.type, c.name))
        entry["children"] = [
            _tree(graph, child, inputs=inputs) for child in children if not child.is_provider
        ]
    else:
        entry["where"] = [placement(node)]
    return entry


def counts(graph: ResourceGraph) -> dict[str, dict[str, int]]:
    """Custom resources per type, then per placement (region / global / local)."""
    table: dict[str, dict[str, int]] = {}
    for node in graph.resources:
        row = table.setdefault(node.type, {})
        where = placement(node)
        row[where] = row.get(where, 0) + 1
    return {key: dict(sorted(table[key].items())) for key in sorted(table)}


def summarize(graph: ResourceGraph, *, inputs: bool = False) -> dict[str, Any]:
    """The plan as plain data: tree, counts, totals per placement, stack outputs.

    With `inputs` (the `--json` output) every resource carries its inputs, secrets masked, so a reviewer
    can diff settings between two plans the way `pulumi preview --json` allows.
    """
    table = counts(graph)
    totals: dict[str, int] = {}
    for row in table.values():
        for where, number in row.items():
            totals[where] = totals.get(where, 0) + number
    outputs = {
        key: ("[secret]" if key in graph.secret_stack_outputs else value)
        for key, value in sorted(graph.stack_outputs.items())
    }
    return {
        "project": graph.project,
        "stack": graph.stack,
        "resources": len(graph.resources),
        "components": len(graph.components),
        "placements": dict(sorted(totals.items())),
        "tree": [
            _tree(graph, root, inputs=inputs)
            for root in sorted(graph.roots(), key=lambda n: (n.type, n.name))
        ],
        "counts": table,
        "outputs": outputs,
    }


def _tree_lines(entry: dict[str, Any], prefix: str, last: bool, out: list[str]) -> None:
    branch = "└─ " if last else "├─ "
    where = ", ".join(entry["where"])
    if entry.get("component"):
        size = sum(1 for _ in _custom_leaves(entry))
        out.append(f"{prefix}{branch}{entry['name']}  ({entry['type']}; {size} resources in {where or '-'})")
    else:
        out.append(f"{prefix}{branch}{entry['name']}  {entry['type']}  [{where}]")
    children = entry.get("children", [])
    for position, child in enumerate(children):
        _tree_lines(child, prefix + ("   " if last else "│  "), position == len(children) - 1, out)


def _custom_leaves(entry: dict[str, Any]) -> list[dict[str, Any]]:
    if not entry.get("component"):
        return [entry]
    return [leaf for child in entry.get("children", []) for leaf in _custom_leaves(child)]


def render_text(summary: dict[str, Any]) -> str:
    """The plan as text: header, tree, a type x placement count table, the exported outputs."""
    placements = list(summary["placements"])
    lines = [
        f"stack {summary['project']}/{summary['stack']}: {summary['resources']} resources, "
        f"{summary['components']} components ("
        + ", ".join(f"{where}: {n}" for where, n in summary["placements"].items())
        + ")",
        "",
    ]
    roots = summary["tree"]
    for position, root in enumerate(roots):
        _tree_lines(root, "", position == len(roots) - 1, lines)
    width = max([len("type"), *(len(t) for t in summary["counts"])])
    columns = [*placements, "total"]
    lines += ["", "  ".join([f"{'type':<{width}}", *(f"{c:>10}" for c in columns)])]
    for type_, row in summary["counts"].items():
        cells = [f"{row.get(where, 0) or '-':>10}" for where in placements]
        lines.append("  ".join([f"{type_:<{width}}", *cells, f"{sum(row.values()):>10}"]))
    total_cells = [f"{summary['placements'][where]:>10}" for where in placements]
    lines.append("  ".join([f"{'total':<{width}}", *total_cells, f"{summary['resources']:>10}"]))
    if summary["outputs"]:
        lines += ["", "outputs (mock values where the cloud computes them):"]
        lines += [f"  {key}: {json.dumps(value, default=str)}" for key, value in summary["outputs"].items()]
    return "\n".join(lines)

"""The HA diagram: a pure model (nodes in regions/AZs, failover edges with budgeted times), Graphviz.

`stack_diagram` / `inventory_diagram` build the model from a view or inventory and its budget;
`to_graphviz` turns it into a `graphviz.Digraph`; `render_file` writes SVG/PNG/DOT atomically with `dot`.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hakit.analysis import tokens
from hakit.analysis.budget import Budget, EntryPath, Stage, lb_target_groups, target_group_stage
from hakit.analysis.keepalived import eip_group, failure_domain, vrrp_groups
from hakit.analysis.report import seconds_text
from hakit.analysis.rules_ha import (
    failover_type,
    global_members,
    routed_groups,
    routing_policy,
    table_regions,
)
from hakit.analysis.schedule import schedule_interval_seconds
from hakit.analysis.view import Resource, StackView, region_from_arn

if TYPE_CHECKING:
    import graphviz

    from hakit.spec.inventory import Inventory

Kind = Literal["entry", "cdn", "lb", "instance", "database", "vault", "server", "vip"]
EdgeKind = Literal["traffic", "failover", "replication", "backup"]

_SHAPES: dict[str, tuple[str, str]] = {
    "entry": ("oval", "#dbeafe"),
    "cdn": ("oval", "#e0e7ff"),
    "vip": ("oval", "#dbeafe"),
    "lb": ("box", "#dcfce7"),
    "instance": ("box", "#fef9c3"),
    "server": ("box", "#f3f4f6"),
    "database": ("cylinder", "#fde68a"),
    "vault": ("folder", "#fce7f3"),
}
_EDGE_STYLE: dict[str, dict[str, str]] = {
    "traffic": {"color": "#334155"},
    "failover": {"color": "#dc2626", "style": "dashed", "fontcolor": "#dc2626"},
    "replication": {"color": "#2563eb", "style": "dashed", "fontcolor": "#2563eb"},
    "backup": {"color": "#9333ea", "style": "dotted", "fontcolor": "#9333ea"},
}


@dataclass(frozen=True)
class DiagramNode:
    """A box on the diagram, placed in a region (cluster) and optionally an AZ (sub-cluster)."""

    id: str
    label: str
    kind: Kind
    region: str | None = None
    zone: str | None = None


@dataclass(frozen=True)
class DiagramEdge:
    """An arrow: traffic, or a failover/replication/backup copy labelled with its budgeted time."""

    source: str
    target: str
    kind: EdgeKind
    label: str = ""


@dataclass
class Diagram:
    """Nodes and edges; ids are stable (derived from URNs or inventory paths)."""

    title: str
    nodes: dict[str, DiagramNode] = field(default_factory=dict)
    edges: list[DiagramEdge] = field(default_factory=list)

    def add(self, node: DiagramNode) -> str:
        """Add a node once; returns its id."""
        self.nodes.setdefault(node.id, node)
        return node.id

    def link(self, source: str, target: str, kind: EdgeKind, label: str = "") -> None:
        """Add an edge once."""
        edge = DiagramEdge(source, target, kind, label)
        if edge not in self.edges and source in self.nodes and target in self.nodes:
            self.edges.append(edge)


def _id(resource: Resource) -> str:
    """A readable node id: `LoadBalancer_east` (type and logical name)."""
    return _slug(f"{resource.type.rsplit(':', 1)[-1]} {resource.name}")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _stage(paths: tuple[EntryPath, ...], layer: str) -> Stage | None:
    for path in paths:
        for stage in path.stages:
            if stage.layer == layer:
                return stage
    return None


def _time(stage: Stage | None, prefix: str = "failover") -> str:
    return f"{prefix} {seconds_text(stage.seconds)}" if stage is not None else prefix


def stack_diagram(view: StackView, budget: Budget, title: str = "stack") -> Diagram:
    """Entry points, load balancers, instances, databases and vaults of a stack, with failover edges."""
    diagram = Diagram(title)
    for lb in view.of_type(*tokens.LOAD_BALANCERS):
        kind = "NLB" if lb.get("loadBalancerType") == "network" else "ALB"
        stages = [target_group_stage(group) for group in lb_target_groups(view, [lb])]
        worst = max((s.seconds for s in stages if s.seconds is not None), default=None)
        detail = f"\ntargets out in {seconds_text(worst)}" if worst is not None else ""
        diagram.add(DiagramNode(_id(lb), f"{lb.name}\n{kind}{detail}", "lb", lb.region))
    _keepalived(view, budget, diagram)
    _dns(view, budget, diagram)
    _cdn(view, budget, diagram)
    _plain_records(view, diagram)
    _databases(view, budget, diagram)
    _backups(view, diagram)
    return diagram


def _record_name(record: Resource) -> str:
    return str(record.get("name", "")).rstrip(".").lower()


def _dns(view: StackView, budget: Budget, diagram: Diagram) -> None:
    for (_, name, type_), records in routed_groups(view).items():
        policy = routing_policy(records[0]) or ""
        entry = diagram.add(DiagramNode(_slug(f"dns {name}"), f"{name}\nDNS {policy}", "entry"))
        answers: list[str] = []
        for record in sorted(records, key=lambda r: failover_type(r) != "PRIMARY"):
            label = failover_type(record) or str(record.get("setIdentifier") or policy)
            targets = view.referenced(record, "aliases", *tokens.LOAD_BALANCERS, tokens.DISTRIBUTION)
            targets += view.referenced(record, "records", tokens.EIP)
            for target in targets:
                if _id(target) in diagram.nodes:
                    diagram.link(entry, _id(target), "traffic", label)
                    answers.append(_id(target))
        path = next((p for p in budget.paths if p.name == f"{name} ({type_})"), None)
        stage = _stage((path,), "dns") if path else None
        if stage is not None and path is not None and stage.trigger == "manual":
            # ARC-gated: Route 53 does not move by itself; the edge carries what the manual path costs.
            label = f"manual failover (ARC), path RTO {seconds_text(path.rto_seconds)}"
        else:
            label = _time(stage, "DNS failover")
        for first, second in itertools.pairwise(answers):
            diagram.link(first, second, "failover", label)


def _domain_targets(view: StackView, diagram: Diagram, domain: str) -> list[str]:
    """Diagram nodes a DNS name leads to: its failover entry, or the resources its records alias."""
    domain = domain.rstrip(".").lower()
    if _slug(f"dns {domain}") in diagram.nodes:
        return [_slug(f"dns {domain}")]
    found: list[str] = []
    for record in view.of_type(tokens.RECORD):
        if _record_name(record) == domain:
            found += [_id(t) for t in view.referenced(record, "aliases") if _id(t) in diagram.nodes]
    return list(dict.fromkeys(found))


def _cdn(view: StackView, budget: Budget, diagram: Diagram) -> None:
    for dist in view.of_type(tokens.DISTRIBUTION):
        node = diagram.add(DiagramNode(_id(dist), f"{dist.name}\nCloudFront", "cdn"))
        by_origin: dict[str, str] = {}
        for origin in dist.items("origins"):
            if not isinstance(origin, dict):
                continue
            domain = origin.get("domainName")
            targets: list[str] = []
            for resource in view.referenced(dist, "origins"):
                names = {resource.get("dnsName"), resource.get("bucketRegionalDomainName")}
                if domain in names or len(dist.items("origins")) == 1:
                    if resource.type in tokens.BUCKETS:
                        diagram.add(
                            DiagramNode(_id(resource), f"{resource.name}\nS3", "database", resource.region)
                        )
                    targets.append(_id(resource))
            if not targets and isinstance(domain, str):
                targets = _domain_targets(view, diagram, domain)
            for target in targets:
                if target in diagram.nodes:
                    diagram.link(node, target, "traffic", str(origin.get("originId") or ""))
                    by_origin.setdefault(str(origin.get("originId")), target)
        path = next((p for p in budget.paths if p.name == f"distribution {dist.name}"), None)
        for group in dist.items("originGroups"):
            members = [str(m.get("originId")) for m in group.get("members") or [] if isinstance(m, dict)]
            # A DNS-name origin fails where that name's PRIMARY answer points, not at the DNS node.
            ids = [_serving(diagram, by_origin[m]) for m in members if m in by_origin]
            if len(ids) >= 2:
                stage = _stage((path,), "cdn") if path else None
                diagram.link(ids[0], ids[1], "failover", _time(stage, "origin failover"))


def _serving(diagram: Diagram, node: str) -> str:
    """The node that serves for `node`: a DNS entry's first answer (PRIMARY first), else the node itself."""
    if diagram.nodes[node].kind != "entry":
        return node
    answers = [e for e in diagram.edges if e.source == node and e.kind == "traffic"]
    primary = [e for e in answers if e.label == "PRIMARY"] or answers
    return primary[0].target if primary else node


def _plain_records(view: StackView, diagram: Diagram) -> None:
    """Non-failover alias records (the public name in front of a CDN or a load balancer) as entry points."""
    for record in view.of_type(tokens.RECORD):
        if routing_policy(record) is not None:
            continue
        targets = [_id(t) for t in view.referenced(record, "aliases") if _id(t) in diagram.nodes]
        if not targets:
            continue
        behind_cdn = {
            e.target for e in diagram.edges if e.kind == "traffic" and e.source.startswith("Distribution_")
        }
        if all(t in behind_cdn for t in targets):
            continue  # an origin name the CDN uses, not an entry point
        name = _record_name(record)
        entry = diagram.add(DiagramNode(_slug(f"dns {name}"), f"{name}\nDNS", "entry"))
        for target in targets:
            diagram.link(entry, target, "traffic")


def _keepalived(view: StackView, budget: Budget, diagram: Diagram) -> None:
    for vrid, nodes in vrrp_groups(view).items():
        ranked = sorted(nodes, key=lambda n: -n.priority)
        for member in ranked:
            zone = failure_domain(view, member.instance)
            diagram.add(
                DiagramNode(
                    _id(member.instance),
                    f"{member.instance.name}\nkeepalived prio {member.priority}",
                    "instance",
                    member.instance.region,
                    zone,
                )
            )
        if len(ranked) >= 2:
            stage = next(
                (
                    s
                    for p in budget.paths
                    for s in p.stages
                    if s.layer == "keepalived" and f"VRID {vrid} " in s.resource
                ),
                None,
            )
            eips = [e for e in view.of_type(tokens.EIP) if eip_group(view, e) == nodes]
            if eips:
                eip = eips[0]
                vip = diagram.add(
                    DiagramNode(_id(eip), f"{eip.name}\nElastic IP (VRID {vrid})", "vip", eip.region)
                )
            else:
                vip = diagram.add(DiagramNode(f"vrid_{vrid}", f"VRID {vrid}\nVIP", "vip"))
            diagram.link(vip, _id(ranked[0].instance), "traffic", "MASTER")
            diagram.link(_id(ranked[0].instance), _id(ranked[1].instance), "failover", _time(stage, "VRRP"))


def _databases(view: StackView, budget: Budget, diagram: Diagram) -> None:
    rto = _stage(budget.paths, "aurora-global")
    rpo = next(
        (s for p in budget.paths for s in p.stages if s.layer == "aurora-global" and s.metric == "rpo"), None
    )
    for cluster in view.of_type(tokens.RDS_CLUSTER, tokens.RDS_INSTANCE):
        if cluster.type == tokens.RDS_INSTANCE and cluster.get("clusterIdentifier"):
            continue
        diagram.add(
            DiagramNode(
                _id(cluster), f"{cluster.name}\n{cluster.get('engine') or 'RDS'}", "database", cluster.region
            )
        )
    for global_cluster in view.of_type(tokens.GLOBAL_CLUSTER):
        members = global_members(view, global_cluster)
        primary = next(
            (m for m in members if m.region == global_cluster.region), members[0] if members else None
        )
        for member in members:
            if primary is not None and member is not primary:
                prefix = "manual failover" if rto is not None and rto.trigger == "manual" else "failover"
                label = f"{_time(rto, prefix)}, RPO {seconds_text(rpo.seconds) if rpo else '?'}"
                diagram.link(_id(primary), _id(member), "replication", label)
    for table in view.of_type(tokens.DYNAMODB_TABLE):
        home = diagram.add(DiagramNode(_id(table), f"{table.name}\nDynamoDB", "database", table.region))
        stage = next(
            (
                s
                for p in budget.paths
                for s in p.stages
                if s.layer == "dynamodb-global" and s.resource == table.name
            ),
            None,
        )
        for region in sorted(table_regions(view, table) - {table.region or ""}):
            replica = diagram.add(
                DiagramNode(f"{home}_{_slug(region)}", f"{table.name}\nreplica", "database", region)
            )
            diagram.link(home, replica, "replication", f"RPO {seconds_text(stage.seconds) if stage else '?'}")
    for dsql in view.of_type(tokens.DSQL_CLUSTER):
        diagram.add(DiagramNode(_id(dsql), f"{dsql.name}\nDSQL", "database", dsql.region))


def _backups(view: StackView, diagram: Diagram) -> None:
    vaults = view.of_type(tokens.BACKUP_VAULT)
    for vault in vaults:
        diagram.add(DiagramNode(_id(vault), f"{vault.name}\nbackup vault", "vault", vault.region))
    for plan in view.of_type(tokens.BACKUP_PLAN):
        for plan_rule in plan.items("rules"):
            if not isinstance(plan_rule, dict):
                continue
            source = next(
                (v for v in vaults if plan_rule.get("targetVaultName") in (v.get("name"), v.physical_id)),
                None,
            )
            schedule = plan_rule.get("schedule")
            interval = schedule_interval_seconds(schedule) if isinstance(schedule, str) else None
            label = f"copy, RPO {seconds_text(interval)}" if interval is not None else "copy"
            for action in plan_rule.get("copyActions") or []:
                arn = action.get("destinationVaultArn") if isinstance(action, dict) else None
                target = next((v for v in vaults if arn in (v.get("arn"), v.physical_id)), None)
                if source is None:
                    continue
                if target is None and region_from_arn(arn):
                    outside = DiagramNode(_slug(str(arn)), f"vault\n{str(arn).rsplit(':', 1)[-1]}", "vault")
                    target_id = diagram.add(
                        DiagramNode(outside.id, outside.label, "vault", region_from_arn(arn))
                    )
                else:
                    target_id = _id(target) if target is not None else ""
                diagram.link(_id(source), target_id, "backup", label)


def inventory_diagram(inventory: Inventory, budget: Budget, title: str = "inventory") -> Diagram:
    """Per load-balancer cluster: VIPs, nodes by segment, failover edges with keepalived time, backends."""
    diagram = Diagram(title)
    for cluster_name, cluster in inventory.load_balancers.items():
        for instance_name, instance in cluster.vrrp.instances.items():
            ranked = sorted(cluster.nodes, key=lambda n: -cluster.priority(instance_name, n))
            vips = ", ".join(str(v.ip) for v in instance.vips)
            vip = diagram.add(
                DiagramNode(_slug(f"vip {cluster_name} {instance_name}"), f"{instance_name}\n{vips}", "vip")
            )
            for node in ranked:
                segment = (
                    inventory.segment_of(node, instance.interface, instance.family())
                    if node in inventory.hosts
                    else None
                )
                diagram.add(
                    DiagramNode(
                        _slug(f"host {node}"),
                        f"{node}\n{cluster.proxy.kind} prio {cluster.priority(instance_name, node)}",
                        "lb",
                        cluster_name,
                        segment,
                    )
                )
            if ranked:
                diagram.link(vip, _slug(f"host {ranked[0]}"), "traffic", "MASTER")
            path = next((p for p in budget.paths if p.name == f"{cluster_name}/{instance_name}"), None)
            stage = _stage((path,), "keepalived") if path else None
            for backup in ranked[1:2]:
                diagram.link(
                    _slug(f"host {ranked[0]}"), _slug(f"host {backup}"), "failover", _time(stage, "VRRP")
                )
        for backend_name, backend in cluster.proxy.backends.items():
            path = next((p for p in budget.paths if p.name.startswith(f"{cluster_name}/")), None)
            stage = next((s for s in path.stages if s.resource == backend_name), None) if path else None
            for server_name, server in backend.servers.items():
                server_id = diagram.add(
                    DiagramNode(
                        _slug(f"server {cluster_name} {backend_name} {server_name}"),
                        f"{server_name}\n{server.endpoint()}" + (" (backup)" if server.backup else ""),
                        "server",
                        f"{cluster_name} backends",
                    )
                )
                for node in cluster.nodes:
                    diagram.link(
                        _slug(f"host {node}"),
                        server_id,
                        "traffic",
                        _time(stage, "check") if not server.backup else "backup",
                    )
    return diagram


def to_graphviz(diagram: Diagram) -> graphviz.Digraph:
    """The Graphviz form: one cluster per region (and per AZ inside it); global nodes outside."""
    import graphviz

    graph = graphviz.Digraph(name="hakit", comment=diagram.title)
    graph.attr(rankdir="LR", label=diagram.title, labelloc="t", fontname="Helvetica", compound="true")
    graph.attr("node", fontname="Helvetica", fontsize="10", style="filled")
    graph.attr("edge", fontname="Helvetica", fontsize="9")
    regions: dict[str | None, dict[str | None, list[DiagramNode]]] = {}
    for node in diagram.nodes.values():
        regions.setdefault(node.region, {}).setdefault(node.zone, []).append(node)

    def draw(target: graphviz.Digraph, node: DiagramNode) -> None:
        shape, color = _SHAPES[node.kind]
        target.node(node.id, node.label, shape=shape, fillcolor=color)

    for region, zones in sorted(regions.items(), key=lambda item: item[0] or ""):
        if region is None:
            for node in zones.get(None, []):
                draw(graph, node)
            continue
        with graph.subgraph(name=f"cluster_{_slug(region)}") as sub:
            sub.attr(label=region, style="rounded", color="#64748b")
            for zone, nodes in sorted(zones.items(), key=lambda item: item[0] or ""):
                if zone is None:
                    for node in nodes:
                        draw(sub, node)
                    continue
                with sub.subgraph(name=f"cluster_{_slug(region)}_{_slug(zone)}") as az:
                    az.attr(label=zone, style="dashed", color="#94a3b8")
                    for node in nodes:
                        draw(az, node)
    for edge in diagram.edges:
        graph.edge(edge.source, edge.target, label=edge.label, **_EDGE_STYLE[edge.kind])
    _legend(graph, diagram)
    return graph


def _legend(graph: graphviz.Digraph, diagram: Diagram) -> None:
    """A key for the edge kinds the diagram uses (labels carry the budget's figures)."""
    kinds = sorted({edge.kind for edge in diagram.edges}, key=list(_EDGE_STYLE).index)
    if not kinds:
        return
    meaning = {
        "traffic": "traffic",
        "failover": "failover (time from the RTO budget; 'manual': a person starts it)",
        "replication": "replication (failover time, RPO)",
        "backup": "backup copy (RPO = schedule interval)",
    }
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="legend", style="rounded", color="#cbd5e1", fontsize="9")
        for kind in kinds:
            legend.node(f"legend_{kind}_a", "", shape="point", width="0.05")
            legend.node(f"legend_{kind}_b", meaning[kind], shape="plaintext", fontsize="9", style="")
            legend.edge(f"legend_{kind}_a", f"legend_{kind}_b", **_EDGE_STYLE[kind])


def render_file(diagram: Diagram, output: Path) -> Path:
    """Write the diagram as SVG, PNG or DOT (by suffix), atomically (temp file + rename)."""
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in ("svg", "png", "dot", "gv"):
        raise ValueError(f"{output}: use a .svg, .png or .dot file name")
    graph = to_graphviz(diagram)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        if suffix in ("dot", "gv"):
            temp.write_text(graph.source, encoding="utf-8")
        else:
            temp.write_bytes(graph.pipe(format=suffix))
        temp.chmod(0o644)
        temp.replace(output)
    finally:
        temp.unlink(missing_ok=True)
    return output

"""The HA diagram: a pure model (nodes in regions/AZs, failover edges with budgeted times), Graphviz.

`stack_diagram` / `inventory_diagram` build the model from a view or inventory and its budget;
`to_graphviz` turns it into a `graphviz.Digraph`; `render_file` writes SVG/PNG/DOT atomically with `dot`.
"""

from __future__ import annotations

import html
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
    lb_zones,
    routed_groups,
    routing_policy,
    table_regions,
)
from hakit.analysis.schedule import calendar_interval_seconds, schedule_interval_seconds
from hakit.analysis.view import Resource, StackView, num, region_from_arn

if TYPE_CHECKING:
    import graphviz

    from hakit.spec.inventory import Inventory

Kind = Literal[
    "entry", "cdn", "lb", "instance", "database", "vault", "server", "vip", "guard", "control", "compute"
]
EdgeKind = Literal["traffic", "failover", "replication", "backup", "control"]

_SHAPES: dict[str, tuple[str, str]] = {
    "entry": ("oval", "#dbeafe"),
    "cdn": ("oval", "#e0e7ff"),
    "vip": ("oval", "#dbeafe"),
    "lb": ("box", "#dcfce7"),
    "instance": ("box", "#fef9c3"),
    "server": ("box", "#f3f4f6"),
    "database": ("cylinder", "#fde68a"),
    "vault": ("folder", "#fce7f3"),
    "guard": ("octagon", "#fee2e2"),
    "control": ("diamond", "#ffedd5"),
    "compute": ("box3d", "#fef9c3"),
}
_EDGE_STYLE: dict[str, dict[str, str]] = {
    "traffic": {"color": "#334155"},
    "failover": {"color": "#dc2626", "style": "dashed", "fontcolor": "#dc2626"},
    "replication": {"color": "#2563eb", "style": "dashed", "fontcolor": "#2563eb"},
    "backup": {"color": "#9333ea", "style": "dotted", "fontcolor": "#9333ea"},
    "control": {"color": "#ea580c", "style": "dotted", "fontcolor": "#ea580c", "arrowhead": "odot"},
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
        zones = lb_zones(view, lb)
        if zones:
            named = sorted(z for z in zones if not z.startswith(("subnet-", "urn:")))
            detail += f"\nAZs {', '.join(named)}" if len(named) == len(zones) else f"\n{len(zones)} subnets"
        diagram.add(DiagramNode(_id(lb), f"{lb.name}\n{kind}{detail}", "lb", lb.region))
    _keepalived(view, budget, diagram)
    _dns(view, budget, diagram)
    _cdn(view, budget, diagram)
    _plain_records(view, diagram)
    _databases(view, budget, diagram)
    _compute(view, diagram)
    _waf(view, diagram)
    _routing_controls(view, diagram)
    _backups(view, diagram)
    return diagram


def _compute(view: StackView, diagram: Diagram) -> None:
    """The targets behind each target group (one node per group), and the database they use: the Aurora
    cluster of their region (the writer's region's cluster when theirs is a secondary)."""
    attachments = view.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
    clusters = [c for c in view.of_type(tokens.RDS_CLUSTER) if _id(c) in diagram.nodes]
    for group in view.of_type(*tokens.TARGET_GROUPS):
        targets = [
            a for a in attachments if group in view.referenced(a, "targetGroupArn", *tokens.TARGET_GROUPS)
        ]
        scaling = [
            g
            for g in view.of_type(tokens.AUTOSCALING_GROUP)
            if group in view.referenced(g, "targetGroupArns", *tokens.TARGET_GROUPS)
        ]
        if not targets and not scaling:
            continue
        listed = ", ".join(str(a.get("targetId")) for a in targets)
        label = f"{len(targets)} targets\n{listed}" if targets else ""
        for asg in scaling:
            # An Auto Scaling group: its size bounds and what decides that an instance is replaced.
            health = asg.get("healthCheckType", "EC2")
            low, high = (
                f"{v:g}" if isinstance(v, float) else str(v) for v in (asg.get("minSize"), asg.get("maxSize"))
            )
            label += f"{chr(10) if label else ''}Auto Scaling {low}..{high}"
            label += f"\n{health} health checks, replaced when failing"
        node = diagram.add(DiagramNode(f"targets_{_id(group)}", label, "compute", group.region))
        stage = target_group_stage(group)
        for lb in view.of_type(*tokens.LOAD_BALANCERS):
            if group in lb_target_groups(view, [lb]):
                diagram.link(_id(lb), node, "traffic", f"out in {seconds_text(stage.seconds)}")
        for cluster in clusters:
            if cluster.region == group.region:
                diagram.link(node, _id(cluster), "traffic", "SQL")


def _waf(view: StackView, diagram: Diagram) -> None:
    for acl in view.of_type("aws:wafv2/webAcl:WebAcl"):
        users = [d for d in view.of_type(tokens.DISTRIBUTION) if acl in view.referenced(d, "webAclId")]
        users += [
            lb
            for lb in view.of_type(*tokens.LOAD_BALANCERS)
            for assoc in view.of_type("aws:wafv2/webAclAssociation:WebAclAssociation")
            if acl in view.referenced(assoc, "webAclArn") and lb in view.referenced(assoc, "resourceArn")
        ]
        region = None if str(acl.get("scope") or "").upper() == "CLOUDFRONT" else acl.region
        node = diagram.add(DiagramNode(_id(acl), f"{acl.name}\nWAF", "guard", region))
        for user in users:
            diagram.link(node, _id(user), "control", "filters")


def _routing_controls(view: StackView, diagram: Diagram) -> None:
    """ARC: each routing control gates the answers whose health checks follow it; safety rules bind them."""
    from hakit.analysis.budget import routing_gates

    for control in view.of_type(tokens.ROUTING_CONTROL):
        node = diagram.add(
            DiagramNode(_id(control), f"{control.name}\nrouting control (created Off)", "control")
        )
        for record in view.of_type(tokens.RECORD):
            if control.name in routing_gates(view, record):
                for target in view.referenced(record, "aliases", *tokens.LOAD_BALANCERS, tokens.DISTRIBUTION):
                    diagram.link(node, _id(target), "control", f"gates {failover_type(record) or 'answer'}")
    for rule in view.of_type("aws:route53recoverycontrol/safetyRule:SafetyRule"):
        config = rule.get("ruleConfig") or {}
        kind = (
            f"{config.get('type', '?')} {num(config.get('threshold', '?'))}"
            if isinstance(config, dict)
            else "?"
        )
        node = diagram.add(DiagramNode(_id(rule), f"{rule.name}\nsafety rule {kind} On", "control"))
        for control in view.referenced(rule, "assertedControls", tokens.ROUTING_CONTROL):
            diagram.link(node, _id(control), "control", "asserts")


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
            moves_eip = stage is not None and "eip" in stage.inputs
            prefix = "VRRP + Elastic IP move" if moves_eip else "VRRP"
            diagram.link(_id(ranked[0].instance), _id(ranked[1].instance), "failover", _time(stage, prefix))


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
    """Per load-balancer cluster: VIPs, nodes by segment, VRRP failover, one edge per backend pool; the
    MariaDB pairs with their write VIP and replication; the backup jobs with their schedule's RPO."""
    diagram = Diagram(title)
    for cluster_name, cluster in inventory.load_balancers.items():
        vips: list[str] = []
        for instance_name, instance in cluster.vrrp.instances.items():
            ranked = sorted(cluster.nodes, key=lambda n: (-cluster.priority(instance_name, n), n))
            addresses = ", ".join(str(v.ip) for v in instance.vips)
            vip = diagram.add(
                DiagramNode(
                    _slug(f"vip {cluster_name} {instance_name}"), f"{instance_name}\n{addresses}", "vip"
                )
            )
            vips.append(vip)
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
        path = next((p for p in budget.paths if p.name.startswith(f"{cluster_name}/")), None)
        for backend_name, backend in cluster.proxy.backends.items():
            stage = next((s for s in path.stages if s.resource == backend_name), None) if path else None
            servers = [
                f"{name} {server.endpoint()}" + (" (backup)" if server.backup else "")
                for name, server in backend.servers.items()
            ]
            pool = diagram.add(
                DiagramNode(
                    _slug(f"pool {cluster_name} {backend_name}"),
                    f"backend {backend_name}\n" + "\n".join(servers),
                    "server",
                    f"{cluster_name} backends",
                )
            )
            # One edge per cluster: whichever node holds the VIP sends to the whole pool.
            source = vips[0] if vips else _slug(f"host {sorted(cluster.nodes)[0]}")
            diagram.link(source, pool, "traffic", _time(stage, "server out in"))
    _database_pairs(inventory, budget, diagram)
    _backup_jobs(inventory, budget, diagram)
    return diagram


def _database_pairs(inventory: Inventory, budget: Budget, diagram: Diagram) -> None:
    for pair_name, pair in inventory.databases.items():
        ranked = sorted(pair.nodes, key=lambda n: (-pair.nodes[n].priority, n))
        where = f"database {pair_name}"
        for node in ranked:
            diagram.add(
                DiagramNode(
                    _slug(f"db {node}"),
                    f"{node}\nMariaDB prio {pair.nodes[node].priority}",
                    "database",
                    where,
                )
            )
        for first, second in itertools.pairwise(ranked):
            rpo = next(
                (
                    s
                    for p in budget.paths
                    for s in p.stages
                    if s.layer == "mariadb-replication" and s.resource == pair_name
                ),
                None,
            )
            label = f"GTID both ways, RPO {seconds_text(rpo.seconds) if rpo else '?'}"
            diagram.link(_slug(f"db {first}"), _slug(f"db {second}"), "replication", label)
        vip = pair.write_vip
        if vip is None or not ranked:
            continue
        node = diagram.add(
            DiagramNode(_slug(f"vip db {pair_name}"), f"write VIP\n{vip.address.ip}", "vip", where)
        )
        diagram.link(node, _slug(f"db {ranked[0]}"), "traffic", "writes")
        path = next((p for p in budget.paths if p.name == f"database {pair_name}"), None)
        check = next((s for s in path.stages if s.layer == "mariadb-check"), None) if path else None
        if len(ranked) >= 2:
            diagram.link(
                _slug(f"db {ranked[0]}"), _slug(f"db {ranked[1]}"), "failover", _time(check, "VIP moves in")
            )


def _backup_jobs(inventory: Inventory, budget: Budget, diagram: Diagram) -> None:
    for job_name, job in inventory.backups.items():
        target = job.target
        node = diagram.add(
            DiagramNode(
                _slug(f"backup {job_name}"),
                f"{job_name}\ns3://{target.bucket}/{target.prefix}\n{job.schedule}",
                "vault",
                target.region,
            )
        )
        source = _slug(f"db {job.host}")
        if source not in diagram.nodes:
            source = diagram.add(DiagramNode(_slug(f"host {job.host}"), job.host, "server"))
        interval = calendar_interval_seconds(job.schedule)
        label = f"dump, RPO {seconds_text(interval)}" if interval is not None else "dump"
        diagram.link(source, node, "backup", label)


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
        "backup": "backup copy or dump (RPO = schedule interval)",
        "control": "guard: WAF filters, ARC routing control gates, safety rule asserts",
    }
    sample = {
        "traffic": "──▶",
        "failover": "- - ▶",
        "replication": "- - ▶",
        "backup": "··· ▶",
        "control": "··· o",
    }
    rows = "".join(
        f'<tr><td align="left"><font color="{_EDGE_STYLE[kind]["color"]}">{sample[kind]}</font></td>'
        f'<td align="left">{html.escape(meaning[kind])}</td></tr>'
        for kind in kinds
    )
    graph.node(
        "legend",
        '<<table border="1" color="#cbd5e1" cellborder="0" cellspacing="2">'
        f'<tr><td colspan="2">legend</td></tr>{rows}</table>>',
        shape="plaintext",
        style="",
        fontsize="9",
    )


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

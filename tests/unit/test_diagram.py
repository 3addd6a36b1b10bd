"""The HA diagram: model (regions/AZs, labelled failover edges), Graphviz source, rendered files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from analysis_programs import REPO, keepalived_pair, stack_graph
from hakit.analysis.budget import inventory_budget, stack_budget
from hakit.analysis.diagram import (
    Diagram,
    DiagramEdge,
    inventory_diagram,
    render_file,
    stack_diagram,
    to_graphviz,
)
from hakit.analysis.view import from_graph
from hakit.spec.inventory import load_inventory
from hakit.testing import synth
from support import require_binaries


@pytest.fixture(scope="module")
def prod() -> Diagram:
    view = from_graph(stack_graph("prod"))
    return stack_diagram(view, stack_budget(view), "stack prod")


def edge(diagram: Diagram, source: str, target: str, kind: str | None = None) -> DiagramEdge:
    matches = [
        e for e in diagram.edges if e.source == source and e.target == target and kind in (None, e.kind)
    ]
    assert len(matches) == 1, f"{source} -> {target} not in {diagram.edges}"
    return matches[0]


def test_prod_entry_points_regions_and_failover_edges(prod: Diagram) -> None:
    nodes = prod.nodes
    east, west = "LoadBalancer_shop_us_east_1_alb_lb", "LoadBalancer_shop_us_west_2_alb_lb"
    assert nodes["dns_www_example_com"].kind == "entry"
    assert nodes["Distribution_shop_cdn_cdn"].kind == "cdn"
    assert (nodes[east].region, nodes[west].region) == ("us-east-1", "us-west-2")
    assert "targets out in 20 s" in nodes[east].label
    assert {n.kind for n in nodes.values()} >= {"entry", "cdn", "lb", "database", "vault"}
    assert edge(prod, "dns_www_example_com", "Distribution_shop_cdn_cdn").kind == "traffic"
    assert edge(prod, "dns_origin_www_example_com", east).label == "PRIMARY"
    # ARC gates the records: the failover edge carries the manual path's RTO, not Route 53's 90 s.
    failovers = sorted(
        e.label for e in prod.edges if (e.source, e.target, e.kind) == (east, west, "failover")
    )
    assert failovers == ["manual failover (ARC), path RTO 520 s", "origin failover 1 min"]
    assert edge(prod, "dns_origin_www_example_com", west, "traffic").label == "SECONDARY"
    # CloudFront's primary origin is the DNS failover name, its secondary the us-west-2 ALB's own name.
    assert edge(prod, "Distribution_shop_cdn_cdn", "dns_origin_www_example_com").label == "primary"
    assert edge(prod, "Distribution_shop_cdn_cdn", west).label == "secondary"
    # Origin failover starts where the primary origin's name points (the east ALB), not at the DNS node;
    # a hung primary costs 2 attempts x 30 s read timeout.
    assert [e.source for e in prod.edges if e.label.startswith("origin failover")] == [east]
    origin = next(e for e in prod.edges if e.label.startswith("origin failover"))
    assert origin.label == "origin failover 1 min"
    assert edge(prod, "Cluster_shop_us_east_1", "Cluster_shop_us_west_2").label == (
        "manual failover 70 s, RPO 1 s"
    )
    assert edge(prod, "Vault_shop_us_east_1", "Vault_shop_us_west_2").label == "copy, RPO 1 d"


def test_graphviz_source_clusters_regions(prod: Diagram) -> None:
    source = to_graphviz(prod).source
    east_cluster = source[
        source.index("subgraph cluster_us_east_1") : source.index("subgraph cluster_us_west_2")
    ]
    assert "LoadBalancer_shop_us_east_1_alb_lb" in east_cluster
    assert "Cluster_shop_us_east_1" in east_cluster
    assert "LoadBalancer_shop_us_west_2_alb_lb" not in east_cluster
    assert (
        "LoadBalancer_shop_us_east_1_alb_lb -> LoadBalancer_shop_us_west_2_alb_lb "
        '[label="manual failover (ARC)' in source
    )


def test_instances_sit_in_their_availability_zones() -> None:
    view = from_graph(synth(keepalived_pair, config={"aws:region": "us-east-1"}))
    diagram = stack_diagram(view, stack_budget(view))
    assert (diagram.nodes["Instance_lb_0"].zone, diagram.nodes["Instance_lb_1"].zone) == (
        "us-east-1a",
        "us-east-1b",
    )
    assert edge(diagram, "Instance_lb_0", "Instance_lb_1").label == "VRRP 3.609 s"
    assert edge(diagram, "vrid_51", "Instance_lb_0").label == "MASTER"
    source = to_graphviz(diagram).source
    assert "subgraph cluster_us_east_1_us_east_1a" in source


def test_inventory_diagram() -> None:
    inventory = load_inventory(REPO / "examples" / "inventory.yaml")
    diagram = inventory_diagram(inventory, inventory_budget(inventory))
    assert diagram.nodes["host_lb1"].zone == "198.18.1.0/24"
    assert diagram.nodes["host_lb1"].region == "edge"
    assert edge(diagram, "host_lb1", "host_lb2").label == "VRRP 0.361 s"
    assert edge(diagram, "vip_edge_VI_EDGE4", "host_lb1").label == "MASTER"
    web = next(s for s in inventory_budget(inventory).paths[0].stages if s.layer == "haproxy")
    # One edge per cluster to its backend pool (was: every node to every server).
    pool = "pool_edge_web"
    assert [e.source for e in diagram.edges if e.target == pool] == ["vip_edge_VI_EDGE4"]
    assert edge(diagram, "vip_edge_VI_EDGE4", pool).label == f"server out in {web.seconds:g} s"
    assert "sorry 198.18.2.30:8080 (backup)" in diagram.nodes[pool].label
    assert not [n for n in diagram.nodes if n.startswith("server_")]
    assert edge(diagram, "host_api1", "host_api2").label == "VRRP 1.785 s"
    # The MariaDB pair: write VIP on the higher priority, the VIP move, replication; the backup job's RPO.
    assert edge(diagram, "vip_db_shop", "db_db1").label == "writes"
    assert edge(diagram, "db_db1", "db_db2", "failover").label == "VIP moves in 5 s"
    assert edge(diagram, "db_db1", "db_db2", "replication").label == "GTID both ways, RPO 1 s"
    assert edge(diagram, "db_db1", "backup_shop_db1").label == "dump, RPO 1 d"
    assert diagram.nodes["backup_shop_db1"].region == "eu-west-1"


def test_inventory_graphviz_source_matches_the_golden_file() -> None:
    """Golden test of the Graphviz source (regenerate: HAKIT_UPDATE_GOLDEN=1, then look at the PNG)."""
    inventory = load_inventory(REPO / "examples" / "inventory.yaml")
    source = to_graphviz(
        inventory_diagram(inventory, inventory_budget(inventory), "examples/inventory.yaml")
    ).source
    _golden("diagram_inventory.dot", source)


def _golden(name: str, source: str) -> None:
    golden = Path(__file__).parent / "snapshots" / name
    if os.environ.get("HAKIT_UPDATE_GOLDEN") == "1":
        golden.write_text(source, encoding="utf-8")
    assert source == golden.read_text(encoding="utf-8"), f"{name} changed: review the PNG, then regenerate"


@pytest.mark.parametrize("suffix", ["svg", "png", "dot"])
def test_render_file_writes_atomically(prod: Diagram, tmp_path: Path, suffix: str) -> None:
    if suffix != "dot":
        require_binaries("dot")
    target = render_file(prod, tmp_path / f"prod.{suffix}")
    data = target.read_bytes()
    if suffix == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    elif suffix == "svg":
        assert b"<svg" in data and b"manual failover (ARC)" in data and b"legend" in data
    else:
        assert data.decode().startswith("// stack prod\ndigraph hakit {")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"prod.{suffix}"]


def test_render_file_refuses_unknown_formats(prod: Diagram, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.svg, \.png or \.dot"):
        render_file(prod, tmp_path / "prod.txt")
    assert list(tmp_path.iterdir()) == []


def test_latency_answer_through_a_keepalived_elastic_ip() -> None:
    view = from_graph(stack_graph("staging"))
    diagram = stack_diagram(view, stack_budget(view))
    eip = "Eip_shop_us_west_2_pair_eip"
    assert diagram.nodes[eip].kind == "vip" and diagram.nodes[eip].region == "us-west-2"
    assert edge(diagram, "dns_shop_staging_example_com", eip).label == "us-west-2"
    assert edge(diagram, eip, "Instance_shop_us_west_2_pair_node_a").label == "MASTER"
    assert edge(
        diagram, "Instance_shop_us_west_2_pair_node_a", "Instance_shop_us_west_2_pair_node_b"
    ).label == ("VRRP + Elastic IP move 33.609 s")  # takeover 3.609 s + the notify deadline 30 s


def test_global_table_replicas_and_s3_origin() -> None:
    from analysis_programs import s3_site, table

    def program() -> None:
        table()
        s3_site()

    view = from_graph(synth(program, config={"aws:region": "us-east-1"}))
    diagram = stack_diagram(view, stack_budget(view))
    replica = diagram.nodes["Table_orders_us_west_2"]
    assert (replica.kind, replica.region) == ("database", "us-west-2")
    assert edge(diagram, "Table_orders", "Table_orders_us_west_2").label == "RPO 1 s"
    assert diagram.nodes["Bucket_site"].label == "site\nS3"
    assert edge(diagram, "Distribution_site", "Bucket_site").label == "s3"


def test_prod_graphviz_source_matches_the_golden_file(prod: Diagram) -> None:
    """WAF, ARC routing controls and their safety rule, the compute tier and its database, a legend."""
    nodes = prod.nodes
    assert nodes["WebAcl_shop_cdn_waf"].kind == "guard" and nodes["WebAcl_shop_cdn_waf"].region is None
    assert edge(prod, "WebAcl_shop_cdn_waf", "Distribution_shop_cdn_cdn").label == "filters"
    east, west = "LoadBalancer_shop_us_east_1_alb_lb", "LoadBalancer_shop_us_west_2_alb_lb"
    assert edge(prod, "RoutingControl_shop_dns_rc_us_west_2", west).label == "gates SECONDARY"
    assert (
        edge(prod, "SafetyRule_shop_dns_arc_min_on", "RoutingControl_shop_dns_rc_us_east_1").kind == "control"
    )
    assert "ATLEAST 1 On" in nodes["SafetyRule_shop_dns_arc_min_on"].label
    compute = "targets_TargetGroup_shop_us_east_1_alb_tg_app"
    assert edge(prod, east, compute).label == "out in 20 s"
    assert edge(prod, compute, "Cluster_shop_us_east_1").label == "SQL"
    source = to_graphviz(prod).source
    assert "\tlegend [label=<" in source
    _golden("diagram_prod.dot", source)

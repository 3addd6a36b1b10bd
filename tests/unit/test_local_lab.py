"""The Docker lab under mocks (no Docker engine here): only docker resources, the rendered configs inside."""

from __future__ import annotations

import pytest
from hakit.components.local import LocalLab, LocalLabArgs, lab_files, lab_spec
from hakit.testing import ResourceGraph, synth
from support import require_binaries

CONTAINER = "docker:index/container:Container"


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return synth(lambda: LocalLab("lab", LocalLabArgs(backends=3, source="test")))


def _uploads(node) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {u["file"]: u for u in node.input("uploads")}


def test_only_docker_resources_and_the_expected_containers(graph: ResourceGraph) -> None:
    assert {n.type.split(":")[0] for n in graph.resources} == {"docker"}
    names = sorted(n.name for n in graph.by_type(CONTAINER))
    assert names == sorted(
        ["lab-app-1", "lab-app-2", "lab-app-3"]
        + [f"lab-{node}-{kind}" for node in ("lb-a", "lb-b") for kind in ("haproxy", "keepalived")]
    )
    network = graph.one("docker:index/network:Network")
    assert network.input("ipam_configs.0.subnet") == "172.30.57.0/24"


def test_haproxy_containers_run_the_rendered_config(graph: ResourceGraph) -> None:
    files = lab_files(lab_spec(LocalLabArgs(backends=3)), source="test")
    for index, node in enumerate(("lb-a", "lb-b")):
        proxy = graph.one(CONTAINER, f"lab-{node}-haproxy")
        uploads = _uploads(proxy)
        assert (
            uploads["/etc/haproxy/haproxy.cfg"]["content"] == files[node]["etc/haproxy/haproxy.cfg"].content
        )
        assert proxy.input("ports.0.ip") == "127.0.0.1"
        assert (proxy.input("ports.0.internal"), proxy.input("ports.0.external")) == (80, 8080 + index)
        assert proxy.input("networks_advanced.0.ipv4_address") == f"172.30.57.{11 + index}"
    config = files["lb-a"]["etc/haproxy/haproxy.cfg"].content
    for i in range(3):
        assert f"server app-{i + 1} 172.30.57.{21 + i}:80 check" in config


def test_keepalived_holds_the_vip_in_the_proxy_namespace(graph: ResourceGraph) -> None:
    for node, peer, state in (("lb-a", "172.30.57.12", "MASTER"), ("lb-b", "172.30.57.11", "BACKUP")):
        keepalived = graph.one(CONTAINER, f"lab-{node}-keepalived")
        proxy = graph.one(CONTAINER, f"lab-{node}-haproxy")
        assert keepalived.input("network_mode") == f"container:{proxy.id}"
        assert "NET_ADMIN" in keepalived.input("capabilities.adds")
        conf = _uploads(keepalived)["/etc/keepalived/keepalived.conf"]["content"]
        assert "172.30.57.100/24 dev eth0" in conf
        assert f"unicast_peer {{\n        {peer}" in conf
        assert f"state {state}" in conf
        assert _uploads(keepalived)["/etc/keepalived/scripts/check_proxy.sh"]["executable"] is True


def test_lab_outputs(graph: ResourceGraph) -> None:
    lab = graph.one("hakit:local:LocalLab")
    assert lab.name == "lab"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"vip": "10.0.0.1"}, "LocalLabArgs.vip: 10.0.0.1 is outside the lab subnet 172.30.57.0/24"),
        ({"vip": "172.30.57.11"}, "collides with an address the lab assigns"),
        ({"vip": "172.30.57.1"}, "LocalLabArgs.vip: 172.30.57.1 collides with an address the lab assigns"),
        ({"subnet": "172.30.57.0/29", "vip": "172.30.57.6"}, "LocalLabArgs.subnet: .* is too small"),
        ({"backends": 0}, "LocalLabArgs.backends:"),
    ],
)
def test_bad_lab_arguments(args: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synth(lambda: LocalLab("lab", args))  # type: ignore[arg-type]


@pytest.mark.daemons
def test_lab_configs_pass_the_real_daemons() -> None:
    """The lab's keepalived.conf (unicast, VIP on eth0, track script) and haproxy.cfg pass -t / -c."""
    from hakit.render.validate import validate_tree
    from support import require_root

    require_binaries("keepalived", "haproxy", "ip")
    require_root()
    report = validate_tree(lab_files(lab_spec(LocalLabArgs()), source="test"))
    assert report.ok, [f"{r.host} {r.path}: {r.message}" for r in report.failures]
    assert {r.daemon for r in report.results if not r.skipped} == {"keepalived", "haproxy"}

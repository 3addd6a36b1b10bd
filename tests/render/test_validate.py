"""Validation with the real daemons: the example passes, broken configs fail with the daemon's message."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from hakit.render import RenderedFile, RenderedTree, render_inventory
from hakit.render import validate as validate_module
from hakit.render.validate import read_tree, validate_tree
from hakit.render.writer import write_tree
from hakit.spec.inventory import Inventory
from render_support import EXAMPLE_SOURCE
from support import require_binaries, require_root

pytestmark = pytest.mark.daemons


@pytest.fixture(autouse=True)
def _daemons() -> None:
    require_binaries("haproxy", "keepalived", "nginx", "ip", "openssl")
    require_root()


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    # Only this process's: other test runs on the machine validate at the same time.
    return {line.split()[0] for line in listed.splitlines() if line.startswith(f"hakit-v{os.getpid()}-")}


def tampered(tree: RenderedTree, host: str, path: str, old: str, new: str) -> RenderedTree:
    copy = {h: dict(files) for h, files in tree.items()}
    rendered = copy[host][path]
    assert old in rendered.content
    copy[host][path] = replace(rendered, content=rendered.content.replace(old, new, 1))
    return copy


def load_balancer_tree(inv: Inventory, root: str = "") -> RenderedTree:
    """The rendered files of the example's load-balancer nodes (other sections add hosts of their own)."""
    nodes = {node for cluster in inv.load_balancers.values() for node in cluster.nodes}
    tree = render_inventory(inv, source=EXAMPLE_SOURCE, root=root)
    return {host: files for host, files in tree.items() if host in nodes}


def test_example_is_accepted_once_per_distinct_bundle(example: Inventory) -> None:
    before = _namespaces()
    tree = load_balancer_tree(example)
    report = validate_tree(tree)
    assert report.ok, report.failures
    assert len(report.results) == 8  # 4 nodes x (keepalived + proxy)
    # keepalived.conf differs per node, and so does haproxy.cfg with peers (localpeer); nginx.conf is shared.
    assert report.runs == 7
    shared = {(r.host, r.daemon): r.same_as for r in report.results}
    assert shared[("lb2", "haproxy")] is None and shared[("api2", "nginx")] == "api1"
    assert any("throwaway self-signed" in note for r in report.results for note in r.notes)
    assert _namespaces() == before  # namespaces are removed


def test_without_dedupe_every_config_runs(example: Inventory) -> None:
    report = validate_tree(load_balancer_tree(example), dedupe=False)
    assert report.ok and report.runs == 8


def test_rooted_tree_is_accepted(example: Inventory) -> None:
    report = validate_tree(
        render_inventory(example, source=EXAMPLE_SOURCE, root="/tmp/lab/x"), root="/tmp/lab/x"
    )
    assert report.ok, report.failures


@pytest.mark.parametrize(
    ("host", "path", "old", "new", "daemon", "expected"),
    [
        (
            "lb1",
            "etc/haproxy/haproxy.cfg",
            "balance leastconn",
            "balance sometimes",
            "haproxy",
            "balance only supports",
        ),
        (
            "lb2",
            "etc/keepalived/keepalived.conf",
            "advert_int 0.1",
            "advert_int 0.1\n    bogus_kw 1",
            "keepalived",
            "Unknown keyword 'bogus_kw'",
        ),
        (
            "api1",
            "etc/nginx/nginx.conf",
            "limit_req_status 429;",
            "limit_req_status 429;\n    no_such_directive;",
            "nginx",
            'unknown directive "no_such_directive"',
        ),
    ],
)
def test_broken_config_fails_with_the_daemon_message(
    example: Inventory, host: str, path: str, old: str, new: str, daemon: str, expected: str
) -> None:
    tree = tampered(render_inventory(example, source=EXAMPLE_SOURCE), host, path, old, new)
    report = validate_tree(tree)
    failures = [(r.host, r.path, r.daemon) for r in report.failures]
    assert (host, path, daemon) in failures
    message = next(r.message for r in report.failures if r.host == host and r.path == path)
    assert expected in message
    assert "hakit-validate" not in message  # sandbox paths are hidden


def test_keepalived_wrong_interface_fails(example: Inventory) -> None:
    """A VIP on an interface that the instance does not track still needs that link to exist."""
    tree = render_inventory(example, source=EXAMPLE_SOURCE)
    conf = "etc/keepalived/keepalived.conf"
    broken = tampered(tree, "api1", conf, "virtual_router_id 61", "virtual_router_id 300")
    report = validate_tree(broken, daemons=["keepalived"])
    assert [(r.host, r.path) for r in report.failures] == [("api1", conf)]


def test_missing_config_next_to_its_scripts_is_an_error(example: Inventory) -> None:
    tree = render_inventory(example, source=EXAMPLE_SOURCE)
    del tree["lb1"]["etc/keepalived/keepalived.conf"]
    report = validate_tree(tree, daemons=["keepalived"])
    failure = next(r for r in report.failures if r.host == "lb1")
    assert failure.path == "etc/keepalived/keepalived.conf" and "missing" in failure.message


def test_unavailable_daemon_is_skipped_not_failed(
    example: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = validate_module.find_binary
    monkeypatch.setattr(validate_module, "find_binary", lambda name: None if name == "nginx" else real(name))
    report = validate_tree(render_inventory(example, source=EXAMPLE_SOURCE))
    assert report.ok
    assert {r.host for r in report.skipped} == {"api1", "api2"}
    assert all("nginx is not installed" in r.message for r in report.skipped)


def test_read_tree_round_trips(tmp_path: Path, example: Inventory) -> None:
    tree = render_inventory(example, source=EXAMPLE_SOURCE)
    tree["lb1"]["etc/secret.conf"] = RenderedFile("x\n", secret=True)
    write_tree(tree, tmp_path / "out")
    assert read_tree(tmp_path / "out") == {
        host: {path: replace(f, mode=f.effective_mode) for path, f in files.items()}
        for host, files in tree.items()
    }


def test_certificates_outside_the_rendered_paths_are_never_touched(
    example: Inventory, tmp_path: Path
) -> None:
    """A cert path such as /opt/... must not be created on the validating machine."""
    outside = tmp_path / "opt" / "certs" / "www.pem"
    tree = tampered(
        load_balancer_tree(example),
        "lb1",
        "etc/haproxy/haproxy.cfg",
        "/etc/haproxy/certs/www.pem",
        str(outside),
    )
    report = validate_tree(tree, daemons=["haproxy"])
    assert report.ok, report.failures
    assert not outside.exists() and not outside.parent.exists()
    notes = next(r.notes for r in report.results if r.host == "lb1")
    assert any(str(outside) in note for note in notes)

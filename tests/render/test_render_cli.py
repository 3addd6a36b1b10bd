"""`hakit render | validate | schema` end to end (in-process, through the real entry point)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from render_support import EXAMPLE, EXAMPLE_SOURCE, REPO
from support import HakitCli, require_binaries, require_root


def test_render_writes_the_tree_and_a_summary(tmp_path: Path, hakit_cli: HakitCli) -> None:
    out = tmp_path / "out"
    code, stdout, _ = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out))
    assert code == 0
    assert (out / "lb1/etc/haproxy/haproxy.cfg").is_file()
    assert (out / "api2/etc/nginx/nginx.conf").is_file()
    assert "lb1" in stdout and "validated" in stdout and "not requested" in stdout
    assert f"to {out}" in stdout


def test_bad_inventory_exits_2_with_file_lines_and_writes_nothing(
    tmp_path: Path, hakit_cli: HakitCli
) -> None:
    bad = tmp_path / "bad.yaml"
    text = EXAMPLE.read_text()
    text = text.replace("backend: api\n", "backend: nope\n")
    text = text.replace("port: 8080, maxconn: 500}", "port: 99999, maxconn: 500}", 1)
    bad.write_text(text)
    out = tmp_path / "out"
    code, stdout, stderr = hakit_cli("render", str(bad), "-o", str(out))
    assert code == 2
    assert "Traceback" not in stderr + stdout
    lines = stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{bad}:") for line in lines)
    assert any(
        ": load_balancers.api.proxy.frontends.api.backend: unknown backend 'nope'" in line for line in lines
    )
    assert any(
        "edge.proxy.backends.web.servers.web1.port: Input should be less than or equal to 65535" in line
        for line in lines
    )
    assert not out.exists()


def test_bad_inventory_leaves_an_existing_tree_alone(tmp_path: Path, hakit_cli: HakitCli) -> None:
    out = tmp_path / "out"
    assert hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out))[0] == 0
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("api2: {priority: 110}", "api2: {priority: 120}"))
    code, _, stderr = hakit_cli("render", str(bad), "-o", str(out))
    assert code == 2
    assert "load_balancers.api.nodes.api2.priority: priority 120 of 'api2' equals 'api1'" in stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before


def test_check_mode(tmp_path: Path, hakit_cli: HakitCli) -> None:
    out = tmp_path / "out"
    assert hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out))[0] == 0
    code, _, stderr = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--check")
    assert code == 0 and "up to date" in stderr
    cfg = out / "lb1/etc/haproxy/haproxy.cfg"
    cfg.write_text(cfg.read_text().replace("retries 3", "retries 9"))
    (out / "lb1/extra.conf").write_text("x")
    code, stdout, _ = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--check")
    assert code == 1
    assert "-    retries 9" in stdout and "+    retries 3" in stdout and "- lb1/extra.conf" in stdout
    assert "retries 9" in cfg.read_text()  # --check writes nothing


def test_schema_inventory_prints_json_schema(hakit_cli: HakitCli) -> None:
    code, stdout, _ = hakit_cli("schema", "inventory")
    assert code == 0
    schema = json.loads(stdout)
    assert schema["title"] == "Inventory" and "load_balancers" in schema["properties"]
    assert schema["additionalProperties"] is False


@pytest.mark.daemons
def test_render_validate_and_validate_command(tmp_path: Path, hakit_cli: HakitCli) -> None:
    require_binaries("haproxy", "keepalived", "nginx", "ip")
    require_root()
    out = tmp_path / "out"
    code, stdout, stderr = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--validate")
    assert code == 0, stderr
    assert "FAILED" not in stdout and "daemon runs checked 10 configs" in stdout
    code, stdout, _ = hakit_cli("validate", str(out))
    assert code == 0 and "(same as lb1)" in stdout
    cfg = out / "api1/etc/nginx/nginx.conf"
    cfg.write_text(cfg.read_text().replace("worker_processes auto;", "worker_processes lots;"))
    code, _, stderr = hakit_cli("validate", str(out))
    assert code == 1
    assert "api1/etc/nginx/nginx.conf: nginx:" in stderr and "worker_processes" in stderr


@pytest.mark.daemons
def test_render_refuses_to_write_a_rejected_tree(
    tmp_path: Path, hakit_cli: HakitCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_binaries("haproxy", "keepalived", "nginx", "ip")
    require_root()
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    haproxy = templates / "haproxy/haproxy.cfg.j2"
    haproxy.write_text(haproxy.read_text().replace("    option dontlognull\n", "    option nonsense\n"))
    from hakit.render import environment

    monkeypatch.setattr(environment, "templates_dir", lambda: templates)
    environment.environment.cache_clear()
    environment.template.cache_clear()
    try:
        out = tmp_path / "out"
        code, _, stderr = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--validate=yes")
    finally:
        environment.environment.cache_clear()
        environment.template.cache_clear()
    assert code == 1
    assert "lb1/etc/haproxy/haproxy.cfg: haproxy:" in stderr and "nonsense" in stderr
    assert "nothing written" in stderr and not out.exists()


def test_validate_rejects_a_foreign_directory(tmp_path: Path, hakit_cli: HakitCli) -> None:
    code, _, stderr = hakit_cli("validate", str(tmp_path))
    assert code == 2 and "not a tree written by `hakit render`" in stderr

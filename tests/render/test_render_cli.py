"""`hakit render | validate | schema` end to end (in-process, through the real entry point)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hakit.errors import HakitError
from render_support import EXAMPLE, EXAMPLE_SOURCE, REPO
from support import HakitCli, require_binaries, require_root

NO_VALIDATE = "--validate=no"


def test_render_writes_the_tree_and_a_summary(tmp_path: Path, hakit_cli: HakitCli) -> None:
    out = tmp_path / "out"
    code, stdout, _ = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--no-validate")
    assert code == 0
    assert (out / "lb1/etc/haproxy/haproxy.cfg").is_file()
    assert (out / "api2/etc/nginx/nginx.conf").is_file()
    assert "lb1" in stdout and "validated" in stdout and "skipped (--no-validate)" in stdout
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
    assert code == 0 and "(same as api1)" in stdout
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


def test_check_never_prints_a_secret_that_was_removed(tmp_path: Path, hakit_cli: HakitCli) -> None:
    with_password = tmp_path / "inventory.yaml"
    stats = "stats: {address: 127.0.0.1, port: 8404}"
    text = EXAMPLE.read_text()
    assert stats in text
    with_password.write_text(text.replace(stats, stats[:-1] + ", user: admin, password: Hunter2pass}"))
    out = tmp_path / "out"
    code, _, stderr = hakit_cli("render", str(with_password), "-o", str(out), NO_VALIDATE)
    assert code == 0, stderr
    assert (out / "lb1/etc/haproxy/haproxy.cfg").stat().st_mode & 0o777 == 0o600
    # The new haproxy.cfg is not secret any more, the one on disk is: still no content.
    code, stdout, stderr = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--check")
    assert code == 1
    assert "Hunter2pass" not in stdout + stderr
    assert "~ lb1/etc/haproxy/haproxy.cfg\nsecret file changed (content not shown)" in stdout
    code, stdout, _ = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--check", "--json")
    assert code == 1 and "Hunter2pass" not in stdout


def test_check_and_validate_do_not_follow_links(tmp_path: Path, hakit_cli: HakitCli) -> None:
    out = tmp_path / "out"
    assert hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), NO_VALIDATE)[0] == 0
    (out / "lb1/etc/keepalived/passwd").symlink_to("/etc/passwd")
    (out / "api1/etc/nginx/nginx.conf").unlink()
    (out / "api1/etc/nginx/nginx.conf").symlink_to("/etc/passwd")
    code, stdout, stderr = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--check")
    assert code == 1 and "root:" not in stdout + stderr
    assert "! lb1/etc/keepalived/passwd: a symbolic link (not followed)" in stdout
    assert "! api1/etc/nginx/nginx.conf: a symbolic link (not followed)" in stdout
    code, stdout, stderr = hakit_cli("validate", str(out))
    assert code == 2 and "root:" not in stdout + stderr and "Traceback" not in stderr
    refused = "a symbolic link (not followed); `hakit render` writes none: refusing it"
    assert stderr.splitlines() == [
        f"{out}/api1/etc/nginx/nginx.conf: {refused}",
        f"{out}/lb1/etc/keepalived/passwd: {refused}",
    ]


def test_headers_do_not_depend_on_how_the_path_was_typed(tmp_path: Path, hakit_cli: HakitCli) -> None:
    out = tmp_path / "out"
    assert hakit_cli("render", str(EXAMPLE), "-o", str(out), NO_VALIDATE)[0] == 0
    header = (out / "lb1/etc/haproxy/haproxy.cfg").read_text().splitlines()[0]
    assert "examples/inventory.yaml" in header and str(REPO) not in header
    for typed in (EXAMPLE_SOURCE, f"./examples/../{EXAMPLE_SOURCE}"):
        code, _, stderr = hakit_cli("render", typed, "-o", str(out), "--check")
        assert code == 0, stderr
    assert not any(str(REPO) in p.read_text() for p in out.rglob("*") if p.is_file())
    code, stdout, _ = hakit_cli(
        "render", EXAMPLE_SOURCE, "-o", str(out), "--check", "--source-name", "prod.yaml"
    )
    assert code == 1 and "+# Generated by hakit from prod.yaml." in stdout
    code, _, stderr = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--source-name", "a\nb")
    assert code == 2 and len(stderr.splitlines()) == 1 and "--source-name" in stderr


def test_stable_source_name_outside_the_project(tmp_path: Path) -> None:
    from hakit.render.tree import stable_source_name

    (tmp_path / "proj" / ".git").mkdir(parents=True)
    (tmp_path / "proj" / "envs").mkdir()
    assert stable_source_name("envs/prod.yaml", cwd=tmp_path / "proj" / "envs" / "..") == "envs/prod.yaml"
    assert (
        stable_source_name(tmp_path / "proj/envs/prod.yaml", cwd=tmp_path / "proj/envs") == "envs/prod.yaml"
    )
    assert stable_source_name(tmp_path / "elsewhere/inv.yaml", cwd=tmp_path / "proj") == "inv.yaml"
    assert stable_source_name(tmp_path / "x\rinv.yaml", cwd=tmp_path / "proj") == "x?inv.yaml"


def test_render_and_validate_json(tmp_path: Path, hakit_cli: HakitCli) -> None:
    out = tmp_path / "out"
    code, stdout, _ = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), NO_VALIDATE, "--json")
    assert code == 0
    first = json.loads(stdout)
    assert first["written"] is True and first["inventory"] == EXAMPLE_SOURCE and first["validation"] is None
    assert any(host["name"] == "lb1" and host["files"] > 0 for host in first["hosts"])
    assert len(first["changed"]) == first["files"] and all(c["kind"] == "added" for c in first["changed"])
    cfg = out / "lb1/etc/haproxy/haproxy.cfg"
    cfg.write_text(cfg.read_text() + "# local edit\n")
    code, stdout, _ = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), NO_VALIDATE, "--json")
    assert [c["path"] for c in json.loads(stdout)["changed"]] == ["lb1/etc/haproxy/haproxy.cfg"]


@pytest.mark.daemons
def test_validate_json_and_a_cron_path(
    tmp_path: Path, hakit_cli: HakitCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_binaries("haproxy", "keepalived", "nginx", "ip", "sysctl")
    require_root()
    out = tmp_path / "out"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # cron's: no sbin, where sysctl and the daemons live
    code, stdout, stderr = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(out), "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["validation"]["ok"] is True
    code, stdout, stderr = hakit_cli("validate", str(out), "--json")
    assert code == 0, stderr
    document = json.loads(stdout)
    assert document["ok"] and document["configs"] == len(document["results"]) > 0
    assert {r["daemon"] for r in document["results"]} == {"haproxy", "keepalived", "nginx"}


def test_a_missing_helper_binary_is_one_line(
    tmp_path: Path, hakit_cli: HakitCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hakit.render import sandbox

    real = sandbox.shutil.which
    monkeypatch.setattr(
        sandbox.shutil, "which", lambda name, path=None: None if name == "ip" else real(name, path=path)
    )
    code, stdout, stderr = hakit_cli("render", EXAMPLE_SOURCE, "-o", str(tmp_path / "out"), "--validate=yes")
    assert code == 1 and "Traceback" not in stdout + stderr
    assert stderr.splitlines() == ["cannot validate: iproute2 (ip) is not installed"] * 2
    with pytest.raises(
        HakitError, match=r"^ip not found on PATH or in /usr/sbin:/sbin \(install the iproute2 package\)$"
    ):
        sandbox.require_binary("ip")


def test_render_imports_no_cloud_sdk(tmp_path: Path) -> None:
    """`hakit render` on a host or in CI must not pay for (or need) Pulumi and boto3."""
    argv = ["hakit", "render", str(EXAMPLE), "-o", str(tmp_path / "out"), "--no-validate"]
    script = (
        "import sys\n"
        "from hakit import cli\n"
        f"sys.argv = {argv!r}\n"
        "try:\n    cli.main()\nexcept SystemExit as done:\n    assert not done.code, done.code\n"
        "heavy = ('pulumi', 'pulumi_aws', 'boto3', 'botocore')\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & set(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"

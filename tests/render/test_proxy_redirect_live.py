"""The HTTPS redirect, asked of the real daemons on loopback: with TLS on 8443-style ports the Location
names that port (HAProxy used to keep the plain port, nginx dropped it: both sent clients nowhere)."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hakit.render.writer import write_tree
from hakit.spec.inventory import Inventory
from proxy_inventory import inventory, proxy_of
from support import require_binaries, require_root

pytestmark = pytest.mark.daemons


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path, removed afterwards: a unix socket's path must stay within 97 characters
    (tmp_path is longer under an xdist worker, and with a long user name)."""
    path = Path(tempfile.mkdtemp(prefix="hakit-redirect-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"daemon exited: {log.read_text(errors='replace')[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on {port} after 10 s")


@pytest.mark.parametrize("kind", ["haproxy", "nginx"])
def test_the_redirect_names_the_tls_port(tmp_path: Path, short_dir: Path, kind: str) -> None:
    binaries = require_binaries(kind, "openssl")
    require_root()
    plain, tls = free_port(), free_port()
    data = inventory(
        kind, chroot=False, health_port=free_port(), stats={"enabled": False}, max_connections=1000
    )
    proxy_of(data)["frontends"]["www"] = {
        "addresses": ["*"],
        "port": plain,
        "backend": "web",
        "tls": {"cert": "/etc/ssl/private/www.pem", "port": tls},
        "redirect_https": True,
    }
    root = short_dir / "root"
    from hakit.render import render_inventory

    tree = render_inventory(Inventory.model_validate(data), source="live.yaml", root=str(root))
    write_tree({"n1": tree["n1"]}, tmp_path / "out")
    node = tmp_path / "out" / "n1"
    shutil.move(node, root)
    for directory in ("run/haproxy", "var/lib/haproxy", "var/log/nginx", "var/lib/nginx", "etc/ssl/private"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    pem = root / "etc/ssl/private/www.pem"
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [
            binaries["openssl"],
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "1",
            "-subj",
            "/CN=hakit",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    log = tmp_path / "daemon.log"
    if kind == "haproxy":
        command = [binaries["haproxy"], "-db", "-f", str(root / "etc/haproxy/haproxy.cfg")]
    else:
        command = [
            binaries["nginx"],
            "-p",
            f"{root}/",
            "-c",
            str(root / "etc/nginx/nginx.conf"),
            "-g",
            "daemon off;",
        ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_listening(plain, process, log)
        for host, expected in (
            (f"example.com:{plain}", f"https://example.com:{tls}/a/b?x=1"),
            ("example.com", f"https://example.com:{tls}/a/b?x=1"),
        ):
            connection = http.client.HTTPConnection("127.0.0.1", plain, timeout=5)
            connection.request("GET", "/a/b?x=1", headers={"Host": host})
            response = connection.getresponse()
            response.read()
            connection.close()
            assert response.status == 301, host
            assert response.getheader("Location") == expected, host
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

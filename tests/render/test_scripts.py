"""The programs keepalived runs on hosts: the proxy liveness check and the notify script."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hakit.paths import scripts_dir

CHECK = scripts_dir() / "check_proxy.sh"
NOTIFY = scripts_dir() / "vrrp_notify.sh"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def health_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def check(port: int, path: str = "/healthz") -> int:
    return subprocess.run(["bash", str(CHECK), "127.0.0.1", str(port), path, "1"], timeout=10).returncode


def test_check_passes_on_200_and_fails_otherwise(health_server: int) -> None:
    assert check(health_server) == 0
    assert check(health_server, "/down") == 1


def test_check_fails_when_nothing_listens() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert check(free) == 1


def test_check_fails_within_the_timeout_on_a_stopped_proxy() -> None:
    """SIGSTOP: the kernel still accepts the connection; only the missing answer reveals the hang."""
    server = subprocess.Popen(
        [
            "python3",
            "-c",
            "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen();"
            "print(s.getsockname()[1],flush=True);time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        os.kill(server.pid, signal.SIGSTOP)
        done = subprocess.run(["bash", str(CHECK), "127.0.0.1", str(port), "/healthz", "1"], timeout=5)
        assert done.returncode == 1
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.kill()
        server.wait(timeout=5)


def test_notify_records_state_and_runs_hooks(tmp_path: Path) -> None:
    hooks = tmp_path / "notify.d"
    hooks.mkdir()
    hook = hooks / "10-record"
    hook.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/hook.log\n')
    hook.chmod(0o755)
    (hooks / "20-broken").write_text("#!/bin/sh\nexit 3\n")
    (hooks / "20-broken").chmod(0o755)
    state = tmp_path / "state"
    run = [str(NOTIFY), str(state), str(hooks), "INSTANCE", "VI_1"]
    assert subprocess.run(["bash", *run, "MASTER", "150"], timeout=10).returncode == 0
    assert (state / "VI_1").read_text().split()[:2] == ["MASTER", "150"]
    assert subprocess.run(["bash", *run, "MASTER_RX_LOWER_PRI", "150"], timeout=10).returncode == 0
    assert (state / "VI_1").read_text().split()[0] == "MASTER"  # only logged, not a state
    assert subprocess.run(["bash", *run, "BACKUP", "100"], timeout=10).returncode == 0
    assert (state / "VI_1").read_text().split()[0] == "BACKUP"
    assert (tmp_path / "hook.log").read_text().splitlines() == [
        "INSTANCE VI_1 MASTER 150",
        "INSTANCE VI_1 MASTER_RX_LOWER_PRI 150",
        "INSTANCE VI_1 BACKUP 100",
    ]
    assert not [p for p in state.iterdir() if p.name.startswith(".")]

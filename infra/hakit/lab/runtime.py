"""A running lab: namespaces, rendered configs on disk, keepalived + proxy per LB node, backends, a client.

`Lab.up()` builds and starts everything and waits until the VIP answers; `Lab.down()` stops every process it
started (by PID) and deletes its namespaces. `save_state`/`load_state` let `hakit lab down` clean a lab that
`hakit lab up` left running.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from hakit.errors import HakitError
from hakit.lab import netns
from hakit.lab.load import LoadConfig, Record
from hakit.lab.plan import LabPlan, NodePlan, lb_host, root_of
from hakit.lab.procs import ProcRecord, Supervisor, stop_records
from hakit.lab.vip import VipWatcher
from hakit.render.writer import write_file

STATS_SOCKET = "run/hakit-lab-stats.sock"
NGINX_LAB_ERROR_LOG = "var/log/hakit-lab-nginx-error.log"


class Lab:
    """One lab run (see the module docstring)."""

    def __init__(self, plan: LabPlan, workdir: Path, prefix: str | None = None) -> None:
        self.plan = plan
        self.workdir = workdir
        self.prefix = prefix or netns.new_prefix()
        self.topology = netns.Topology(self.prefix, plan.hosts(), plan.segments)
        self.supervisor = Supervisor(workdir / "logs")
        self.watcher: VipWatcher | None = None
        self._loads = 0
        # (node, argv) -> argv: how a node's daemons start (lab/sshd.py: in the node's mount namespace).
        self.node_wrapper: Callable[[str, list[str]], list[str]] | None = None

    # ------------------------------------------------------------------ lifecycle

    def up(self, timeout: float = 20.0) -> None:
        """Build the namespaces, write the configs, start every daemon, wait until the VIP serves."""
        try:
            netns.build(self.topology)
            for node in self.plan.nodes:
                ns = self.node_ns(node.name)
                # Proxies on the standby bind the VIP before they hold it.
                netns.set_sysctl(ns, "net.ipv4.ip_nonlocal_bind", "1")
                self._write_files(node)
            for backend in self.plan.backends:
                self.start_backend(backend.name)
            for node in self.plan.nodes:
                self.start_proxy(node.name)
            self.watcher = VipWatcher([self.node_ns(n.name) for n in self.plan.nodes])
            self.watcher.start()
            for node in self.plan.nodes:
                self.start_keepalived(node.name)
            self.wait_healthy(timeout)
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stop every process this lab started and delete its namespaces (safe to call twice)."""
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
        self.supervisor.stop_all()
        netns.destroy(self.topology.namespaces())

    def remove(self) -> None:
        """`down()`, then delete the work directory (configs and logs) as well."""
        self.down()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def attach(self, state: dict[str, object]) -> None:
        """Adopt a lab left running by `lab up` (its state file): PIDs, bridge ports, a new VIP watcher."""
        ports = state.get("ports")
        if isinstance(ports, dict):
            self.topology.ports = {
                str(host): {str(k): str(v) for k, v in p.items()} for host, p in ports.items()
            }
        for data in state.get("processes", []):  # type: ignore[attr-defined]
            record = ProcRecord.from_dict(data)
            self.supervisor.records[record.name] = record
        self.watcher = VipWatcher([self.node_ns(n.name) for n in self.plan.nodes])
        self.watcher.start()
        self.check_running()
        self.wait_healthy()

    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.down()

    def _write_files(self, node: NodePlan) -> None:
        root = root_of(self.workdir, node.name)
        for sub in ("run", "var/log", "var/lib/haproxy", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        rooted = re.compile(re.escape(str(root)) + r"(/[^\s;\"']*)")
        for lab_file in node.files:
            path = root / lab_file.relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            write_file(path, lab_file.content, lab_file.mode)
            # Every directory a config points into (pid files, sockets, logs, temp paths) must exist.
            for match in rooted.finditer(lab_file.content):
                (root / match.group(1).lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        if self.plan.proxy == "haproxy":
            # Lab-only extra: a stats socket under the node's root (server states, retry counters), and logs.
            extra = (
                "global\n"
                f"    stats socket {root / STATS_SOCKET} mode 600 level admin\n"
                # Request logs (with termination states) into the proxy's lab log, not syslog.
                "    log stderr format raw local0 info\n"
            )
            (root / "run" / "hakit-lab.cfg").write_text(extra)

    # ------------------------------------------------------------------ names

    def node_ns(self, node: str) -> str:
        """Namespace of an LB node."""
        return self.topology.ns(lb_host(node))

    def backend_ns(self, backend: str) -> str:
        """Namespace of a backend server."""
        return self.topology.ns(self.plan.backend(backend).host_name)

    @property
    def client_ns(self) -> str:
        """Namespace of the load client."""
        return self.topology.ns("client")

    def backend_file(self, backend: str, kind: str) -> Path:
        """A backend's mode file (read on SIGHUP) or POST log, in the lab's work directory."""
        return self.workdir / "backends" / f"{backend}.{kind}"

    def root(self, node: str) -> Path:
        """Root directory of an LB node's files."""
        return root_of(self.workdir, node)

    # ------------------------------------------------------------------ processes

    def start_backend(self, name: str) -> None:
        """Start (or restart) a backend server in its namespace."""
        backend = next(b for b in self.plan.backends if b.name == name)
        self.supervisor.forget(f"backend-{name}")
        argv = [
            sys.executable,
            "-m",
            "hakit.lab.backend",
            "--bind",
            backend.address,
            "--port",
            str(backend.port),
        ]
        argv += ["--name", name, "--health-path", backend.health_path]
        # Drills 10-12: switch the answer by a mode file + SIGHUP, count the POSTs each server received.
        self.backend_file(name, "mode").parent.mkdir(exist_ok=True)
        argv += ["--mode-file", str(self.backend_file(name, "mode"))]
        argv += ["--post-log", str(self.backend_file(name, "posts"))]
        self.supervisor.start(f"backend-{name}", argv, netns=self.backend_ns(name))

    def start_proxy(self, node: str) -> None:
        """Start (or restart) the proxy of an LB node in the foreground."""
        plan = self.plan.node(node)
        root = self.root(node)
        conf = root / plan.proxy_conf
        if self.plan.proxy == "haproxy":
            # The lab's file first: `log global` in the rendered defaults copies the loggers known so far.
            argv = ["haproxy", "-W", "-db", "-f", str(root / "run" / "hakit-lab.cfg"), "-f", str(conf)]
        else:
            # The lab adds an error log of its own: nginx logs each failed upstream attempt there.
            extra = f"daemon off; error_log {root / NGINX_LAB_ERROR_LOG} warn;"
            argv = ["nginx", "-p", f"{root}/", "-c", str(conf), "-g", extra]
        if self.node_wrapper is not None:
            argv = self.node_wrapper(node, argv)
        self.supervisor.forget(f"proxy-{node}")
        self.supervisor.start(f"proxy-{node}", argv, netns=self.node_ns(node))

    def start_keepalived(self, node: str) -> None:
        """Start (or restart) keepalived (VRRP only, foreground, own pid files) on an LB node."""
        plan = self.plan.node(node)
        root = self.root(node)
        pid_files = [root / "run" / "keepalived.pid", root / "run" / "keepalived-vrrp.pid"]
        # After a crash the pid files remain, and a killed child may linger as a zombie (kill -0 succeeds):
        # keepalived would then refuse to start ("daemon is already running").
        for pid_file in pid_files:
            pid_file.unlink(missing_ok=True)
        argv = ["keepalived", "-n", "-l", "-D", "--vrrp", "-f", str(root / plan.keepalived_conf)]
        argv += ["-p", str(pid_files[0]), "-r", str(pid_files[1])]
        if self.node_wrapper is not None:
            argv = self.node_wrapper(node, argv)
        self.supervisor.forget(f"keepalived-{node}")
        self.supervisor.start(f"keepalived-{node}", argv, netns=self.node_ns(node))

    def check_running(self) -> None:
        """Raise with the end of its log when a daemon the lab started has exited."""
        for name, record in self.supervisor.records.items():
            if not name.startswith("load-") and not self.supervisor.alive(name):
                tail = Path(record.log).read_text(errors="replace").splitlines()[-5:] if record.log else []
                raise HakitError([f"lab: {name} exited; the end of {record.log}:", *("  " + t for t in tail)])

    # ------------------------------------------------------------------ observation

    def vip_holders(self) -> list[str]:
        """LB nodes holding the VIP now."""
        assert self.watcher is not None
        held = set(self.watcher.holders(self.plan.vip))
        return [n.name for n in self.plan.nodes if self.node_ns(n.name) in held]

    def haproxy_stats(self, node: str) -> list[dict[str, str]]:
        """`show stat` of a node's HAProxy, one dict per proxy/server row."""
        raw = self.haproxy_command(node, "show stat")
        text = raw.lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    def haproxy_command(self, node: str, command: str) -> str:
        """Send one command to a node's HAProxy stats socket and return the answer."""
        path = str(self.root(node) / STATS_SOCKET)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(path)
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self, node: str) -> dict[str, str]:
        """HAProxy server name -> status (UP, DOWN, MAINT, ...) in the cluster's backend."""
        return {
            row["svname"]: row["status"].split()[0]
            for row in self.haproxy_stats(node)
            if row.get("pxname") == self.plan.proxy_backend and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def proxy_retries(self, node: str) -> int:
        """Retries + redispatches HAProxy made in the cluster's backend (nginx: failed upstream attempts)."""
        if self.plan.proxy == "haproxy":
            for row in self.haproxy_stats(node):
                if row.get("pxname") == self.plan.proxy_backend and row["svname"] == "BACKEND":
                    return int(row.get("wretr") or 0) + int(row.get("wredis") or 0)
            return 0
        log = self.root(node) / NGINX_LAB_ERROR_LOG
        if not log.exists():
            return 0
        lines = log.read_text(errors="replace").splitlines()
        return sum(1 for line in lines if "[error]" in line and "upstream" in line)

    def nginx_log_has(self, node: str, text: str, offset: int) -> bool:
        """Does the lab's nginx error log hold `text` after byte `offset`?"""
        log = self.root(node) / NGINX_LAB_ERROR_LOG
        with contextlib.suppress(FileNotFoundError), open(log, "rb") as handle:
            handle.seek(offset)
            return text.encode() in handle.read()
        return False

    def nginx_error_log_size(self, node: str) -> int:
        """Size of the lab's nginx error log (grows when nginx sees a failing upstream)."""
        log = self.root(node) / NGINX_LAB_ERROR_LOG
        return log.stat().st_size if log.exists() else 0

    def wait_healthy(self, timeout: float = 20.0) -> None:
        """Wait until a node holds the VIP, HAProxy sees every server UP, and a request succeeds.

        With preemption the holder is the master; with nopreempt whichever node won the start-up race.
        """
        assert self.watcher is not None
        deadline = time.monotonic() + timeout
        while not self.vip_holders():
            if time.monotonic() > deadline:
                self.check_running()
                raise HakitError(f"lab: no LB node took the VIP {self.plan.vip}")
            time.sleep(0.01)
        if self.plan.proxy == "haproxy":
            for node in self.plan.nodes:
                while True:
                    states = {}
                    with contextlib.suppress(OSError):
                        states = self.server_states(node.name)
                    if states and all(s == "UP" for s in states.values()):
                        break
                    if time.monotonic() > deadline:
                        self.check_running()
                        raise HakitError(
                            f"lab: HAProxy on {node.name} does not see every server UP: {states}"
                        )
                    time.sleep(0.05)
        while True:
            records = self.run_load(self.plan.load_config(keepalive=0, max_requests=1))
            if records and records[0][3] == 200:
                return
            if time.monotonic() > deadline:
                raise HakitError(f"lab: no answer through the VIP {self.plan.vip}:{self.plan.port}")
            time.sleep(0.1)

    # ------------------------------------------------------------------ load

    def start_load(self, config: LoadConfig, ready_timeout: float = 10.0) -> LoadHandle:
        """Start a load client in the client namespace; return once its first request succeeded."""
        self._loads += 1
        name = f"load-{self._loads}"
        out = self.workdir / "logs" / f"{name}.json"
        argv = [sys.executable, "-m", "hakit.lab.load", "--out", str(out)]
        for key, value in vars(config).items():
            if value is not None:
                argv += [f"--{key.replace('_', '-')}", str(value)]
        self.supervisor.start(name, argv, netns=self.client_ns, stdout=subprocess.PIPE)
        handle = LoadHandle(self, name, out)
        handle.wait_ready(ready_timeout)
        return handle

    def run_load(self, config: LoadConfig) -> list[Record]:
        """Run a load client to its bounds and return its records."""
        handle = self.start_load(config, ready_timeout=0)
        return handle.wait()

    # ------------------------------------------------------------------ state

    def save_state(self, path: Path, inventory: Path | None = None) -> None:
        """Write what `lab down` (and `lab drill` on this lab) need, atomically, mode 0600."""
        state = {
            "prefix": self.prefix,
            "cluster": self.plan.cluster,
            "proxy": self.plan.proxy,
            "vip": self.plan.vip,
            "inventory": str(inventory.resolve()) if inventory else None,
            "workdir": str(self.workdir),
            "namespaces": self.topology.namespaces(),
            "ports": self.topology.ports,
            "processes": [
                r.to_dict() for r in self.supervisor.records.values() if not r.name.startswith("load-")
            ],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_file(tmp, json.dumps(state, indent=2), 0o600)
        tmp.replace(path)


@dataclass
class LoadHandle:
    """A running load client."""

    lab: Lab
    name: str
    out: Path

    def wait_ready(self, timeout: float) -> None:
        """Wait for the client's `ready` line (first successful request)."""
        if timeout <= 0:
            return
        stdout = self.lab.supervisor.popen(self.name).stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready or b"ready" not in stdout.readline():
            self.stop()
            raise HakitError("lab: the load client got no successful answer through the VIP")

    def stop(self) -> list[Record]:
        """Ask the client to finish (SIGTERM), wait, and return its records."""
        self.lab.supervisor.signal(self.name, signal.SIGTERM)
        return self.wait()

    def wait(self, timeout: float = 30.0) -> list[Record]:
        """Wait for the client to exit and return its records."""
        popen = self.lab.supervisor.popen(self.name)
        try:
            popen.wait(timeout=timeout)
        finally:
            self.lab.supervisor.stop(self.name)
            if popen.stdout is not None:
                popen.stdout.close()
            self.lab.supervisor.forget(self.name)
        if not self.out.exists():
            return []
        return [cast(Record, tuple(r)) for r in json.loads(self.out.read_text())]


def load_state(path: Path) -> dict[str, object]:
    """Read a lab state file."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as err:
        raise HakitError(f"{path}: not a readable lab state file: {err}") from err


def destroy_from_state(state: dict[str, object]) -> None:
    """Stop the processes (matching PID and start time only) and delete the namespaces of a saved lab."""
    records = [ProcRecord.from_dict(r) for r in state.get("processes", [])]  # type: ignore[attr-defined]
    stop_records(records)
    namespaces = [str(n) for n in state.get("namespaces", [])]  # type: ignore[attr-defined]
    netns.destroy(namespaces)
    workdir = state.get("workdir")
    # Only a directory this module created: <base>/<prefix> with the recorded prefix.
    if isinstance(workdir, str) and Path(workdir).name == state.get("prefix"):
        shutil.rmtree(workdir, ignore_errors=True)


DEFAULT_BASE = Path("/run/hakit-lab")
"""Where labs keep their files and state: root-owned, traversable (nginx workers read the error pages)."""


def new_workdir(prefix: str, base: Path = DEFAULT_BASE) -> Path:
    """Create the work directory of a lab run (0755: nginx workers read error pages from it)."""
    workdir = base / prefix
    workdir.mkdir(parents=True, exist_ok=False, mode=0o755)
    workdir.chmod(0o755)
    return workdir

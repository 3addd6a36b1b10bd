"""Lab nodes as SSH hosts for `hakit deploy`: an sshd per node whose sessions see the node's own /etc.

Each node's daemons and its sshd run in a private mount namespace (inside the node's network namespace)
where the node's directories are bind-mounted over /etc/haproxy, /etc/keepalived, /run ... so a push over
SSH writes the very files the lab's daemons read, and nothing of the machine's own /etc changes.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from hakit.errors import HakitError
from hakit.lab.plan import LabFile, LabPlan
from hakit.lab.procs import ProcRecord, proc_start_time
from hakit.lab.runtime import NGINX_LAB_ERROR_LOG, Lab
from hakit.render import render_host
from hakit.spec.inventory import Inventory

NODE_DIRS = (
    "etc/haproxy",
    "etc/keepalived",
    "etc/nginx",
    "etc/sysctl.d",
    "var/lib/haproxy",
    "var/log/nginx",
    "var/lib/nginx",
    "run",
)
"""Directories of the machine that each node sees as its own (those that exist here are covered)."""

BASE = Path("/var/tmp/hakit-lab")
"""Labs with sshd keep their files here: /run is one of the directories each node replaces."""

STATE_DIR = "/run/hakit-deploy"
"""hakit deploy's staging directory on a lab node (inside the node's own /run)."""


DB_NODE_OVERLAYS = ("etc", "usr/local")
"""A database node writes all over /etc (mysql, hakit, systemd, ...) and /usr/local/sbin: the node sees the
machine's directories with its own writable layer on top (overlayfs), so nothing it writes reaches them."""

DB_NODE_DIRS = ("var/lib/mysql", "run")
"""A database node's own datadir and /run (bind mounts, after the overlays; both exist on the machine)."""


def node_argv(
    root: Path, argv: list[str], dirs: tuple[str, ...] = NODE_DIRS, overlays: tuple[str, ...] = ()
) -> list[str]:
    """`argv` run in a private mount namespace where the node's directories cover the machine's."""
    steps = []
    for rel in overlays:
        upper, work = root / "overlay" / rel / "upper", root / "overlay" / rel / "work"
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        options = f"lowerdir=/{rel},upperdir={upper},workdir={work}"
        steps.append(f"mount -t overlay overlay -o {shlex.quote(options)} {shlex.quote('/' + rel)}")
    for rel in dirs:
        (root / rel).mkdir(parents=True, exist_ok=True)
        if Path("/", rel).is_dir():
            steps.append(f"mount --bind {shlex.quote(str(root / rel))} {shlex.quote('/' + rel)}")
    script = " && ".join([*steps, 'exec "$@"'])
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *argv]


def real_path_plan(plan: LabPlan, inv: Inventory, source: str) -> LabPlan:
    """The plan with every node's files rendered for real paths (/etc/haproxy/...), as on a host."""
    nodes = tuple(
        dataclasses.replace(
            node,
            files=tuple(
                LabFile(path, f.content, f.effective_mode)
                for path, f in render_host(inv, node.name, source=source, root="").items()
            ),
        )
        for node in plan.nodes
    )
    return dataclasses.replace(plan, nodes=nodes)


def prepare(lab: Lab) -> None:
    """Make the lab's daemons run in their node's mount namespace (call before `lab.up()`)."""
    for node in lab.plan.nodes:
        root = lab.root(node.name)
        for rel in ("run/haproxy", "run/keepalived", "run/sshd", "var/lib/haproxy"):
            (root / rel).mkdir(parents=True, exist_ok=True)
    lab.node_wrapper = lambda name, argv: node_argv(lab.root(name), argv)


class LabSsh:
    """Keys, sshd per node, and the Ansible inventory overlay that points `hakit deploy` at the lab."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.dir = lab.workdir / "ssh"
        self.key = self.dir / "client_ed25519"

    def start(self, timeout: float = 10.0) -> None:
        """Generate keys, start every node's sshd, wait for their PidFiles."""
        self.dir.mkdir(mode=0o700, exist_ok=True)
        for key in (self.key, self.dir / "host_ed25519"):
            if not key.exists():
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                    check=True,
                    capture_output=True,
                )
        for node in self.lab.plan.nodes:
            config = self.dir / f"sshd-{node.name}.conf"
            config.write_text(
                "Port 22\n"
                f"HostKey {self.dir / 'host_ed25519'}\n"
                f"AuthorizedKeysFile {self.key}.pub\n"
                f"PidFile {self.pid_file(node.name)}\n"
                "UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
                "MaxSessions 50\nMaxStartups 50\n"
                # A session whose client went away with its namespace ends instead of waiting forever.
                "ClientAliveInterval 2\nClientAliveCountMax 3\n"
            )
            argv = ["/usr/sbin/sshd", "-D", "-f", str(config), "-E", str(self.dir / f"sshd-{node.name}.log")]
            wrapped = node_argv(self.lab.root(node.name), argv)
            self.lab.supervisor.start(f"sshd-{node.name}", wrapped, netns=self.lab.node_ns(node.name))
        deadline = time.monotonic() + timeout
        for node in self.lab.plan.nodes:
            while not self.pid_file(node.name).exists():
                if time.monotonic() > deadline:
                    self.lab.check_running()
                    raise HakitError(f"lab: sshd on {node.name} wrote no PidFile")
                time.sleep(0.02)

    def pid_file(self, node: str) -> Path:
        """The PidFile of a node's sshd."""
        return self.dir / f"sshd-{node}.pid"

    def reload_commands(self, node: str) -> dict[str, str]:
        """What the Debian units' ExecReload does, aimed at this node's lab daemons (no systemd here).

        nginx: `nginx -s reload` is SIGHUP to the master; HAProxy master-worker: SIGUSR2.
        """
        commands = {"keepalived": f"kill -HUP {self._pid('keepalived', node)}"}
        proxy = self._pid("proxy", node)
        commands[self.lab.plan.proxy] = (
            f"kill -USR2 {proxy}" if self.lab.plan.proxy == "haproxy" else f"kill -HUP {proxy}"
        )
        return commands

    def _pid(self, role: str, node: str) -> str:
        """A lab daemon's PID for a shell command: the lab's record, else the file its start command wrote."""
        record = self.lab.supervisor.records.get(f"{role}-{node}")
        if record is not None:
            return str(record.pid)
        return f"$(cat {shlex.quote(str(self.started_pid_file(role, node)))})"

    def started_pid_file(self, role: str, node: str) -> Path:
        """Where a daemon started by `hakit deploy` (the lab's start command) leaves its PID."""
        return self.dir / f"started-{role}-{node}.pid"

    def daemon_argv(self, role: str, node: str) -> list[str]:
        """The foreground command line of a node's proxy or keepalived, as the lab itself starts them."""
        root = self.lab.root(node)
        plan = self.lab.plan.node(node)
        if role == "keepalived":
            pids = ["-p", str(root / "run/keepalived.pid"), "-r", str(root / "run/keepalived-vrrp.pid")]
            return ["keepalived", "-n", "-l", "-D", "--vrrp", "-f", str(root / plan.keepalived_conf), *pids]
        if self.lab.plan.proxy == "haproxy":
            # The lab's own stats socket first, when the lab wrote one (Lab.start_proxy does the same).
            lab_cfg = root / "run" / "hakit-lab.cfg"
            lab_files = ["-f", str(lab_cfg)] if lab_cfg.exists() else []
            return ["haproxy", "-W", "-db", *lab_files, "-f", str(root / plan.proxy_conf)]
        extra = f"daemon off; error_log {root / NGINX_LAB_ERROR_LOG} warn;"
        return ["nginx", "-p", f"{root}/", "-c", str(root / plan.proxy_conf), "-g", extra]

    def start_commands(self, node: str) -> dict[str, str]:
        """`hakit_start` for the lab: the daemon in the node's namespaces (the SSH session's), detached
        from the session, its PID in a file so the lab adopts it and stops it by PID."""
        commands = {}
        for role, daemon in (("proxy", self.lab.plan.proxy), ("keepalived", "keepalived")):
            argv = self.daemon_argv(role, node)
            argv[0] = shutil.which(argv[0]) or argv[0]
            pid_file = shlex.quote(str(self.started_pid_file(role, node)))
            inner = f"echo $$ > {pid_file} && exec {shlex.join(argv)}"
            log = shlex.quote(str(self.lab.supervisor.log_path(f"{role}-{node}")))
            commands[daemon] = f"setsid -f sh -c {shlex.quote(inner)} </dev/null >>{log} 2>&1"
        return commands

    def stop_commands(self, node: str) -> dict[str, str]:
        """`hakit_stop` for the lab: SIGTERM by PID (what the units' ExecStop does)."""
        return {
            self.lab.plan.proxy: f"kill -TERM {self._pid('proxy', node)}",
            "keepalived": f"kill -TERM {self._pid('keepalived', node)}",
        }

    def adopt_started(self) -> list[str]:
        """Daemons `hakit deploy` started in the lab: recorded like the lab's own (stopped by PID on down)."""
        adopted = []
        for node in self.lab.plan.nodes:
            for role in ("proxy", "keepalived"):
                path = self.started_pid_file(role, node.name)
                if not path.exists():
                    continue
                pid = int(path.read_text().strip() or 0)
                path.unlink()
                start_time = proc_start_time(pid) if pid else None
                if start_time is None:
                    continue
                name = f"{role}-{node.name}"
                log = str(self.lab.supervisor.log_path(name))
                netns = self.lab.node_ns(node.name)
                record = ProcRecord(name, pid, start_time, netns, self.daemon_argv(role, node.name), log)
                self.lab.supervisor.records[name] = record
                adopted.append(name)
        return adopted

    def ansible_overlay(self) -> dict[str, Any]:
        """Host vars that send `hakit deploy` to the lab: key, fresh host keys, reload commands, state dir."""
        hosts = {}
        for node in self.lab.plan.nodes:
            hosts[node.name] = {
                "ansible_ssh_private_key_file": str(self.key),
                # The lab's host key is new on every run: nothing to pin it against.
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                "hakit_reload": self.reload_commands(node.name),
                "hakit_start": self.start_commands(node.name),
                "hakit_stop": self.stop_commands(node.name),
                "hakit_state_dir": STATE_DIR,
                "hakit_timeout": 15,
            }
        return {"all": {"hosts": hosts}}

    def write_overlay(self) -> Path:
        """The overlay as a file for `hakit deploy -i`."""
        path = self.dir / "lab-inventory.json"
        path.write_text(json.dumps(self.ansible_overlay(), indent=1))
        return path

    def ssh(self, node: str, command: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        """Run a command on a node over SSH from the client namespace (as the deploy does)."""
        address = self.lab.plan.node(node).interfaces[0].addresses[0].split("/")[0]
        argv = ["ip", "netns", "exec", self.lab.client_ns, "ssh", "-i", str(self.key), "-o", "BatchMode=yes"]
        argv += [
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            f"root@{address}",
            command,
        ]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def create_deploy_lab(
    inv: Inventory, cluster: str, *, source: str, base: Path = BASE, fresh: bool = False
) -> tuple[Lab, LabSsh]:
    """Start a lab whose nodes are SSH hosts with real paths; on failure nothing is left behind.

    `fresh`: hosts as after installing the packages: no config, no daemon running, no hakit sysctl
    (what `hakit deploy` does on a first install); only the backends, the VIP watcher and sshd run.
    """
    from hakit.lab.from_inventory import build_plan
    from hakit.lab.netns import new_prefix
    from hakit.lab.runtime import new_workdir

    prefix = new_prefix()
    workdir = new_workdir(prefix, base)
    plan = real_path_plan(build_plan(inv, cluster, source=source, workdir=workdir), inv, source)
    lab = Lab(plan, workdir, prefix)
    prepare(lab)
    ssh = LabSsh(lab)
    try:
        if fresh:
            _up_without_daemons(lab)
        else:
            lab.up()
        ssh.start()
    except BaseException:
        lab.remove()
        raise
    return lab, ssh


def _up_without_daemons(lab: Lab) -> None:
    """Namespaces, backends and the VIP watcher of a lab whose LB nodes are bare hosts."""
    from hakit.lab import netns
    from hakit.lab.vip import VipWatcher

    netns.build(lab.topology)
    for node in lab.plan.nodes:
        for rel in NODE_DIRS:
            (lab.root(node.name) / rel).mkdir(parents=True, exist_ok=True)
    for backend in lab.plan.backends:
        lab.start_backend(backend.name)
    lab.watcher = VipWatcher([lab.node_ns(n.name) for n in lab.plan.nodes])
    lab.watcher.start()

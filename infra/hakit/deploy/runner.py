"""Run the shipped playbook with ansible-playbook and fold its events into per-host progress."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hakit.deploy import PLAYBOOK_DIR
from hakit.errors import HakitError

CALLBACK_DIR = Path(__file__).parent / "callback"
STEPS = (
    "pack",
    "preflight",
    "upload",
    "stage",
    "validate",
    "swap",
    "reload",
    "drain",
    "restart",
    "gate",
    "vip",
    "probe",
    "rollback",
)
"""Columns of the progress table: the playbook's task names in the order they run."""

DB_STEPS = ("drain", "restart")
"""MariaDB steps (db_restart.yml): the write-VIP holder hands its VIP over, then mariadbd restarts."""

MASK = "********"


@dataclass
class HostProgress:
    """What happened on one host, step by step."""

    steps: dict[str, str] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


@dataclass
class Progress:
    """The whole run: hosts in first-seen order, the failure line, and raw non-JSON output."""

    hosts: dict[str, HostProgress] = field(default_factory=dict)
    failure: str | None = None
    log: list[str] = field(default_factory=list)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one callback event in (pure: no I/O)."""
        host = event.get("host")
        task = str(event.get("task", ""))
        if not isinstance(host, str) or (task not in STEPS and task != "failed"):
            if task == "one VIP holder" and event.get("status") == "failed":
                self.failure = f"preflight: {event.get('msg')}"
            return
        state = self.hosts.setdefault(host, HostProgress())
        if event["event"] == "start":
            if task in STEPS:
                state.steps[task] = "running"
            return
        status = str(event.get("status"))
        if task == "failed":
            self.failure = str(event.get("msg", "")).strip()
            return
        label = {"ok": "changed" if event.get("changed") else "ok"}.get(status, status)
        state.steps[task] = label
        if isinstance(event.get("t"), int | float):
            state.finished[task] = float(event["t"])
        if task == "stage":
            state.files = [str(f) for f in event.get("files", [])]
            state.diff = [str(d) for d in event.get("diff", [])]
        if task == "reload":
            state.reloaded = [str(d) for d in event.get("reloaded", [])]
            state.started = [str(d) for d in event.get("started", [])]
            if state.started and status == "ok":
                state.steps[task] = "started"  # a first install: the daemons were started, not reloaded
            state.pending = [str(p) for p in event.get("pending", [])]
        # Steps inside the node block are rescued and the final `failed` task names them; pre-flight is not.
        if status == "unreachable" or (status == "failed" and task in ("pack", "preflight")):
            self.failure = f"{host}: {task}: {event.get('msg')}"


def masked(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced (defence in depth: no_log already hides them)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def ansible_playbook() -> str:
    """The ansible-playbook next to this Python (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "ansible-playbook"
    if local.exists():
        return str(local)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise HakitError("deploy: ansible-playbook not found (install hakit with its deploy extra)")
    return found


def write_config(workdir: Path, forks: int) -> Path:
    """An ansible.cfg for the run: hakit's callback, pipelining and ControlPersist for speed."""
    cfg = workdir / "ansible.cfg"
    cfg.write_text(
        "[defaults]\n"
        f"forks = {forks}\n"
        "stdout_callback = hakit_events\n"
        f"callback_plugins = {CALLBACK_DIR}\n"
        "retry_files_enabled = False\n"
        "interpreter_python = auto_silent\n"
        "timeout = 10\n"
        f"local_tmp = {workdir / 'tmp'}\n"
        "[ssh_connection]\n"
        # Connection sharing per run: a master left by another run (another lab with the same addresses
        # in other namespaces) must never carry this run's commands.
        f"control_path_dir = {workdir / 'cp'}\n"
        "pipelining = True\n"
        "ssh_args = -o ControlMaster=auto -o ControlPersist=30s -o BatchMode=yes\n"
    )
    return cfg


def hosts_of(inventory: dict[str, Any]) -> list[str]:
    """Every host of a generated inventory."""
    groups = inventory["all"]["children"]["hakit_deploy"]["children"]
    return sorted({host for group in groups.values() for host in group.get("hosts", {})})


def pack_trees(tree_dir: Path, hosts: Iterable[str], workdir: Path) -> None:
    """One tar per host (owner root, modes kept) where the playbook's upload step looks for it."""

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    for host in hosts:
        target = workdir / f".{host}.hakit.tar"
        with tarfile.open(target, "w") as tar:
            tar.add(tree_dir / host, arcname=".", filter=as_root)
        target.chmod(0o600)


def run_playbook(
    inventory: dict[str, Any],
    *,
    workdir: Path,
    extra_inventories: Iterable[Path] = (),
    extra_vars: Iterable[str] = (),
    check: bool = False,
    diff: bool = False,
    forks: int = 5,
    secrets: Iterable[str] = (),
    on_event: Callable[[Progress], None] | None = None,
) -> tuple[Progress, int]:
    """Run site.yml over `inventory`; return the folded progress and ansible-playbook's exit code."""
    secret_list = [s for s in secrets if s]
    inv_path = workdir / "inventory.json"
    fd = os.open(inv_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(inventory, handle, indent=1)
    cfg = write_config(workdir, forks)
    argv = [ansible_playbook(), "-i", str(inv_path)]
    for extra in extra_inventories:
        argv += ["-i", str(extra)]
    pack_trees(Path(inventory["all"]["vars"]["hakit_tree"]), hosts_of(inventory), workdir)
    argv += [str(PLAYBOOK_DIR / "site.yml"), "-e", f"hakit_pack_dir={workdir}", "-e", "hakit_packed=true"]
    for item in extra_vars:
        argv += ["-e", item]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({"ANSIBLE_CONFIG": str(cfg), "ANSIBLE_NOCOLOR": "1", "PYTHONUNBUFFERED": "1"})
    progress = Progress()
    stderr_log = workdir / "ansible-stderr.log"
    with open(stderr_log, "wb") as err_out:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=err_out, stdin=subprocess.DEVNULL, env=env
        )
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = masked(raw.decode(errors="replace").rstrip("\n"), secret_list)
            try:
                event = json.loads(line)
            except ValueError:
                if line.strip():
                    progress.log.append(line)
                continue
            if isinstance(event, dict):
                progress.apply(event)
                if on_event is not None:
                    on_event(progress)
        code = proc.wait()
    errors = masked(stderr_log.read_text(errors="replace"), secret_list)
    progress.log += [line for line in errors.splitlines() if line.strip()]
    if code != 0 and progress.failure is None:
        tail = next((line for line in reversed(progress.log) if "ERROR" in line), None)
        progress.failure = f"ansible-playbook exited {code}: {tail or 'see the log above'}"
    return progress, code

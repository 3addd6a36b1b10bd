"""Process supervision for the lab: start daemons (optionally inside a netns), signal and stop them by PID.

Every process is identified by (pid, start time) so a recycled PID is never signalled: the lab only ever
kills processes it started itself (and, for a crash, their own children).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ProcRecord:
    """A started process: enough to find it again from another hakit invocation (`lab down`)."""

    name: str
    pid: int
    start_time: int
    netns: str | None
    argv: list[str] = field(default_factory=list)
    log: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for the lab state file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ProcRecord:
        """Inverse of `to_dict`."""
        return cls(
            name=str(data["name"]),
            pid=int(str(data["pid"])),
            start_time=int(str(data["start_time"])),
            netns=None if data.get("netns") is None else str(data["netns"]),
            argv=[str(a) for a in data.get("argv", []) or []],  # type: ignore[attr-defined]
            log=str(data.get("log", "")),
        )


def proc_start_time(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def is_running(record: ProcRecord) -> bool:
    """True when the PID still belongs to the process that was started (not a zombie, not recycled)."""
    return proc_start_time(record.pid) == record.start_time


def children_of(pid: int) -> list[int]:
    """Direct children of a process (from /proc/PID/task/*/children)."""
    kids: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in task_dir.iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                kids.extend(int(p) for p in (task / "children").read_text().split())
    return kids


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants, parent first."""
    tree = [pid]
    index = 0
    while index < len(tree):
        tree.extend(children_of(tree[index]))
        index += 1
    return tree


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


class Supervisor:
    """Starts lab processes, keeps their records, and stops every one of them (by PID) on `stop_all`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.records: dict[str, ProcRecord] = {}
        self._popen: dict[str, subprocess.Popen[bytes]] = {}

    def log_path(self, name: str) -> Path:
        """Where the output of process `name` goes: LOG_DIR/NAME.log."""
        return self.log_dir / f"{name}.log"

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        netns: str | None = None,
        env: dict[str, str] | None = None,
        stdout: int | None = None,
    ) -> ProcRecord:
        """Start `argv` (inside `netns` when given) in its own session, logging to LOG_DIR/NAME.log."""
        if name in self.records and is_running(self.records[name]):
            raise RuntimeError(f"lab process {name!r} is already running (pid {self.records[name].pid})")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(name)
        # `ip netns exec` enters the namespace and execs the command: the PID is the daemon's own.
        full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                full,
                stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        start_time = None
        for _ in range(100):
            start_time = proc_start_time(popen.pid)
            if start_time is not None:
                break
            time.sleep(0.001)
        record = ProcRecord(name, popen.pid, start_time or 0, netns, full, str(log_path))
        self.records[name] = record
        self._popen[name] = popen
        return record

    def popen(self, name: str) -> subprocess.Popen[bytes]:
        """The Popen of a process started by this supervisor."""
        return self._popen[name]

    def alive(self, name: str) -> bool:
        """Is the named process still running?"""
        popen = self._popen.get(name)
        if popen is not None:
            return popen.poll() is None
        return name in self.records and is_running(self.records[name])

    def signal(self, name: str, sig: int) -> None:
        """Send a signal to the named process only (not its children)."""
        record = self.records[name]
        if is_running(record):
            _kill(record.pid, sig)

    def crash(self, *names: str, between: Callable[[], None] | None = None) -> None:
        """Kill processes and all their children at once, as a power loss would: no clean shutdown runs.

        Every tree is frozen first, then `between` runs (e.g. the node's links go down), then all die.
        Freezing matters: keepalived's children get SIGTERM when their parent dies (and would then send a
        priority-0 advert), the parent respawns a child killed on its own, and a daemon that saw its link
        go down would leave cleanly.
        """
        live = [name for name in names if is_running(self.records[name])]
        trees = {name: process_tree(self.records[name].pid) for name in live}
        for tree in trees.values():
            for pid in tree:
                _kill(pid, signal.SIGSTOP)
        if between is not None:
            between()
        for name in live:
            for pid in process_tree(self.records[name].pid) + trees[name]:
                _kill(pid, signal.SIGKILL)
        for name in live:
            self._reap(name, timeout=2.0)

    def stop(self, name: str, timeout: float = 3.0) -> None:
        """SIGTERM (after SIGCONT, in case it was frozen), then SIGKILL the tree if it does not exit."""
        record = self.records.get(name)
        if record is None:
            return
        if is_running(record):
            _kill(record.pid, signal.SIGCONT)
            _kill(record.pid, signal.SIGTERM)
            if not self._reap(name, timeout):
                for pid in process_tree(record.pid):
                    _kill(pid, signal.SIGKILL)
                self._reap(name, timeout=2.0)
        else:
            self._reap(name, timeout=0.0)

    def _reap(self, name: str, timeout: float) -> bool:
        popen = self._popen.get(name)
        if popen is not None:
            try:
                popen.wait(timeout=timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while is_running(self.records[name]):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def forget(self, name: str) -> None:
        """Drop a stopped process from the records (so a restart may reuse its name)."""
        self.records.pop(name, None)
        self._popen.pop(name, None)

    def stop_all(self, timeout: float = 3.0) -> None:
        """Stop every process this supervisor started: SIGTERM to all at once, then SIGKILL the stragglers.

        In parallel because keepalived takes about a second to shut down (priority-0 adverts).
        """
        names = [name for name in reversed(list(self.records)) if is_running(self.records[name])]
        for name in names:
            _kill(self.records[name].pid, signal.SIGCONT)
            _kill(self.records[name].pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in names:
            if not self._reap(name, max(0.0, deadline - time.monotonic())):
                for pid in process_tree(self.records[name].pid):
                    _kill(pid, signal.SIGKILL)
                self._reap(name, timeout=2.0)
        for name in self.records:
            self._reap(name, timeout=0.0)


def stop_records(records: list[ProcRecord], timeout: float = 3.0) -> None:
    """Stop processes recorded by another hakit run (lab down): only those whose PID still matches."""
    live = [r for r in records if is_running(r)]
    for record in live:
        _kill(record.pid, signal.SIGCONT)
        _kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(is_running(r) for r in live) and time.monotonic() < deadline:
        time.sleep(0.02)
    killed = [r for r in live if is_running(r)]
    for record in killed:
        for pid in process_tree(record.pid):
            _kill(pid, signal.SIGKILL)
    # SIGKILL is not instant: callers delete the namespaces or report the lab gone right after this.
    deadline = time.monotonic() + timeout
    while any(is_running(r) for r in killed) and time.monotonic() < deadline:
        time.sleep(0.02)

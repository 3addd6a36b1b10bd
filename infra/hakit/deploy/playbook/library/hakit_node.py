#!/usr/bin/python
"""Ansible module: one step of a hakit config push on a node (runs on the host, stdlib only).

Steps: preflight (binaries, versions, running daemons, VIPs held), stage (unpack the uploaded tree into a
staging directory, report what would change), validate (the daemons' own checks against the candidate
files, with the host's certificates and interfaces), swap (keep the previous files, replace each file
atomically), reload (never restart; wait for the new generation; a stopped proxy/keepalived is started,
proxy first), gate (backends up, new generation, liveness endpoint), holds (VIPs held here), rollback
(previous files back, daemons this push started stopped again, reload, gate).
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: hakit_node
short_description: One step of a hakit config push (stage, validate, swap, reload, gate, rollback)
options:
  step: {type: str, required: true}
  state_dir: {type: path, default: /var/lib/hakit/deploy}
  daemons: {type: list, elements: str, default: []}
  min_versions: {type: dict, default: {}}
  vips: {type: dict, default: {}}
  reload: {type: dict, default: {}}
  start: {type: dict, default: {}}
  stop: {type: dict, default: {}}
  start_stopped: {type: bool, default: false}
  health_url: {type: str, default: ""}
  timeout: {type: float, default: 30}
"""

# Which daemon a pushed path belongs to (the first match wins).
OWNERS = (
    ("etc/haproxy/", "haproxy"),
    ("etc/nginx/", "nginx"),
    ("etc/keepalived/", "keepalived"),
    ("etc/sysctl.d/", "sysctl"),
    ("etc/systemd/system/", "systemd"),
    ("etc/mysql/", "mariadb"),
)
MAIN_CONFIG = {
    "haproxy": "etc/haproxy/haproxy.cfg",
    "nginx": "etc/nginx/nginx.conf",
    "keepalived": "etc/keepalived/keepalived.conf",
}
BINARY = {"haproxy": "haproxy", "nginx": "nginx", "keepalived": "keepalived", "mariadb": "mariadbd"}
PROCESS = {"haproxy": "haproxy", "nginx": "nginx", "keepalived": "keepalived", "mariadb": "mariadbd"}
DEFAULT_RELOAD = {
    "haproxy": "systemctl reload haproxy",
    "nginx": "systemctl reload nginx",
    "keepalived": "systemctl reload keepalived",
    "systemd": "systemctl daemon-reload",
}
# First install: what starts a stopped daemon (and stops it again when its node is rolled back).
STARTABLE = ("haproxy", "nginx", "keepalived")
DEFAULT_START = {daemon: f"systemctl enable --now {daemon}" for daemon in STARTABLE}
DEFAULT_STOP = {daemon: f"systemctl stop {daemon}" for daemon in STARTABLE}
VERSION_RE = re.compile(r"(\d+\.\d+(?:\.\d+)?)")


class StepError(Exception):
    """A step failed: `message` is one line with the daemon's own words."""


# ---------------------------------------------------------------- small helpers


def one_line(text: str, limit: int = 400) -> str:
    """The meaningful part of a daemon's output on one line (ALERT/emerg lines first)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    loud = [line for line in lines if re.search(r"ALERT|emerg|error|Error|failed|Failed|not found", line)]
    chosen = " | ".join((loud or lines)[:3])
    return chosen[:limit] or "(no output)"


def run(argv: list[str], timeout: float = 30) -> tuple[int, str]:
    """Run a command, return (exit code, stdout+stderr)."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return 127, f"{argv[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]}: timed out after {timeout:g}s"
    return proc.returncode, (proc.stdout or "") + (proc.stderr or "")


def owner_of(rel: str) -> str | None:
    """The daemon (or sysctl/systemd) a pushed path belongs to."""
    return next((owner for prefix, owner in OWNERS if rel.startswith(prefix)), None)


def is_secret(mode: int) -> bool:
    """hakit writes files carrying passwords 0600: their content never appears in a diff."""
    return mode & 0o077 == 0


def tree_files(root: str) -> dict[str, str]:
    """Relative path -> absolute path of every regular file under `root`."""
    found = {}
    for base, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            found[os.path.relpath(path, root)] = path
    return dict(sorted(found.items()))


def same_netns(pid: int) -> bool:
    """Does process `pid` live in this host's network namespace (a lab node is one namespace)?"""
    try:
        return os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
    except OSError:
        return False


def processes(comm: str) -> list[tuple[int, int]]:
    """(pid, ppid) of this host's processes named `comm`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        if name == comm and fields[0] != "Z" and same_netns(int(entry)):
            found.append((int(entry), int(fields[1])))
    return found


def masters(comm: str) -> list[int]:
    """PIDs of the daemon's master processes (those whose parent is not the same daemon)."""
    procs = processes(comm)
    pids = {pid for pid, _ in procs}
    return sorted(pid for pid, ppid in procs if ppid not in pids)


def children(comm: str, master: int) -> set[int]:
    """PIDs of the daemon's processes whose parent is `master`."""
    return {pid for pid, ppid in processes(comm) if ppid == master}


def installed_version(daemon: str) -> str | None:
    """The daemon's version as its binary reports it, None when it is not installed."""
    binary = shutil.which(BINARY[daemon]) or shutil.which(BINARY[daemon], path="/usr/sbin:/sbin:/usr/bin")
    if binary is None:
        return None
    flag = {"haproxy": "-v", "nginx": "-v", "keepalived": "--version", "mariadb": "--version"}[daemon]
    _code, out = run([binary, flag], timeout=10)
    match = VERSION_RE.search(out)
    return match.group(1) if match else "unknown"


def version_tuple(text: str) -> tuple[int, ...]:
    """'2.6.12' -> (2, 6, 12)."""
    return tuple(int(part) for part in text.split("."))


def local_addresses() -> set[str]:
    """Every address configured on this host's interfaces."""
    code, out = run(["ip", "-j", "addr", "show"], timeout=10)
    if code != 0:
        raise StepError(f"ip addr: {one_line(out)}")
    return {info["local"] for link in json.loads(out or "[]") for info in link.get("addr_info", [])}


def holds(vips: dict[str, list[str]]) -> dict[str, bool]:
    """VRRP instance -> does this host hold (any of) its VIPs now."""
    local = local_addresses()
    return {
        instance: any(vip.split("/")[0] in local for vip in addresses) for instance, addresses in vips.items()
    }


def nonlocal_bind_only(output: str, families: set[int]) -> bool:
    """Did `nginx -t` fail only binding addresses this host does not have, for families the push fixes?

    `nginx -t` binds every listen socket (a live nginx's EADDRINUSE is ignored in test mode), so on a host
    where the pushed `ip_nonlocal_bind` sysctl is not applied yet (a first install) a VIP fails with
    errno 99. The configuration was parsed, certificates loaded and upstreams resolved before the binds.
    """
    emerg = [line for line in output.splitlines() if "[emerg]" in line]
    if not emerg:
        return False
    for line in emerg:
        match = re.search(r"bind\(\) to (\S+) failed \(99: ", line)
        if match is None:
            return False
        family = 6 if match.group(1).startswith("[") else 4
        if family not in families:
            return False
    return True


def nonlocal_bind_families(sysctl_files: list[str]) -> set[int]:
    """IP families whose `ip_nonlocal_bind` the pushed sysctl drop-ins turn on while the host has it off."""
    families = set()
    for path in sysctl_files:
        for key, value in sysctl_settings(path).items():
            for family in (4, 6):
                name = f"net.ipv{family}.ip_nonlocal_bind"
                if key == name and value == "1" and read_proc_sys(name) != "1":
                    families.add(family)
    return families


def read_proc_sys(key: str) -> str | None:
    """The current value of a sysctl key (None when unknown)."""
    try:
        with open("/proc/sys/" + key.replace(".", "/")) as handle:
            return handle.read().strip()
    except OSError:
        return None


def advert_settle(config: str) -> float:
    """Seconds after a keepalived start by which it has either taken its VIPs or stayed BACKUP.

    A BACKUP becomes MASTER after Master_Down_Interval (3 x advert_int + skew < 1 s) without adverts.
    """
    adverts = []
    with contextlib.suppress(OSError), open(config) as handle:
        for line in handle:
            match = re.match(r"\s*advert_int\s+([\d.]+)", line)
            if match:
                adverts.append(float(match.group(1)))
    return 3 * max(adverts, default=1.0) + 1.0


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of a GET (None when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (OSError, ValueError):
        return None


def cmdline(pid: int) -> str | None:
    """A process's command line as its title shows it (None when it is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, IndexError):
        return None


# ---------------------------------------------------------------- HAProxy stats socket


def haproxy_socket(config: str) -> str | None:
    """The first `stats socket` path of an haproxy.cfg (None without one)."""
    try:
        with open(config) as handle:
            for line in handle:
                match = re.match(r"\s*stats\s+socket\s+(/\S+)", line)
                if match:
                    return match.group(1)
    except OSError:
        return None
    return None


def haproxy_ask(path: str, command: str) -> str:
    """One command on HAProxy's stats socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(3.0)
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def haproxy_worker(path: str | None) -> int | None:
    """PID of the worker answering on the stats socket (the current generation), None if none answers."""
    if path is None:
        return None
    try:
        info = haproxy_ask(path, "show info")
    except OSError:
        return None
    match = re.search(r"^Pid:\s*(\d+)", info, re.M)
    return int(match.group(1)) if match else None


def haproxy_backend_problems(path: str) -> list[str]:
    """Backends without a server UP, and servers whose first check has not completed yet ('pending')."""
    text = haproxy_ask(path, "show stat").lstrip("# ")
    rows = list(csv.DictReader(io.StringIO(text)))
    problems = []
    for row in rows:
        if row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        if row.get("check_status", "").startswith("INI"):
            problems.append(f"pending: {row['pxname']}/{row['svname']}")
    for row in rows:
        if row.get("svname") == "BACKEND" and not row.get("status", "").startswith("UP"):
            down = [
                f"{r['svname']} {r.get('status', '')} {r.get('check_status', '')}".strip()
                for r in rows
                if r.get("pxname") == row["pxname"] and r.get("svname") not in ("FRONTEND", "BACKEND")
            ]
            problems.append(f"backend {row['pxname']} has no server UP ({', '.join(down) or 'no servers'})")
    return problems


# ---------------------------------------------------------------- steps


class Node:
    """The steps, sharing the module parameters."""

    def __init__(self, params: dict[str, Any], check_mode: bool) -> None:
        self.p = params
        self.check_mode = check_mode
        self.state = params["state_dir"]
        self.staging = os.path.join(self.state, "staging")
        self.previous = os.path.join(self.state, "previous")
        self.manifest = os.path.join(self.state, "rollback.json")
        self.generation = os.path.join(self.state, "nginx-generation.json")
        self.root = params.get("root") or "/"
        self.timeout = float(params["timeout"])

    def live(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    # -- preflight

    def preflight(self) -> dict[str, Any]:
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        os.chmod(self.state, 0o700)
        versions: dict[str, str | None] = {}
        running: dict[str, bool] = {}
        start: list[str] = []
        for daemon in self.p["daemons"]:
            if daemon not in BINARY:
                continue
            version = installed_version(daemon)
            versions[daemon] = version
            if version is None:
                raise StepError(f"{daemon} is not installed (no {BINARY[daemon]} in PATH)")
            wanted = self.p["min_versions"].get(daemon)
            if (
                wanted
                and version != "unknown"
                and version_tuple(version) < version_tuple(str(wanted).split()[0])
            ):
                raise StepError(f"{daemon} {version} is older than {wanted}")
            running[daemon] = bool(masters(PROCESS[daemon]))
            if running[daemon]:
                continue
            if daemon not in STARTABLE:
                raise StepError(
                    f"{daemon} is not running (hakit deploy reloads running daemons; start it first)"
                )
            # A first install (no hakit config here yet: none, or the package's default) is started; a
            # daemon stopped under a hakit config was probably stopped on purpose (maintenance), and
            # starting keepalived may take the VIP.
            if rendered_by_hakit(self.live(MAIN_CONFIG[daemon])) and not self.p["start_stopped"]:
                raise StepError(
                    f"{daemon} is stopped but configured on this host (stopped on purpose?); "
                    "hakit deploy starts it only with --start-stopped"
                )
            start.append(daemon)
        return {"versions": versions, "running": running, "start": start, "holds": holds(self.p["vips"])}

    # -- stage

    def stage(self) -> dict[str, Any]:
        archive = os.path.join(self.state, "incoming.tar")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.manifest)  # a new attempt: an older swap is no longer this push's to undo
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.generation)
        shutil.rmtree(self.staging, ignore_errors=True)
        os.makedirs(self.staging, mode=0o700)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = os.path.normpath(member.name)
                if name.startswith(("/", "..")) or not (member.isfile() or member.isdir()):
                    raise StepError(f"the uploaded tree holds an unsafe entry {member.name!r}")
                if member.isdir():
                    os.makedirs(os.path.join(self.staging, name), mode=0o755, exist_ok=True)
                    continue
                target = os.path.join(self.staging, name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out)
                os.chmod(target, member.mode & 0o7777)
        os.unlink(archive)
        changed, diffs = [], []
        for rel, path in tree_files(self.staging).items():
            if rel == ".hakit-tree":
                continue
            new = read_bytes(path) or b""
            new_mode = stat.S_IMODE(os.stat(path).st_mode)
            live = self.live(rel)
            old = read_bytes(live)
            old_mode = stat.S_IMODE(os.stat(live).st_mode) if old is not None else None
            if old == new and old_mode == new_mode:
                continue
            changed.append(rel)
            diffs.append(self._diff(rel, old, new, old_mode, new_mode))
        return {"changed": bool(changed), "files": changed, "diff": diffs}

    def _diff(
        self, rel: str, old: bytes | None, new: bytes, old_mode: int | None, new_mode: int
    ) -> dict[str, str]:
        header = "/" + rel
        if is_secret(new_mode) or (old_mode is not None and is_secret(old_mode)):
            note = "content not shown: the file carries secrets" if old != new else "content unchanged"
            mode = f", mode {old_mode:o} -> {new_mode:o}" if old_mode not in (None, new_mode) else ""
            return {"prepared": f"--- {header}\n+++ {header}\n# {note}{mode}\n"}
        before = (old or b"").decode(errors="replace").splitlines(keepends=True)
        after = new.decode(errors="replace").splitlines(keepends=True)
        text = "".join(
            difflib.unified_diff(before, after, header if old is not None else "/dev/null", header)
        )
        if old_mode not in (None, new_mode):
            text += f"# mode {old_mode:o} -> {new_mode:o}\n"
        return {"prepared": text}

    # -- validate

    def candidate(self) -> str:
        """Live config directories with the staged files laid over them: what the host will run."""
        cand = os.path.join(self.state, "candidate")
        shutil.rmtree(cand, ignore_errors=True)
        staged = tree_files(self.staging)
        for top in sorted({"/".join(rel.split("/")[:2]) for rel in staged if rel.count("/") >= 2}):
            live = self.live(top)
            if os.path.isdir(live):
                shutil.copytree(live, os.path.join(cand, top), symlinks=True)
            else:
                os.makedirs(os.path.join(cand, top), mode=0o755)
        for rel, path in staged.items():
            target = os.path.join(cand, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(path, target)
        return cand

    def in_candidate(self, cand: str, argv: list[str]) -> list[str]:
        """`argv` run in a private mount namespace where the candidate directories cover the live ones."""
        binds = []
        for top in (
            sorted(os.listdir(os.path.join(cand, "etc"))) if os.path.isdir(os.path.join(cand, "etc")) else []
        ):
            if os.path.isdir(self.live(f"etc/{top}")):
                binds.append(
                    f"mount --bind {shlex.quote(os.path.join(cand, 'etc', top))} {shlex.quote('/etc/' + top)}"
                )
        script = " && ".join([*binds, "exec " + " ".join(shlex.quote(a) for a in argv)])
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script]

    def validate(self) -> dict[str, Any]:
        cand = self.candidate()
        checked = []
        staged = tree_files(self.staging)
        daemons = {owner_of(rel) for rel in staged}
        nonlocal_families = nonlocal_bind_families([p for r, p in staged.items() if owner_of(r) == "sysctl"])
        for daemon, rel in MAIN_CONFIG.items():
            if daemon not in daemons:
                continue
            if not os.path.isfile(os.path.join(cand, rel)):
                raise StepError(f"{daemon}: /{rel} is missing")  # keepalived -t would pass a missing file
            main = "/" + rel
            argv = {
                "haproxy": ["haproxy", "-c", "-f", main],
                "nginx": ["nginx", "-t", "-q", "-c", main],
                "keepalived": ["keepalived", "-t", "-l", "-f", main],
            }[daemon]
            code, out = run(self.in_candidate(cand, argv), timeout=60)
            if code != 0 and not (daemon == "nginx" and nonlocal_bind_only(out, nonlocal_families)):
                raise StepError(f"{' '.join(argv[:2])}: {one_line(out)}")
            checked.append(daemon)
        for rel in staged:
            if owner_of(rel) == "sysctl":
                for key in sysctl_keys(staged[rel]):
                    if not os.path.exists("/proc/sys/" + key.replace(".", "/")):
                        raise StepError(f"sysctl: /{rel}: unknown key {key}")
                checked.append("sysctl")
        units = [
            p for r, p in staged.items() if owner_of(r) == "systemd" and r.endswith((".service", ".timer"))
        ]
        analyze = shutil.which("systemd-analyze")
        if units and analyze:
            # Loads the staged units (and their siblings): bad settings, a missing ExecStart program.
            code, out = run([analyze, "verify", "--man=no", *units], timeout=60)
            if code != 0:
                raise StepError(f"systemd-analyze verify: {one_line(out)}")
            checked.append("systemd")
        shutil.rmtree(cand, ignore_errors=True)
        return {"checked": sorted(set(checked))}

    # -- swap

    def swap(self) -> dict[str, Any]:
        staged = tree_files(self.staging)
        changed = [rel for rel in staged if rel != ".hakit-tree" and self._differs(rel, staged[rel])]
        shutil.rmtree(self.previous, ignore_errors=True)
        os.makedirs(self.previous, mode=0o700)
        replaced, created = [], []
        for rel in changed:
            live = self.live(rel)
            if os.path.isfile(live):
                os.makedirs(os.path.dirname(os.path.join(self.previous, rel)), exist_ok=True)
                shutil.copy2(live, os.path.join(self.previous, rel))
                replaced.append(rel)
            else:
                created.append(rel)
        write_json(self.manifest, {"replaced": replaced, "created": created})
        for rel in changed:
            install(staged[rel], self.live(rel))
        return {"changed": bool(changed), "files": changed}

    def _differs(self, rel: str, path: str) -> bool:
        live = self.live(rel)
        if not os.path.isfile(live):
            return True
        if stat.S_IMODE(os.stat(live).st_mode) != stat.S_IMODE(os.stat(path).st_mode):
            return True
        return read_bytes(live) != read_bytes(path)

    # -- reload

    def reload(self, files: list[str] | None = None, start: bool = True) -> dict[str, Any]:
        cosmetic: set[str] = set()
        if files is None:
            manifest = read_json(self.manifest)
            files = list(manifest.get("replaced", [])) + list(manifest.get("created", []))
            cosmetic = self._comment_only(files, set(manifest.get("created", [])))
        owners = {owner_of(rel) for rel in files} - cosmetic
        commands = {**DEFAULT_RELOAD, **{k: str(v) for k, v in self.p["reload"].items() if v}}
        done = []
        for rel in files:
            # A drop-in a rollback deleted (first install): nothing to apply, the kernel keeps its values.
            if owner_of(rel) == "sysctl" and rel.endswith(".conf") and os.path.isfile(self.live(rel)):
                code, out = run(["sysctl", "-q", "-p", self.live(rel)])
                if code != 0:
                    raise StepError(f"sysctl -p /{rel}: {one_line(out)}")
                done.append("sysctl")
        if "systemd" in owners:
            self._shell(commands["systemd"], "systemd")
            for rel in files:
                if owner_of(rel) == "systemd" and rel.endswith(".timer"):
                    unit = os.path.basename(rel)
                    self._shell(
                        commands.get("timer", "systemctl enable --now {unit}").format(unit=unit), "systemd"
                    )
            done.append("systemd")
        started = []
        swapped = read_json(self.manifest)
        # The proxy before keepalived: a node must never claim a VIP before its proxy serves.
        for daemon in STARTABLE:
            if not masters(PROCESS[daemon]):
                # Pre-flight's rule: a first install (this push created its config) or --start-stopped.
                if start and daemon in self.p["daemons"]:
                    if not (self.p["start_stopped"] or self._first_install(daemon, swapped)):
                        raise StepError(f"{daemon} is not running (it stopped during the push?)")
                    self._start_daemon(daemon)
                    started.append(daemon)
                # Rolling back a node whose daemon this push started (and stopped again): nothing to reload.
                continue
            if daemon in owners:
                self._reload_daemon(daemon, commands[daemon])
                done.append(daemon)
        # MariaDB takes new options at a restart: hakit_db does it, pair-aware (db_restart.yml).
        pending: list[str] = []
        return {
            "changed": bool(done or started),
            "reloaded": done,
            "started": started,
            "pending": pending,
            "unchanged": sorted(cosmetic),
        }

    def _first_install(self, daemon: str, swapped: dict[str, Any]) -> bool:
        """Did this push bring the daemon's first hakit config (none before, or the package's default)?"""
        rel = MAIN_CONFIG[daemon]
        if rel in swapped.get("created", []):
            return True
        return rel in swapped.get("replaced", []) and not rendered_by_hakit(os.path.join(self.previous, rel))

    def _start_daemon(self, daemon: str) -> None:
        """Start a stopped daemon (first install) and wait until it serves; rollback stops it again."""
        manifest = read_json(self.manifest)
        manifest.setdefault("replaced", [])
        manifest.setdefault("created", [])
        manifest["started"] = [*manifest.get("started", []), daemon]
        write_json(self.manifest, manifest)  # before the start: a failed wait must still be undone
        command = {**DEFAULT_START, **{k: str(v) for k, v in self.p["start"].items() if v}}[daemon]
        began = time.monotonic()
        deadline = began + self.timeout
        self._shell(command, f"{daemon} start")
        while not masters(PROCESS[daemon]):
            if time.monotonic() > deadline:
                raise StepError(f"{daemon}: `{command}` left no {PROCESS[daemon]} process running")
            time.sleep(0.05)
        if daemon in ("haproxy", "nginx"):
            self._wait_serving(daemon, deadline)
            return
        # keepalived: wait for the election (its VIPs taken, or BACKUP past Master_Down_Interval).
        settle = began + advert_settle(self.live(MAIN_CONFIG["keepalived"]))
        while not any(holds(self.p["vips"]).values()) and time.monotonic() < settle:
            time.sleep(0.05)
        if not masters(PROCESS[daemon]):
            raise StepError("keepalived exited after its start")

    def _wait_serving(self, daemon: str, deadline: float) -> None:
        """A started proxy serves: workers running (HAProxy: one answers on the stats socket), the
        liveness endpoint keepalived tracks answers 200."""
        sock = haproxy_socket(self.live(MAIN_CONFIG["haproxy"])) if daemon == "haproxy" else None
        while True:
            problem = None
            master_list = masters(PROCESS[daemon])
            if not master_list:
                raise StepError(f"{daemon} exited after its start")
            if daemon == "nginx" and not children("nginx", master_list[0]):
                problem = "no worker process yet"
            elif sock is not None and haproxy_worker(sock) is None:
                problem = f"no worker answers on {sock}"
            elif self.p["health_url"] and http_status(self.p["health_url"]) != 200:
                problem = f"{self.p['health_url']} does not answer 200"
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise StepError(f"{daemon} started but {problem}")
            time.sleep(0.1)

    def _comment_only(self, files: list[str], created: set[str]) -> set[str]:
        """Daemons whose changed files differ in comment lines only: a reload would change nothing.

        keepalived matters most: its reload pauses the adverts, and with a short advert_int a loaded
        master can miss Master_Down_Interval (the VIP flaps). The header names the inventory file.
        """
        by_owner: dict[str, list[str]] = {}
        for rel in files:
            owner = owner_of(rel)
            if owner in ("haproxy", "nginx", "keepalived"):
                by_owner.setdefault(owner, []).append(rel)
        same = set()
        for owner, rels in by_owner.items():
            if all(
                rel not in created
                and meaningful(read_bytes(os.path.join(self.previous, rel)))
                == meaningful(read_bytes(self.live(rel)))
                for rel in rels
            ):
                same.add(owner)
        return same

    def _shell(self, command: str, what: str) -> None:
        code, out = run(["sh", "-c", command], timeout=self.timeout)
        if code != 0:
            raise StepError(f"{what}: `{command}` exited {code}: {one_line(out)}")

    def _reload_daemon(self, daemon: str, command: str) -> None:
        deadline = time.monotonic() + self.timeout
        if daemon == "haproxy":
            sock = haproxy_socket(self.live(MAIN_CONFIG["haproxy"]))
            before = haproxy_worker(sock)
            self._shell(command, "haproxy reload")
            while True:
                now = haproxy_worker(sock)
                if now is not None and now != before:
                    return
                if time.monotonic() > deadline:
                    raise StepError(
                        f"haproxy: no new worker answered on {sock} after the reload (still pid {now})"
                    )
                time.sleep(0.05)
        master_list = masters(PROCESS[daemon])
        if not master_list:
            raise StepError(f"{daemon} is not running")
        master = master_list[0]
        before_kids = children(PROCESS[daemon], master)
        self._shell(command, f"{daemon} reload")
        if daemon == "nginx":
            # The gate checks that this generation's workers drain (a failed reload keeps them serving).
            write_json(self.generation, {"master": master, "old": sorted(before_kids)})
            while not (children("nginx", master) - before_kids):
                if time.monotonic() > deadline:
                    raise StepError(
                        "nginx: no new worker started after the reload (the master refused the config?)"
                    )
                time.sleep(0.05)
            return
        # keepalived re-reads its config in place (SIGHUP): the same processes must still be there.
        time.sleep(0.3)
        if master not in masters(PROCESS[daemon]):
            raise StepError("keepalived exited on reload")

    # -- gate

    def gate(self, stopped: frozenset[str] = frozenset()) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        for daemon in self.p["daemons"]:
            if daemon in PROCESS and daemon not in stopped and not masters(PROCESS[daemon]):
                raise StepError(f"{daemon} is not running")
        if "nginx" in self.p["daemons"] and "nginx" not in stopped:
            self._nginx_generation(deadline)
        proxy = next((d for d in ("haproxy", "nginx") if d in self.p["daemons"] and d not in stopped), None)
        if proxy is not None and self.p["health_url"]:
            while (status := http_status(self.p["health_url"])) != 200:
                if time.monotonic() > deadline:
                    raise StepError(
                        f"{proxy}: liveness {self.p['health_url']} answered {status or 'nothing'}"
                    )
                time.sleep(0.1)
        if "haproxy" in self.p["daemons"] and "haproxy" not in stopped:
            sock = haproxy_socket(self.live(MAIN_CONFIG["haproxy"]))
            if sock is None:
                raise StepError("haproxy: the config has no stats socket to read the backends from")
            while True:
                try:
                    problems = haproxy_backend_problems(sock)
                except OSError as err:
                    problems = [f"stats socket {sock}: {err}"]
                if not problems:
                    break
                if time.monotonic() > deadline:
                    raise StepError("haproxy: " + "; ".join(problems)[:400])
                time.sleep(0.1)
        return {"holds": holds(self.p["vips"])}

    def _nginx_generation(self, deadline: float) -> None:
        """nginx (open source: no per-upstream health) after a reload: the new generation's workers run,
        and the previous generation's are gone or draining ("shutting down": they finish their requests
        within worker_shutdown_timeout)."""
        generation = read_json(self.generation)
        if not generation:
            return
        master, old = int(generation["master"]), {int(pid) for pid in generation["old"]}
        while True:
            if master not in masters("nginx"):
                raise StepError(f"nginx: master {master} is gone")
            current = children("nginx", master) - old
            serving = sorted(pid for pid in old if "shutting down" not in (cmdline(pid) or "shutting down"))
            if current and not serving:
                os.unlink(self.generation)
                return
            if time.monotonic() > deadline:
                what = f"old workers {serving} still serve" if serving else "no worker of the new generation"
                raise StepError(f"nginx: {what} {self.timeout:g}s after the reload")
            time.sleep(0.1)

    # -- rollback

    def rollback(self) -> dict[str, Any]:
        if not os.path.isfile(self.manifest):
            shutil.rmtree(self.staging, ignore_errors=True)
            # Nothing changed here: a daemon that was stopped before this push (a first install) stays so.
            self.gate(stopped=frozenset(d for d in STARTABLE if not masters(PROCESS[d])))
            return {"changed": False, "restored": []}
        manifest = read_json(self.manifest)
        # Daemons this push started go back to stopped, keepalived first (it lets the VIP go before the
        # proxy behind it stops).
        started = [d for d in reversed(STARTABLE) if d in manifest.get("started", [])]
        stops = {**DEFAULT_STOP, **{k: str(v) for k, v in self.p["stop"].items() if v}}
        for daemon in started:
            if not masters(PROCESS[daemon]):
                continue  # it never came up (or died): nothing to stop
            self._shell(stops[daemon], f"{daemon} stop")
            deadline = time.monotonic() + self.timeout
            while masters(PROCESS[daemon]):
                if time.monotonic() > deadline:
                    raise StepError(f"{daemon}: still running after `{stops[daemon]}`")
                time.sleep(0.05)
        restored = []
        for rel in manifest.get("replaced", []):
            install(os.path.join(self.previous, rel), self.live(rel))
            restored.append(rel)
        for rel in manifest.get("created", []):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.live(rel))
            restored.append(rel)
        os.unlink(self.manifest)
        self.reload(files=restored, start=False)
        self.gate(stopped=frozenset(started))
        return {"changed": True, "restored": restored, "stopped": started}


def rendered_by_hakit(path: str) -> bool:
    """Does the file carry hakit's header (its first lines name the inventory it was rendered from)?"""
    try:
        with open(path, "rb") as handle:
            return b"Generated by hakit from " in handle.read(4096)
    except OSError:
        return False


def meaningful(content: bytes | None) -> list[str]:
    """A config's lines without blank and whole-line comments ('#', and keepalived's '!')."""
    lines = (content or b"").decode(errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith(("#", "!"))]


def read_bytes(path: str) -> bytes | None:
    """A regular file's content, None when there is none."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return handle.read()


def sysctl_keys(path: str) -> list[str]:
    """The keys a sysctl drop-in sets."""
    keys = []
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith(("#", ";")) and "=" in line:
                keys.append(line.split("=", 1)[0].strip().lstrip("-"))
    return keys


def sysctl_settings(path: str) -> dict[str, str]:
    """key -> value a sysctl drop-in sets."""
    found = {}
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith(("#", ";")) and "=" in line:
                key, value = line.split("=", 1)
                found[key.strip().lstrip("-")] = value.strip()
    return found


def install(source: str, target: str) -> None:
    """Replace `target` with a copy of `source` (content and mode) in one rename."""
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.hakit-tmp")
    mode = stat.S_IMODE(os.stat(source).st_mode)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, target)


def write_json(path: str, data: object) -> None:
    """Write JSON atomically, 0600."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    os.replace(tmp, path)


def read_json(path: str) -> dict[str, Any]:
    """Read a JSON object ({} when missing)."""
    try:
        with open(path) as handle:
            return dict(json.load(handle))
    except FileNotFoundError:
        return {}


def main() -> None:
    """Run one step; failures come back as one line with the step's name."""
    module = AnsibleModule(
        argument_spec={
            "step": {
                "type": "str",
                "required": True,
                "choices": ["preflight", "stage", "validate", "swap", "reload", "gate", "holds", "rollback"],
            },
            "state_dir": {"type": "path", "default": "/var/lib/hakit/deploy"},
            "root": {"type": "path", "default": "/"},
            "daemons": {"type": "list", "elements": "str", "default": []},
            "min_versions": {"type": "dict", "default": {}},
            "vips": {"type": "dict", "default": {}},
            "reload": {"type": "dict", "default": {}, "no_log": False},
            "start": {"type": "dict", "default": {}, "no_log": False},
            "stop": {"type": "dict", "default": {}, "no_log": False},
            "start_stopped": {"type": "bool", "default": False},
            "health_url": {"type": "str", "default": ""},
            "timeout": {"type": "float", "default": 30.0},
        },
        supports_check_mode=True,
    )
    step = module.params["step"]
    node = Node(module.params, module.check_mode)
    if module.check_mode and step in ("swap", "reload", "rollback"):
        module.exit_json(changed=True, skipped_in_check_mode=True)
    try:
        if step == "holds":
            result: dict[str, Any] = {"holds": holds(module.params["vips"])}
        else:
            result = getattr(node, step)()
    except StepError as err:
        module.fail_json(msg=str(err), step=step)
    except OSError as err:
        module.fail_json(msg=f"{err.__class__.__name__}: {err}", step=step)
    result.setdefault("changed", False)
    if "diff" in result and not result["diff"]:
        del result["diff"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()

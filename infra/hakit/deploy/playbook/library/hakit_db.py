#!/usr/bin/python
"""Ansible module: the MariaDB steps of a hakit push on a node of a dual-primary pair (stdlib only).

MariaDB reads most options only at start-up, so a changed option file means a restart, and a restart of the
write-VIP holder pauses the writes. The steps make that safe: validate (mariadbd itself parses the candidate
options), peer (the other node can take the writes: answers, replicates, lag bounded, its keepalived in
BACKUP), drain (the maintenance file puts this node's VRRP instance in FAULT: the VIP moves to the peer),
await_vip (the VIP arrived here), position / catch_up (GTID positions: nothing acknowledged on one node is
missing on the other), restart (sysctl drop-in first, then the restart command, then healthy and caught up),
release (maintenance off), rollback (the previous files are back: restart on them, release); holds says
whether this node holds the write VIP now.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: hakit_db
short_description: MariaDB steps of a hakit push (validate, peer, drain, restart, release, rollback)
options:
  step: {type: str, required: true}
  state_dir: {type: path, default: /var/lib/hakit/deploy}
  db: {type: dict, required: true, description: "pair, cnf, maintenance, vrrp_state, sysctl paths"}
  vips: {type: list, elements: str, default: []}
  restart: {type: str, default: systemctl restart mariadb}
  max_lag: {type: int, default: 5}
  gtid: {type: str, default: ""}
  timeout: {type: float, default: 60}
  label: {type: str, default: "", description: "prefix of a failure's message"}
  settle: {type: bool, default: false, description: "position: wait until the binlog stops moving"}
"""

ERROR_LINE = re.compile(r"\[ERROR\]\s*(.*)")
# The table `mariadbd --help --verbose` ends with: option name, spaces, the value it would run with.
VARIABLES_HEADER = re.compile(r"^-+ -+$")
GTID = re.compile(r"^(\d+-\d+-\d+)(,\d+-\d+-\d+)*$")


class StepError(Exception):
    """A step failed: `message` is one line saying why."""


def run(argv: list[str], timeout: float = 30, stdin: str | None = None) -> tuple[int, str, str]:
    """Run a command: (exit code, stdout, stderr)."""
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, "", f"{argv[0]}: timed out after {timeout:g}s"
    return proc.returncode, proc.stdout or "", proc.stderr or ""


def short(text: str, limit: int = 300) -> str:
    """Output on one line."""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[:limit] or "(no output)"


# ---------------------------------------------------------------- pure parts (unit-tested)


def option_errors(stderr: str) -> list[str]:
    """The [ERROR] lines of `mariadbd --help --verbose` (it exits 0 on some bad values, e.g. `64Q`)."""
    return [m.group(1).strip() for m in map(ERROR_LINE.search, stderr.splitlines()) if m]


def effective_options(help_text: str) -> dict[str, str]:
    """option -> value from `mariadbd --help --verbose` (the table after the dashed header)."""
    options: dict[str, str] = {}
    inside = False
    for line in help_text.splitlines():
        if not inside:
            inside = bool(VARIABLES_HEADER.match(line.strip()))
            continue
        if not line.strip():
            break
        name, _, value = line.partition(" ")
        options[name] = value.strip()
    return options


def changed_options(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """'name: old -> new' for every option whose effective value differs."""
    names = sorted(set(before) | set(after))
    return [
        f"{n}: {before.get(n, '(unset)')} -> {after.get(n, '(unset)')}"
        for n in names
        if before.get(n) != after.get(n)
    ]


def slave_status(vertical: str) -> dict[str, str]:
    """`SHOW SLAVE STATUS` in --vertical form as a dict ({} when no replication is configured)."""
    status = {}
    for line in vertical.splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("*"):
            status[key.strip()] = value.strip()
    return status


def replication_problems(status: dict[str, str], max_lag: int) -> list[str]:
    """Why this node's replication from its peer is not healthy (empty: IO + SQL running, lag bounded)."""
    if not status:
        return ["no replication configured (run the pair's bootstrap script)"]
    problems = []
    for thread, error in (("IO", "Last_IO_Error"), ("SQL", "Last_SQL_Error")):
        state = status.get(f"Slave_{thread}_Running", "?")
        if state != "Yes":
            why = status.get(error) or "stopped"
            problems.append(f"replication {thread} thread {state} ({why})")
    lag = status.get("Seconds_Behind_Master", "NULL")
    if not problems and (not lag.isdigit() or int(lag) > max_lag):
        problems.append(f"replication lag {lag} s (bound {max_lag} s)")
    return problems


def domain_position(binlog_pos: str, domain: str) -> str:
    """The GTID of one domain in a gtid_binlog_pos list ('' when that domain has logged nothing)."""
    return next((g for g in binlog_pos.split(",") if g.startswith(f"{domain}-")), "")


# ---------------------------------------------------------------- host side


def same_netns(pid: int) -> bool:
    """Does process `pid` live in this host's network namespace (a lab node is one namespace)?"""
    try:
        return os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
    except OSError:
        return False


def running(comm: str) -> list[int]:
    """PIDs of this host's live processes named `comm`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        if name == comm and raw[raw.rindex(")") + 2] != "Z" and same_netns(int(entry)):
            found.append(int(entry))
    return found


def local_addresses() -> set[str]:
    """Every address on this host's interfaces."""
    code, out, err = run(["ip", "-j", "addr", "show"], timeout=10)
    if code != 0:
        raise StepError(f"ip addr: {short(err)}")
    return {info["local"] for link in json.loads(out or "[]") for info in link.get("addr_info", [])}


class Db:
    """The steps, sharing the module parameters."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.p = params
        self.db = params["db"]
        self.cnf = str(self.db["cnf"])
        self.state = params["state_dir"]
        self.timeout = float(params["timeout"])

    # -- SQL

    def sql(self, query: str, vertical: bool = False, timeout: float = 10) -> str:
        """Run SQL as root over the pair's unix socket (the option file's [client] section)."""
        argv = ["mariadb", f"--defaults-file={self.cnf}", "--user=root", "--batch", "--connect-timeout=3"]
        # Vertical output keeps the column names (they are the keys); a single value goes without them.
        argv.append("--vertical" if vertical else "--skip-column-names")
        code, out, err = run(argv, timeout=timeout, stdin=query)
        if code != 0:
            raise StepError(f"mariadbd does not answer ({short(err)})")
        return out

    def holder(self) -> dict[str, Any]:
        """Step `holds`: does this node hold the write VIP now?"""
        return {"holder": self.holds()}

    def holds(self) -> bool:
        """Does this node hold the write VIP now?"""
        local = local_addresses()
        return any(vip.split("/")[0] in local for vip in self.p["vips"])

    def vrrp_state(self) -> str:
        """The write-VIP instance's state as keepalived's notify script last recorded it."""
        path = self.db.get("vrrp_state") or ""
        try:
            with open(path) as handle:
                return (handle.read().split() or ["UNKNOWN"])[0]
        except OSError:
            return "UNKNOWN"

    def problems(self, role: str) -> list[str]:
        """Why this node cannot take (peer) or resume (self) the writes; empty when it can."""
        try:
            answer = self.sql("SELECT @@global.read_only").strip()
        except StepError as err:
            return [str(err)]
        problems = [] if answer == "0" else ["read_only is ON (its write-VIP check fails)"]
        problems += replication_problems(
            slave_status(self.sql("SHOW SLAVE STATUS", vertical=True)), int(self.p["max_lag"])
        )
        if self.p["vips"]:
            if not running("keepalived"):
                problems.append("keepalived is not running")
            elif role == "peer" and self.vrrp_state() != "BACKUP":
                problems.append(f"its write-VIP instance is {self.vrrp_state()}, not BACKUP")
        return problems

    def marker(self, name: str) -> str:
        return os.path.join(self.state, f"mariadb-{name}")

    # -- validate

    def validate(self) -> dict[str, Any]:
        """mariadbd parses the live and the candidate options: errors fail, changed values need a restart."""
        # A new push: markers an earlier push left are not this one's to undo.
        for name in ("restarted", "drained"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.marker(name))
        staging = os.path.join(self.state, "staging")
        staged = os.path.join(staging, "etc", "mysql")
        before = self.options(None)
        candidate = os.path.join(self.state, "candidate-mysql")
        shutil.rmtree(candidate, ignore_errors=True)
        shutil.copytree("/etc/mysql", candidate, symlinks=True)
        if os.path.isdir(staged):
            shutil.copytree(staged, candidate, symlinks=True, dirs_exist_ok=True)
        try:
            after = self.options(candidate)
        finally:
            shutil.rmtree(candidate, ignore_errors=True)
        changes = changed_options(before, after)
        return {"restart": bool(changes), "options": changes, "holder": self.holds()}

    def options(self, candidate: str | None) -> dict[str, str]:
        """Effective options as mariadbd reads them from /etc/mysql (or the candidate laid over it)."""
        argv = ["mariadbd", "--help", "--verbose"]
        if candidate is not None:
            # A private mount namespace: the candidate covers /etc/mysql for this one command only.
            script = f"mount --bind {shlex.quote(candidate)} /etc/mysql && exec mariadbd --help --verbose"
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
        code, out, err = run(argv, timeout=60)
        errors = option_errors(err)
        if code != 0 or errors:
            where = "the new options" if candidate else "the live options"
            raise StepError(f"mariadbd --help --verbose on {where}: {'; '.join(errors) or short(err)}")
        return effective_options(out)

    # -- the pair choreography

    def peer(self) -> dict[str, Any]:
        """This node (the peer of the holder) can take the writes; waits up to the timeout for it."""
        deadline = time.monotonic() + self.timeout
        while True:
            problems = self.problems("peer")
            if not problems:
                return {"healthy": True}
            if time.monotonic() > deadline:
                raise StepError("; ".join(problems))
            time.sleep(0.5)

    def drain(self) -> dict[str, Any]:
        """Maintenance on: keepalived puts the instance in FAULT and the VIP leaves this node."""
        path = str(self.db["maintenance"])
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(self.marker("drained"), "w"):
            pass
        write_atomic(path, "1\n")
        deadline = time.monotonic() + self.timeout
        while self.holds():
            if time.monotonic() > deadline:
                raise StepError(f"the write VIP did not leave this node within {self.timeout:g}s")
            time.sleep(0.05)
        return {"changed": True, "drained_at": time.time()}

    def await_vip(self) -> dict[str, Any]:
        """The write VIP arrived on this node (the peer took over)."""
        deadline = time.monotonic() + self.timeout
        while not self.holds():
            if time.monotonic() > deadline:
                raise StepError(f"the write VIP did not arrive here within {self.timeout:g}s")
            time.sleep(0.05)
        return {"holds": True}

    def position(self) -> dict[str, Any]:
        """This node's own GTID domain and how far it has logged it (`settle`: once it stops moving)."""
        domain = self.sql("SELECT @@global.gtid_domain_id").strip()
        query = "SELECT @@global.gtid_binlog_pos"
        own = domain_position(self.sql(query).strip(), domain)
        deadline = time.monotonic() + self.timeout
        # A drained holder may still commit what it had received before the VIP left: wait for the last one.
        # Only its own domain: the peer's writes it replicates are logged here too (log_slave_updates).
        while self.p["settle"] and time.monotonic() < deadline:
            time.sleep(0.2)
            again = domain_position(self.sql(query).strip(), domain)
            if again == own:
                break
            own = again
        return {"domain": domain, "gtid": own}

    def catch_up(self) -> dict[str, Any]:
        """This node applied `gtid` (the peer's logged position): nothing the peer acknowledged is missing."""
        gtid = str(self.p["gtid"])
        if not gtid:
            return {"waited": 0.0}
        if not GTID.fullmatch(gtid):
            raise StepError(f"not a GTID position: {gtid!r}")
        started = time.monotonic()
        wait = max(1, int(self.timeout))
        answer = self.sql(f"SELECT MASTER_GTID_WAIT('{gtid}', {wait})", timeout=wait + 10).strip()
        if answer != "0":
            status = slave_status(self.sql("SHOW SLAVE STATUS", vertical=True))
            why = "; ".join(replication_problems(status, int(self.p["max_lag"]))) or "still applying"
            raise StepError(f"replication did not reach {gtid} within {wait}s ({why})")
        return {"waited": round(time.monotonic() - started, 3)}

    def restart(self) -> dict[str, Any]:
        """sysctl drop-in, restart command, then mariadbd answers, replicates and has caught up."""
        with open(self.marker("restarted"), "w"):
            pass
        return self._restart()

    def _restart(self) -> dict[str, Any]:
        sysctl = self.db.get("sysctl") or ""
        if sysctl and os.path.isfile(sysctl):
            # ip_nonlocal_bind before mariadbd binds the VIP it may not hold.
            code, _out, err = run(["sysctl", "-q", "-p", sysctl])
            if code != 0:
                raise StepError(f"sysctl -p {sysctl}: {short(err)}")
        before = running("mariadbd")
        started = time.monotonic()
        code, out, err = run(["sh", "-c", str(self.p["restart"])], timeout=self.timeout)
        if code != 0:
            raise StepError(f"`{self.p['restart']}` exited {code}: {short(err or out)}")
        deadline = started + self.timeout
        while True:
            problems = self.problems("self")
            if not problems:
                break
            if time.monotonic() > deadline:
                raise StepError("after the restart: " + "; ".join(problems))
            time.sleep(0.2)
        answered = time.monotonic() - started
        waited = self.catch_up()["waited"]
        after = running("mariadbd")
        if before and set(before) & set(after):
            raise StepError(f"mariadbd was not restarted (still pid {sorted(set(before) & set(after))[0]})")
        return {"changed": True, "pid": after, "answered_after": round(answered, 3), "caught_up": waited}

    def release(self) -> dict[str, Any]:
        """Maintenance off: the instance leaves FAULT (nopreempt: the VIP stays on the peer)."""
        path = str(self.db["maintenance"])
        if os.path.exists(path):
            write_atomic(path, "0\n")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.marker("drained"))
        return {"changed": True}

    def rollback(self) -> dict[str, Any]:
        """After hakit_node put the previous files back: restart on them if this push restarted, release."""
        done = []
        if os.path.exists(self.marker("restarted")):
            self.p["gtid"] = ""
            self._restart()
            os.unlink(self.marker("restarted"))
            done.append("restarted on the previous options")
        if os.path.exists(self.marker("drained")):
            self.release()
            done.append("maintenance released")
        return {"changed": bool(done), "done": done}


def write_atomic(path: str, text: str) -> None:
    """Write a small file in one rename (keepalived watches it with inotify)."""
    tmp = f"{path}.hakit-tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


STEPS = (
    "validate",
    "holds",
    "peer",
    "drain",
    "await_vip",
    "position",
    "catch_up",
    "restart",
    "release",
    "rollback",
)


def main() -> None:
    """Run one step; a failure is one line."""
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True, "choices": list(STEPS)},
            "state_dir": {"type": "path", "default": "/var/lib/hakit/deploy"},
            "db": {"type": "dict", "required": True},
            "vips": {"type": "list", "elements": "str", "default": []},
            "restart": {"type": "str", "default": "systemctl restart mariadb"},
            "max_lag": {"type": "int", "default": 5},
            "gtid": {"type": "str", "default": ""},
            "timeout": {"type": "float", "default": 60.0},
            "label": {"type": "str", "default": ""},
            "settle": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    step = module.params["step"]
    if module.check_mode and step not in ("validate", "holds", "peer", "position"):
        module.exit_json(changed=False, skipped_in_check_mode=True)
    try:
        db = Db(module.params)
        result = db.holder() if step == "holds" else getattr(db, step)()
    except StepError as err:
        label = module.params["label"]
        module.fail_json(msg=f"{label}: {err}" if label else str(err), step=step)
    except OSError as err:
        module.fail_json(msg=f"{err.__class__.__name__}: {err}", step=step)
    result.setdefault("changed", False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

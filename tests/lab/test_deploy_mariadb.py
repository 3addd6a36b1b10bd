"""`hakit deploy` against a real dual-primary MariaDB pair whose nodes are SSH hosts (sshd, ansible-core,
mariadbd, keepalived holding the write VIP), with a writer through the VIP counting every acknowledged row.

Each node is a network namespace plus one private mount namespace (made for its sshd; keepalived and
mariadbd join it with nsenter) where overlayfs gives the node its own writable /etc and /usr/local, and bind
mounts its own /var/lib/mysql and /run: a push writes the real paths and nothing of the machine changes.
There is no systemd here: the lab's restart command stops the node's mariadbd and starts it again detached,
and the systemd commands append to a log the test reads.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hakit.lab.netns import LabHost, LabInterface, Topology, addresses, build, destroy, new_prefix, set_sysctl
from hakit.lab.sshd import BASE, DB_NODE_DIRS, DB_NODE_OVERLAYS, node_argv
from hakit.render import render_inventory
from hakit.render.mariadb import bootstrap_path, sysctl_path
from hakit.spec.inventory import load_inventory
from ops.db_servers import mariadb_server_cnf, wait_for
from support import require_binaries, require_root

pytestmark = [pytest.mark.lab, pytest.mark.db, pytest.mark.slow, pytest.mark.timeout(900)]

HAKIT = str(Path(sys.executable).parent / "hakit")
PAIR = "main"
NODES = ("db1", "db2")
ADDRESSES = {"db1": "198.18.6.11/24", "db2": "198.18.6.12/24"}  # inside the test's namespaces only
CLIENT = "198.18.6.50/24"
VIP = "198.18.6.100"
PASSWORD = "lab-Repl-7c1e9a3b"  # test-only, in a 0600 credentials file on each node
APP_PASSWORD = "lab-App-2b8d4f60"  # test-only, in the client's 0600 option file
WRITE_LIMIT = 100_000  # rows per writer: the load loop is bounded in count (and in seconds per test)

INVENTORY = """\
hosts:
  db1:
    interfaces: {{eth0: {{address: {db1}}}}}
  db2:
    interfaces: {{eth0: {{address: {db2}}}}}
databases:
  main:
    nodes:
      db1: {{server_id: 11, gtid_domain_id: 1, priority: 110}}
      db2: {{server_id: 12, gtid_domain_id: 2}}
    log_dir: /run/mysql-log
    options: {{innodb_buffer_pool_size: 64M, innodb_log_file_size: 16M, back_log: {toci}{extra}}}
    write_vip: {{interface: eth0, address: {vip}/24, vrid: 62, advert_int: "0.2"}}
backups:
  main-db1:
    host: db1
    source: {{engine: mariadb, database: lab}}
    target: {{bucket: lab-backups}}
    schedule: "{schedule}"
    hakit_bin: {hakit}
"""


def inventory_text(toci: int = 80, schedule: str = "*-*-* 02:30:00", extra: str = "") -> str:
    """The lab inventory; `toci` = back_log (read-only in MariaDB: needs a restart), `extra` more options."""
    return INVENTORY.format(
        db1=ADDRESSES["db1"],
        db2=ADDRESSES["db2"],
        vip=VIP,
        toci=toci,
        schedule=schedule,
        hakit=HAKIT,
        extra=extra,
    )


@dataclass
class DbLab:
    """The pair's namespaces, per-node roots, sshd/keepalived processes and the deploy's inputs."""

    top: Path
    topology: Topology
    inventory: Path
    key: Path
    restart_script: Path
    sshd: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    keepalived: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def root(self, node: str) -> Path:
        return self.top / node

    def upper(self, node: str, rel: str) -> Path:
        """Where a file the node writes under /etc or /usr/local lands (its overlay's upper layer)."""
        top = next(o for o in DB_NODE_OVERLAYS if rel.startswith(o + "/"))
        return self.root(node) / "overlay" / top / "upper" / rel[len(top) + 1 :]

    def inside(self, node: str, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command in the node's network and mount namespaces (those of its sshd)."""
        pid = str(self.sshd[node].pid)
        return subprocess.run(
            ["nsenter", "-t", pid, "-m", "-n", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def sql(self, node: str, query: str) -> list[list[str]]:
        """SQL as root over the node's unix socket."""
        cnf = f"/etc/mysql/mariadb.conf.d/60-hakit-{PAIR}.cnf"
        argv = ["mariadb", f"--defaults-file={cnf}", "-uroot", "--batch", "--skip-column-names", "-e", query]
        proc = self.inside(node, argv)
        if proc.returncode != 0:
            raise RuntimeError(f"{node}: {proc.stderr.strip()}")
        return [line.split("\t") for line in proc.stdout.splitlines() if line]

    def mariadbd_pid(self, node: str) -> int | None:
        path = self.root(node) / "run/mysqld/mysqld.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(path.read_text().strip())
            if Path(f"/proc/{pid}").exists():
                return pid
        return None

    def vip_holders(self) -> list[str]:
        return [n for n in NODES if VIP in addresses(self.topology.ns(n)).get("eth0", [])]

    def systemd_log(self, node: str) -> list[str]:
        path = self.root(node) / "run/hakit-systemd.log"
        return path.read_text().splitlines() if path.exists() else []

    def overlay(self) -> Path:
        """Ansible host vars that send `hakit deploy` to the lab (key, restart/reload commands, state dir)."""
        hosts = {}
        for node in NODES:
            log = "/run/hakit-systemd.log"
            hosts[node] = {
                "ansible_ssh_private_key_file": str(self.key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                "hakit_state_dir": "/run/hakit-deploy",
                "hakit_timeout": 15,
                "hakit_db_timeout": 90,
                "hakit_db_restart": f"sh {self.restart_script}",
                "hakit_reload": {
                    "keepalived": f"kill -HUP {self.keepalived[node].pid}",
                    "systemd": f"echo daemon-reload >> {log}",
                    "timer": f"echo enable --now {{unit}} >> {log}",
                },
            }
        path = self.top / "lab-inventory.json"
        path.write_text(json.dumps({"all": {"hosts": hosts}}))
        return path

    def deploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`hakit deploy` from the client namespace (the operator's machine)."""
        argv = ["ip", "netns", "exec", self.topology.ns("client"), HAKIT, "deploy", str(self.inventory)]
        argv += ["--yes", "-i", str(self.overlay()), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


RESTART = """#!/bin/sh
# Lab stand-in for `systemctl restart mariadb` (no systemd here): stop the node's mariadbd, start it detached.
pidfile=/run/mysqld/mysqld.pid
if [ -s "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
        i=0
        while kill -0 "$pid" 2>/dev/null; do
            i=$((i + 1)); [ "$i" -lt 1200 ] || exit 1; sleep 0.05
        done
    fi
fi
log=/run/mysql-log/error.log
logged=$(stat -c %s "$log" 2>/dev/null || echo 0)
setsid mariadbd </dev/null >>/run/mysql-log/console.log 2>&1 &
pid=$!
# Like systemctl with the unit's Type=notify: return once the server serves, fail if it died.
i=0
until mariadb-admin -uroot --connect-timeout=1 ping >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -c +"$((logged + 1))" "$log" | grep -F '[ERROR]' | head -n 3 >&2
        exit 1
    fi
    i=$((i + 1)); [ "$i" -lt 1200 ] || exit 1; sleep 0.05
done
"""


def _start_node(lab: DbLab, node: str, tree: dict[str, object], template: Path) -> None:
    root = lab.root(node)
    for rel in ("run/sshd", "run/mysqld", "run/mysql-log", "var/lib"):
        (root / rel).mkdir(parents=True, exist_ok=True)
    shutil.copytree(template, root / "var/lib/mysql", symlinks=True)
    for rel in ("run/mysqld", "run/mysql-log", "var/lib/mysql"):
        subprocess.run(["chown", "-R", "mysql:mysql", str(root / rel)], check=True)
    for rel, rendered in tree.items():
        # StopIteration here: a rendered path that no overlay covers (it must never reach the machine's).
        target = lab.upper(node, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered.content)  # type: ignore[attr-defined]
        target.chmod(rendered.effective_mode)  # type: ignore[attr-defined]
    credentials = lab.upper(node, f"etc/hakit/mariadb/{PAIR}.credentials")
    credentials.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, f"password = {PASSWORD}\n".encode())
    os.close(fd)
    config = lab.top / f"sshd-{node}.conf"
    config.write_text(
        f"Port 22\nHostKey {lab.top / 'host_ed25519'}\nAuthorizedKeysFile {lab.key}.pub\n"
        f"PidFile /run/sshd-lab.pid\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
        "LogLevel ERROR\nMaxSessions 50\nMaxStartups 50\nClientAliveInterval 5\nClientAliveCountMax 3\n"
    )
    argv = node_argv(
        root,
        ["/usr/sbin/sshd", "-D", "-f", str(config), "-E", str(lab.top / f"sshd-{node}.log")],
        dirs=DB_NODE_DIRS,
        overlays=DB_NODE_OVERLAYS,
    )
    ns = lab.topology.ns(node)
    lab.sshd[node] = subprocess.Popen(
        ["ip", "netns", "exec", ns, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for(lambda: (root / "run/sshd-lab.pid").exists(), 10, f"sshd on {node}")
    set_sysctl(ns, "net.ipv4.ip_nonlocal_bind", "1")  # what the rendered drop-in sets, before mariadbd
    assert (lab.upper(node, sysctl_path(PAIR).lstrip("/"))).is_file()
    started = lab.inside(node, ["sh", str(lab.restart_script)])
    assert started.returncode == 0, started.stderr
    wait_for(lambda: lab.inside(node, ["mariadb-admin", "-uroot", "ping"]).returncode == 0, 30, f"{node} up")


@pytest.fixture(scope="module")
def db_lab() -> Iterator[DbLab]:
    require_root()
    require_binaries(
        "ip", "keepalived", "mariadbd", "mariadb", "mariadb-install-db", "mariadb-admin", "sshd", "ssh"
    )
    require_binaries("ssh-keygen", "unshare", "nsenter", "systemd-analyze")
    BASE.mkdir(parents=True, exist_ok=True)
    top = Path(tempfile.mkdtemp(prefix="mdb-", dir=BASE))
    top.chmod(0o755)
    inventory = top / "inventory.yaml"
    inventory.write_text(inventory_text())
    inv = load_inventory(inventory)
    tree = render_inventory(inv, source=str(inventory))
    hosts = {n: LabHost(n, "db", (LabInterface("eth0", "seg0", (ADDRESSES[n],)),)) for n in NODES}
    hosts["client"] = LabHost("client", "client", (LabInterface("eth0", "seg0", (CLIENT,)),))
    topology = Topology(prefix=new_prefix(), hosts=hosts, segments=["seg0"])
    lab = DbLab(top, topology, inventory, top / "client_ed25519", top / "mariadb-restart.sh")
    lab.restart_script.write_text(RESTART)
    for key in (lab.key, top / "host_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    template = top / "template"
    for sub in ("data", "run", "log"):
        (template / sub).mkdir(parents=True)
    subprocess.run(["chown", "-R", "mysql:mysql", str(template)], check=True)
    cnf = template / "my.cnf"
    cnf.write_text(mariadb_server_cnf(template, 3399))
    build(topology)
    try:
        init = subprocess.run(
            [
                *("mariadb-install-db", f"--defaults-file={cnf}", f"--datadir={template}/data"),
                *("--user=mysql", "--skip-test-db", "--auth-root-authentication-method=socket"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert init.returncode == 0, init.stderr[-2000:]
        for node in NODES:
            _start_node(lab, node, dict(tree[node]), template / "data")
        for node in NODES:
            boot = lab.inside(node, [bootstrap_path(PAIR)])
            assert boot.returncode == 0, boot.stderr
        for node in NODES:
            argv = ["keepalived", "-n", "-l", "-D", "--vrrp", "-f", "/etc/keepalived/keepalived.conf"]
            argv += ["-p", "/run/keepalived.pid", "-r", "/run/keepalived-vrrp.pid"]
            pid = str(lab.sshd[node].pid)
            lab.keepalived[node] = subprocess.Popen(
                ["nsenter", "-t", pid, "-m", "-n", "--", *argv],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        wait_for(lambda: len(lab.vip_holders()) == 1, 20, "the write VIP on one node")
        wait_for(lambda: all(_replicating(lab, n) for n in NODES), 30, "replication both ways")
        subnet = ADDRESSES["db1"].rsplit(".", 1)[0] + ".%"
        lab.sql(
            lab.vip_holders()[0],
            "CREATE DATABASE lab; CREATE TABLE lab.t (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
            " writer CHAR(1) NOT NULL, seq INT NOT NULL, UNIQUE KEY (writer, seq)) ENGINE=InnoDB;"
            f" CREATE USER 'app'@'{subnet}' IDENTIFIED BY '{APP_PASSWORD}';"
            f" GRANT INSERT, SELECT ON lab.* TO 'app'@'{subnet}'",
        )
        for node in NODES:
            wait_for(lambda n=node: lab.sql(n, "SHOW TABLES FROM lab") == [["t"]], 20, f"schema on {node}")
        # Both keepalived instances report BACKUP/MASTER through the rendered notify script.
        wait_for(lambda: sorted(_vrrp_states(lab).values()) == ["BACKUP", "MASTER"], 20, "VRRP states")
        yield lab
    finally:
        for proc in lab.keepalived.values():
            _end(proc)
        for node in NODES:
            pid = lab.mariadbd_pid(node)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        for proc in lab.sshd.values():
            _end(proc)
        # What the node's sshd spawned and outlived it (sessions of ansible's persistent connections):
        # every process left in the test's node namespaces is the test's own.
        for node in NODES:
            _end_namespace(topology.ns(node))
        destroy(topology.namespaces())
        for node in NODES:
            wait_for(lambda n=node: lab.mariadbd_pid(n) is None, 10, f"mariadbd of {node} gone")
        shutil.rmtree(top, ignore_errors=True)


def _end_namespace(ns: str) -> None:
    listed = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False)
    for pid in (int(p) for p in listed.stdout.split()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _end(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _vrrp_states(lab: DbLab) -> dict[str, str]:
    states = {}
    for node in NODES:
        path = lab.root(node) / f"run/keepalived/hakit/mariadb_{PAIR}"
        states[node] = path.read_text().split()[0] if path.exists() else "?"
    return states


def _slave(lab: DbLab, node: str) -> dict[str, str]:
    cnf = f"/etc/mysql/mariadb.conf.d/60-hakit-{PAIR}.cnf"
    argv = ["mariadb", f"--defaults-file={cnf}", "-uroot", "--vertical", "-e", "SHOW SLAVE STATUS"]
    lines = lab.inside(node, argv).stdout.splitlines()
    return {k.strip(): v.strip() for k, sep, v in (line.partition(":") for line in lines) if sep}


def _replicating(lab: DbLab, node: str) -> bool:
    status = _slave(lab, node)
    return status.get("Slave_IO_Running") == "Yes" and status.get("Slave_SQL_Running") == "Yes"


@dataclass
class Writer:
    """Inserts (writer, seq) rows through the VIP in `mariadb` sessions, reconnecting when one is lost.

    A row is acknowledged when the server answered its INSERT (autocommit) and the SELECT after it; the
    sequence number in flight when a session dies is skipped (it may have committed unacknowledged).
    """

    argv: list[str]
    name: str  # one per test: (writer, seq) is unique in the table
    acked: list[tuple[int, float]] = field(default_factory=list)
    sessions: int = 0
    error: str = ""
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self, seconds: float) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(seconds,), daemon=True)
        thread.start()
        return thread

    def _run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        seq = 1
        while not self.stop.is_set() and time.monotonic() < deadline and len(self.acked) < WRITE_LIMIT:
            seq = self._session(seq, deadline) + 1
            self.stop.wait(0.05)  # refused at once while nobody serves the VIP: do not spin

    def _session(self, seq: int, deadline: float) -> int:
        self.sessions += 1
        argv = [*self.argv, "--skip-reconnect", "-N", "-B", "--unbuffered", "lab"]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            while not self.stop.is_set() and time.monotonic() < deadline and len(self.acked) < WRITE_LIMIT:
                sql = f"INSERT INTO t (writer, seq) VALUES ('{self.name}', {seq}); SELECT {seq};\n"
                proc.stdin.write(sql.encode())
                proc.stdin.flush()
                if proc.stdout.readline().strip() != str(seq).encode():
                    break
                self.acked.append((seq, time.monotonic()))
                seq += 1
        except BrokenPipeError:
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.error = proc.stderr.read().decode().strip() or self.error
        return seq

    def longest_pause(self, since: float) -> float:
        """The longest gap between two acknowledgements after `since` (the write pause)."""
        times = [t for _, t in self.acked if t >= since]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def _client(lab: DbLab) -> list[str]:
    cnf = lab.top / "client.cnf"
    if not cnf.exists():
        fd = os.open(cnf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(
            fd,
            f"[client]\nhost = {VIP}\nport = 3306\nuser = app\npassword = {APP_PASSWORD}\n"
            "connect_timeout = 1\n".encode(),
        )
        os.close(fd)
    return ["ip", "netns", "exec", lab.topology.ns("client"), "mariadb", f"--defaults-file={cnf}"]


def _converged(lab: DbLab) -> bool:
    positions = {n: lab.sql(n, "SELECT @@global.gtid_current_pos")[0][0] for n in NODES}
    return len(set(positions.values())) == 1 and all(_replicating(lab, n) for n in NODES)


def _variable(lab: DbLab, node: str, name: str) -> str:
    return lab.sql(node, f"SHOW GLOBAL VARIABLES LIKE '{name}'")[0][1]


def test_option_change_restarts_the_pair_without_losing_a_row(db_lab: DbLab) -> None:
    """A read-only option changed: the standby restarts first; the holder hands the VIP over, restarts."""
    lab = db_lab
    (holder,) = lab.vip_holders()
    (peer,) = [n for n in NODES if n != holder]
    pids = {n: lab.mariadbd_pid(n) for n in NODES}
    assert _variable(lab, holder, "back_log") == "80"
    lab.inventory.write_text(inventory_text(toci=120, schedule="*-*-* 03:45:00"))
    writer = Writer(_client(lab), "a")
    thread = writer.start(seconds=500)
    wait_for(lambda: len(writer.acked) >= 200, 30, "rows acknowledged through the VIP")
    began = time.monotonic()
    result = lab.deploy("--json")
    took = time.monotonic() - began
    time.sleep(1.0)  # rows after the push, through wherever the VIP is now
    writer.stop.set()
    thread.join(timeout=60)
    print(result.stdout[-3000:], result.stderr[-3000:])
    assert result.returncode == 0, result.stderr
    wait_for(lambda: _converged(lab), 60, "both nodes at the same GTID position")
    acked = {seq for seq, _ in writer.acked}
    query = "SELECT seq FROM lab.t WHERE writer = 'a'"
    lost = {n: acked - {int(s) for (s,) in lab.sql(n, query)} for n in NODES}
    pause = writer.longest_pause(began)
    load = os.getloadavg()
    report = json.loads(result.stdout)
    print(
        f"mariadb push across the pair: {took:.1f}s; {len(acked)} rows acknowledged through the VIP "
        f"({writer.sessions} sessions), lost {[len(v) for v in lost.values()]}; longest write pause "
        f"{pause:.2f}s; VIP {holder} -> {lab.vip_holders()}; load average {load[0]:.2f} {load[1]:.2f}"
    )
    for host, data in report["hosts"].items():
        print(host, data.get("steps"))
    assert lost == {n: set() for n in NODES}
    for node in NODES:
        assert _variable(lab, node, "back_log") == "120"
        assert lab.mariadbd_pid(node) not in (None, pids[node])
    assert lab.vip_holders() == [peer]  # handed over before the holder's restart; nopreempt keeps it there
    assert _vrrp_states(lab) == {holder: "BACKUP", peer: "MASTER"}
    maintenance = lab.upper(holder, f"etc/keepalived/maintenance-mariadb-{PAIR}")
    assert maintenance.read_text().strip() == "0"
    # Backup timer: validated, then exactly one daemon-reload and one enable of the changed timer (db1 only).
    assert lab.systemd_log("db1") == ["daemon-reload", "enable --now hakit-backup-main-db1.timer"]
    assert lab.systemd_log("db2") == []
    assert len(acked) > 200 and pause < 10


def test_holder_is_not_restarted_when_its_peer_does_not_replicate(db_lab: DbLab) -> None:
    """The peer's replication stopped: the push to the holder stops before touching it, one line says why."""
    lab = db_lab
    (holder,) = lab.vip_holders()
    (peer,) = [n for n in NODES if n != holder]
    cnf = f"etc/mysql/mariadb.conf.d/60-hakit-{PAIR}.cnf"
    before = lab.upper(holder, cnf).read_text()
    pid = lab.mariadbd_pid(holder)
    lab.sql(peer, "STOP SLAVE")
    try:
        lab.inventory.write_text(inventory_text(toci=160, schedule="*-*-* 03:45:00"))
        result = lab.deploy("--limit", holder, "-e", "hakit_timeout=4")
    finally:
        lab.sql(peer, "START SLAVE")
    last = result.stderr.strip().splitlines()[-1]
    print(last)
    assert result.returncode != 0
    assert last.startswith(
        f"hakit deploy: {holder}: peer: refusing to restart {holder} while it holds the write VIP: "
        f"{peer} cannot take the writes: replication IO thread No"
    ), last
    assert lab.upper(holder, cnf).read_text() == before
    assert lab.mariadbd_pid(holder) == pid
    assert _variable(lab, holder, "back_log") == "120"
    assert lab.vip_holders() == [holder]
    wait_for(lambda: _replicating(lab, peer), 20, "replication on the peer again")


def test_a_server_that_does_not_start_is_rolled_back_at_the_standby(db_lab: DbLab) -> None:
    """mariadbd parses the options but cannot start with them: the standby is restored, the holder kept."""
    lab = db_lab
    (holder,) = lab.vip_holders()
    (standby,) = [n for n in NODES if n != holder]
    cnf = f"etc/mysql/mariadb.conf.d/60-hakit-{PAIR}.cnf"
    before = {n: lab.upper(n, cnf).read_text() for n in NODES}
    holder_pid, standby_pid = lab.mariadbd_pid(holder), lab.mariadbd_pid(standby)
    # --help --verbose accepts a directory that does not exist; InnoDB fails at start and mariadbd aborts.
    bad = ", innodb_log_group_home_dir: /nonexistent-hakit-lab"
    lab.inventory.write_text(inventory_text(toci=120, schedule="*-*-* 03:45:00", extra=bad))
    writer = Writer(_client(lab), "c")
    thread = writer.start(seconds=300)
    wait_for(lambda: len(writer.acked) >= 100, 30, "rows acknowledged through the VIP")
    began = time.monotonic()
    result = lab.deploy()
    took = time.monotonic() - began
    writer.stop.set()
    thread.join(timeout=60)
    last = result.stderr.strip().splitlines()[-1]
    pause = writer.longest_pause(began)
    print(f"{last}\nrolled back in {took:.1f}s; {len(writer.acked)} rows, longest pause {pause:.2f}s")
    assert result.returncode == 1
    assert last.startswith(f"hakit deploy: {standby}: restart: "), last
    assert "exited 1: " in last and "[ERROR]" in last and last.endswith("(rolled back)"), last
    for node in NODES:
        assert lab.upper(node, cnf).read_text() == before[node]
        assert _variable(lab, node, "back_log") == "120"
    assert lab.mariadbd_pid(holder) == holder_pid
    assert lab.mariadbd_pid(standby) not in (None, standby_pid)  # restarted on the previous options
    assert lab.vip_holders() == [holder]
    wait_for(lambda: _converged(lab), 60, "both nodes at the same GTID position")
    acked = {seq for seq, _ in writer.acked}
    query = "SELECT seq FROM lab.t WHERE writer = 'c'"
    assert all(acked <= {int(s) for (s,) in lab.sql(n, query)} for n in NODES)


def test_check_mode_restarts_nothing(db_lab: DbLab) -> None:
    """--check --diff: mariadbd validates the new options on the hosts; no file, server or VIP changes."""
    lab = db_lab
    cnf = f"etc/mysql/mariadb.conf.d/60-hakit-{PAIR}.cnf"
    before = {n: (lab.upper(n, cnf).read_text(), lab.mariadbd_pid(n)) for n in NODES}
    holders = lab.vip_holders()
    lab.inventory.write_text(inventory_text(toci=200, schedule="*-*-* 03:45:00"))
    result = lab.deploy("--check", "--diff", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for node in NODES:
        assert report["hosts"][node]["steps"]["validate"] == "ok"
        assert any("back_log = 200" in d for d in report["hosts"][node]["diff"])
        assert (lab.upper(node, cnf).read_text(), lab.mariadbd_pid(node)) == before[node]
    assert lab.vip_holders() == holders


def test_holder_that_cannot_start_is_rolled_back_and_released(db_lab: DbLab) -> None:
    """The holder hands the VIP over and fails to start: restored, restarted, released; 0 rows lost."""
    lab = db_lab
    (holder,) = lab.vip_holders()
    (peer,) = [n for n in NODES if n != holder]
    cnf = f"etc/mysql/mariadb.conf.d/60-hakit-{PAIR}.cnf"
    before = lab.upper(holder, cnf).read_text()
    pid = lab.mariadbd_pid(holder)
    bad = ", innodb_log_group_home_dir: /nonexistent-hakit-lab"
    lab.inventory.write_text(inventory_text(toci=120, schedule="*-*-* 03:45:00", extra=bad))
    writer = Writer(_client(lab), "h")
    thread = writer.start(seconds=300)
    wait_for(lambda: len(writer.acked) >= 100, 30, "rows acknowledged through the VIP")
    began = time.monotonic()
    result = lab.deploy("--limit", holder)
    took = time.monotonic() - began
    time.sleep(1.0)
    writer.stop.set()
    thread.join(timeout=60)
    last = result.stderr.strip().splitlines()[-1]
    pause = writer.longest_pause(began)
    print(f"{last}\nholder rolled back in {took:.1f}s; {len(writer.acked)} rows, longest pause {pause:.2f}s")
    assert result.returncode == 1
    assert last.startswith(f"hakit deploy: {holder}: restart: ") and last.endswith("(rolled back)"), last
    assert lab.upper(holder, cnf).read_text() == before
    assert lab.mariadbd_pid(holder) not in (None, pid)
    assert _variable(lab, holder, "back_log") == "120"
    assert lab.vip_holders() == [peer]  # handed over before the restart; nopreempt keeps it there
    maintenance = lab.upper(holder, f"etc/keepalived/maintenance-mariadb-{PAIR}")
    assert maintenance.read_text().strip() == "0"
    states = {holder: "BACKUP", peer: "MASTER"}
    wait_for(lambda: _vrrp_states(lab) == states, 15, "the drained node in BACKUP")
    wait_for(lambda: _converged(lab), 60, "both nodes at the same GTID position")
    acked = {seq for seq, _ in writer.acked}
    query = "SELECT seq FROM lab.t WHERE writer = 'h'"
    assert all(acked <= {int(s) for (s,) in lab.sql(n, query)} for n in NODES)
    assert pause < 10

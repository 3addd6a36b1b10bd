"""Lab: two real MariaDB primaries on loopback, configured only by hakit's rendered files, under writes.

One node is SIGKILLed mid-write while the other keeps taking writes; after its restart both must converge
(identical CHECKSUM TABLE), with no AUTO_INCREMENT collision and every acknowledged insert on both nodes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from db_servers import MariaDBServer, free_port, wait_for
from hakit.lab.netns import LabHost, LabInterface, Topology, addresses, build, destroy, new_prefix
from hakit.render import render_inventory
from hakit.render.mariadb import CHECK_SCRIPT, bootstrap_path, config_path
from hakit.render.writer import write_tree
from hakit.spec.inventory import Inventory
from support import require_binaries, require_root

pytestmark = pytest.mark.db

PAIR = "main"
NODES = ("db1", "db2")
PASSWORD = "lab-Repl-9f3c2a7e"  # test-only; lives in a 0600 credentials file like on a real host
VRRP = {"db1": "198.18.4.11/24", "db2": "198.18.4.12/24"}  # inside the test's namespaces only
WRITE_VIP = "198.18.4.100/24"
WRITE_LIMIT = 50_000  # rows per writer phase: bounds the load loop in count (time bounds are per phase)


def lab_inventory(ports: dict[str, int]) -> Inventory:
    """Two hosts on loopback addresses, one dual-primary pair with a write VIP."""
    return Inventory.model_validate(
        {
            "hosts": {
                # lo carries MariaDB and replication; eth0 exists only inside the VIP test's namespaces.
                "db1": {"interfaces": {"lo": {"address": "127.0.0.1/8"}, "eth0": {"address": VRRP["db1"]}}},
                "db2": {"interfaces": {"lo": {"address": "127.0.0.2/8"}, "eth0": {"address": VRRP["db2"]}}},
            },
            "databases": {
                PAIR: {
                    "nodes": {
                        "db1": {"server_id": 11, "gtid_domain_id": 1, "port": ports["db1"], "priority": 110},
                        "db2": {"server_id": 12, "gtid_domain_id": 2, "port": ports["db2"]},
                    },
                    "interface": "lo",
                    # Both peers connect from 127.0.0.1 on loopback (MariaDB cannot bind the replica side).
                    "replication_from": "127.0.0.%",
                    "options": {"innodb_buffer_pool_size": "64M", "innodb_log_file_size": "16M"},
                    "write_vip": {"interface": "eth0", "address": WRITE_VIP, "vrid": 61, "advert_int": "0.2"},
                }
            },
        }
    )


@dataclass
class Pair:
    """The two running nodes and where their rendered files are."""

    root: Path
    servers: dict[str, MariaDBServer]

    def node_root(self, node: str) -> Path:
        """The directory the node's absolute paths are rooted in."""
        return self.root / node

    def bootstrap(self, node: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run the rendered bootstrap script of a node."""
        script = self.node_root(node) / bootstrap_path(PAIR).lstrip("/")
        return subprocess.run(
            [str(script)], capture_output=True, text=True, check=False, timeout=60, env={**os.environ, **env}
        )

    def check(self, node: str) -> int:
        """Exit code of the rendered keepalived check against the node."""
        script = self.node_root(node) / CHECK_SCRIPT
        cnf = self.servers[node].cnf
        return subprocess.run(
            [str(script), str(cnf), "2"], capture_output=True, check=False, timeout=10
        ).returncode


@pytest.fixture(scope="module")
def pair(mariadb_template: Path) -> Iterator[Pair]:
    """Render the pair with a root prefix, lay out datadirs, start both servers, run both bootstraps."""
    top = Path(tempfile.mkdtemp(prefix="hakit-mdb-pair-"))
    top.chmod(0o755)
    root = top / "tree"
    ports = {node: free_port() for node in NODES}
    inv = lab_inventory(ports)
    tree = {node: render_inventory(inv, source="lab", root=str(root / node))[node] for node in NODES}
    write_tree(tree, root)
    servers: dict[str, MariaDBServer] = {}
    try:
        for node in NODES:
            base = root / node
            for sub in ("run/mysqld", "var/log/mysql"):
                (base / sub).mkdir(parents=True, exist_ok=True)
            shutil.copytree(mariadb_template, base / "var/lib/mysql", symlinks=True)
            for sub in ("run/mysqld", "var/log/mysql", "var/lib/mysql"):
                subprocess.run(["chown", "-R", "mysql:mysql", str(base / sub)], check=True)
            credentials = base / "etc/hakit/mariadb" / f"{PAIR}.credentials"
            credentials.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, f"# replication account of pair {PAIR}\npassword = {PASSWORD}\n".encode())
            os.close(fd)
            servers[node] = MariaDBServer(
                base=base,
                cnf=base / config_path(PAIR).lstrip("/"),
                port=ports[node],
                socket=base / "run/mysqld/mysqld.sock",
            )
            servers[node].start()
        lab = Pair(root=root, servers=servers)
        for node in NODES:
            proc = lab.bootstrap(node)
            assert proc.returncode == 0, proc.stderr
        yield lab
    finally:
        for server in servers.values():
            server.kill()
        shutil.rmtree(top, ignore_errors=True)


def _status(server: MariaDBServer) -> dict[str, str]:
    """SHOW SLAVE STATUS as a dict (vertical output parsed)."""
    argv = ["mariadb", f"--defaults-file={server.cnf}", "-uroot", "--vertical", "-e", "SHOW SLAVE STATUS"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if _}


def _replicating(server: MariaDBServer) -> bool:
    status = _status(server)
    return status.get("Slave_IO_Running") == "Yes" and status.get("Slave_SQL_Running") == "Yes"


@dataclass
class Writer:
    """A client inserting (writer, seq) rows through one persistent `mariadb` session; counts acks.

    A row is acknowledged when the server answered the INSERT (autocommit) and the SELECT after it.
    """

    name: str
    server: MariaDBServer
    acked: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    error: str = ""
    _thread: threading.Thread | None = None

    def start(self, deadline_s: float, first_seq: int = 1) -> None:
        """Write until stopped, the connection dies, WRITE_LIMIT rows, or `deadline_s` seconds."""
        self.stop.clear()
        self._thread = threading.Thread(target=self._run, args=(deadline_s, first_seq), daemon=True)
        self._thread.start()

    def _run(self, deadline_s: float, seq: int) -> None:
        argv = ["mariadb", f"--defaults-file={self.server.cnf}", "-uroot", "-N", "-B", "--unbuffered", "lab"]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + deadline_s
        try:
            for _ in range(WRITE_LIMIT):
                if self.stop.is_set() or time.monotonic() > deadline:
                    break
                proc.stdin.write(
                    f"INSERT INTO t (writer, seq) VALUES ('{self.name}', {seq}); SELECT {seq};\n".encode()
                )
                proc.stdin.flush()
                if proc.stdout.readline().strip() != str(seq).encode():
                    break  # connection lost: this insert is not acknowledged
                self.acked.append(seq)
                seq += 1
        except BrokenPipeError:
            pass
        finally:
            if proc.stdin and not proc.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            self.error = proc.stderr.read().decode().strip()

    def join(self) -> None:
        """Wait for the writer to finish its phase."""
        if self._thread is not None:
            self._thread.join(timeout=60)


def _wait_rows(writer: Writer, count: int, timeout: float) -> None:
    try:
        wait_for(lambda: len(writer.acked) >= count, timeout, f"{count} acknowledged rows from {writer.name}")
    except TimeoutError as err:
        raise AssertionError(f"{err}; client said: {writer.error or '(nothing)'}") from err


def test_crash_of_one_primary_under_writes_converges_without_loss(pair: Pair, report: Callable[[str], None]):
    """Concurrent writes, SIGKILL one node, survivor keeps writing, restart: converged, nothing lost."""
    db1, db2 = pair.servers["db1"], pair.servers["db2"]
    wait_for(lambda: _replicating(db1) and _replicating(db2), 20, "replication running both ways")
    db1.sql(
        "CREATE DATABASE lab; CREATE TABLE lab.t (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
        " writer CHAR(1) NOT NULL, seq INT NOT NULL, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6),"
        " UNIQUE KEY (writer, seq)) ENGINE=InnoDB"
    )
    wait_for(lambda: db2.sql("SHOW TABLES FROM lab") == [["t"]], 20, "the schema on db2")

    a, b = Writer("a", db1), Writer("b", db2)
    a.start(deadline_s=20)
    b.start(deadline_s=40)
    _wait_rows(a, 150, 20)
    _wait_rows(b, 150, 20)
    db1.kill()  # SIGKILL mid-write
    a.join()
    acked_a_before = len(a.acked)
    assert a.error, "the writer on the killed node must have lost its connection"
    assert pair.check("db1") != 0 and pair.check("db2") == 0, "the keepalived check must follow the crash"

    during = len(b.acked)
    time.sleep(1.5)  # the survivor keeps taking writes while its peer is down
    assert len(b.acked) > during + 20, "the survivor stopped accepting writes"

    db1.start()
    # db2's own domain (2) as far as db2 had logged it when db1 came back: what db1 must catch up on.
    # (db1's own domain is not in its gtid_slave_pos, which MASTER_GTID_WAIT watches.)
    logged = db2.sql("SELECT @@global.gtid_binlog_pos")[0][0]
    backlog = next(gtid for gtid in logged.split(",") if gtid.startswith("2-"))
    started = time.monotonic()
    # MASTER_GTID_WAIT returns 0 once db1 has applied that position.
    waited = db1.sql(f"SELECT MASTER_GTID_WAIT('{backlog}', 30)")
    catch_up = time.monotonic() - started
    assert waited == [["0"]], f"db1 did not reach {backlog}: db1 {_status(db1)} db2 {_status(db2)}"
    # Writes on both again. New sequence numbers: the insert in flight at the kill may have committed
    # without its acknowledgement, and reusing its number would hit the unique key.
    a.start(deadline_s=20, first_seq=1_000_000)
    _wait_rows(a, acked_a_before + 100, 20)
    b.stop.set()
    a.stop.set()
    a.join()
    b.join()

    def converged() -> bool:
        pos1 = db1.sql("SELECT @@global.gtid_current_pos")
        pos2 = db2.sql("SELECT @@global.gtid_current_pos")
        return pos1 == pos2 and _replicating(db1) and _replicating(db2)

    started = time.monotonic()
    wait_for(converged, 60, "both nodes at the same GTID position")
    final_catch_up = time.monotonic() - started

    sums = [server.sql("CHECKSUM TABLE lab.t EXTENDED")[0][1] for server in (db1, db2)]
    assert sums[0] == sums[1], f"CHECKSUM TABLE differs: {sums}"
    for server in (db1, db2):
        rows = {(w, int(s)) for w, s in server.sql("SELECT writer, seq FROM lab.t")}
        lost = [("a", s) for s in a.acked if ("a", s) not in rows] + [
            ("b", s) for s in b.acked if ("b", s) not in rows
        ]
        assert not lost, f"port {server.port}: {len(lost)} acknowledged rows missing, e.g. {lost[:5]}"
        # Interleaved AUTO_INCREMENT: db1 (offset 1) hands out odd ids, db2 (offset 2) even ones.
        assert server.sql("SELECT COUNT(*) FROM lab.t WHERE (writer = 'a') = (id % 2 = 0)") == [["0"]]
        status = _status(server)
        assert (status["Last_SQL_Errno"], status["Last_IO_Errno"]) == ("0", "0"), status
    report(
        f"acknowledged: a={len(a.acked)} (killed after {acked_a_before}), b={len(b.acked)}; lost 0; "
        f"catch-up after restart {catch_up:.2f}s (backlog {backlog}); final convergence {final_catch_up:.2f}s"
    )


def test_write_vip_check_follows_read_only(pair: Pair):
    """The keepalived check passes on a writable node, fails on a read_only one (drain for maintenance)."""
    db2 = pair.servers["db2"]
    assert pair.check("db2") == 0
    db2.sql("SET GLOBAL read_only = ON")
    try:
        assert pair.check("db2") == 1
    finally:
        db2.sql("SET GLOBAL read_only = OFF")
    assert pair.check("db2") == 0


def test_replication_account_not_replicated_and_password_not_world_readable(pair: Pair):
    """sql_log_bin=0: one account per node, none in the binlog; the password only in 0600 files."""
    for node, server in pair.servers.items():
        assert server.sql("SELECT user, host FROM mysql.user WHERE user = 'repl'") == [["repl", "127.0.0.%"]]
        events = " ".join(" ".join(event) for event in server.sql("SHOW BINLOG EVENTS")).upper()
        assert "CREATE USER" not in events and "IDENTIFIED" not in events
        base = pair.node_root(node)
        credentials = base / f"etc/hakit/mariadb/{PAIR}.credentials"
        assert credentials.stat().st_mode & 0o777 == 0o600
        # master.info holds the password too: mariadbd creates it 0660 (mysql), never world-readable.
        assert (base / "var/lib/mysql/master.info").stat().st_mode & 0o007 == 0
        for path in (base / "etc").rglob("*"):
            if path.is_file() and path != credentials:
                assert PASSWORD not in path.read_text(), f"{path} holds the password"
        for path in (base / "usr").rglob("*"):
            assert not path.is_file() or PASSWORD not in path.read_text()


def test_bootstrap_refuses_a_readable_credentials_file(pair: Pair, tmp_path: Path):
    """A credentials file others can read is refused before anything touches the server."""
    loose = tmp_path / "loose.credentials"
    loose.write_text(f"password = {PASSWORD}\n")
    loose.chmod(0o644)
    proc = pair.bootstrap("db1", HAKIT_MARIADB_CREDENTIALS=str(loose))
    assert proc.returncode == 1
    assert "is mode 644: make it 0600" in proc.stderr
    short = tmp_path / "short.credentials"
    short.write_text("password = 'quoted'\n")
    short.chmod(0o600)
    proc = pair.bootstrap("db1", HAKIT_MARIADB_CREDENTIALS=str(short))
    assert proc.returncode == 1 and "the password must be" in proc.stderr


def _vip_holders(topology: Topology) -> list[str]:
    vip = WRITE_VIP.split("/")[0]
    return [node for node in NODES if vip in addresses(topology.ns(node)).get("eth0", [])]


def test_write_vip_sits_on_one_healthy_node(pair: Pair, tmp_path: Path, report: Callable[[str], None]):
    """Rendered keepalived (a netns per node, checks over the real sockets): one holder, moves, stays."""
    require_binaries("keepalived", "ip")
    require_root()
    topology = Topology(
        prefix=new_prefix(),
        hosts={node: LabHost(node, "db", (LabInterface("eth0", "seg0", (VRRP[node],)),)) for node in NODES},
        segments=["seg0"],
    )
    keepaliveds: list[subprocess.Popen[bytes]] = []
    build(topology)
    try:
        for node in NODES:
            conf = pair.node_root(node) / "etc/keepalived/keepalived.conf"
            run = tmp_path / node
            run.mkdir()
            argv = ["ip", "netns", "exec", topology.ns(node), "keepalived", "-n", "-l", "-D", "--vrrp"]
            argv += ["-f", str(conf), "-p", str(run / "k.pid"), "-r", str(run / "v.pid")]
            keepaliveds.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # Both start as BACKUP with nopreempt: whichever wins the first election keeps the VIP.
        wait_for(lambda: len(_vip_holders(topology)) == 1, 15, "the write VIP on exactly one node")
        (first,) = _vip_holders(topology)
        (other,) = [node for node in NODES if node != first]

        pair.servers[first].kill()
        killed = time.monotonic()
        seen: set[tuple[str, ...]] = set()
        while time.monotonic() - killed < 15:
            holders = tuple(_vip_holders(topology))
            seen.add(holders)
            if holders == (other,):
                break
            time.sleep(0.02)
        moved = time.monotonic() - killed
        assert _vip_holders(topology) == [other], f"VIP holders after the crash: {seen}"
        assert all(len(holders) <= 1 for holders in seen), "two nodes held the write VIP at once"

        pair.servers[first].start()
        wait_for(lambda: pair.check(first) == 0, 15, f"{first} healthy again")
        time.sleep(2.5)  # more than rise x interval: a preempting setup would have moved it back by now
        assert _vip_holders(topology) == [other], f"nopreempt: the VIP must stay on {other}"
        report(f"write VIP moved {first} -> {other} {moved:.2f}s after the SIGKILL; stayed after recovery")
    finally:
        for proc in keepaliveds:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        destroy(topology.namespaces())

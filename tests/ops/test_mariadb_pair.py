"""Lab: two real MariaDB primaries, each in its own network namespace, configured by hakit's rendered files.

Rendered keepalived holds the write VIP on one healthy node. A client in a third namespace writes THROUGH THE
VIP while a second client writes straight to the other node; the VIP holder is SIGKILLed mid-write, the VIP
moves, the client reconnects through it and keeps writing; after the restart both nodes converge (identical
CHECKSUM TABLE), with no AUTO_INCREMENT collision and every acknowledged insert on both nodes.
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
from db_servers import MariaDBServer, wait_for
from hakit.lab.netns import LabHost, LabInterface, Topology, addresses, build, destroy, new_prefix, set_sysctl
from hakit.render import render_inventory
from hakit.render.mariadb import CHECK_SCRIPT, bootstrap_path, config_path, sysctl_path
from hakit.render.writer import write_tree
from hakit.spec.inventory import Inventory
from support import require_binaries, require_root

pytestmark = [pytest.mark.db, pytest.mark.serial]  # a VIP failover under writes: run alone

PAIR = "main"
NODES = ("db1", "db2")
PASSWORD = "lab-Repl-9f3c2a7e"  # test-only; lives in a 0600 credentials file like on a real host
APP_PASSWORD = "lab-App-5d1e0b77"  # test-only; in the client's 0600 option file
# Inside the test's namespaces only.
ADDRESSES = {"db1": "198.18.4.11/24", "db2": "198.18.4.12/24"}
CLIENT = "198.18.4.50/24"
WRITE_VIP = "198.18.4.100/24"
PORT = 3306  # both nodes: a client of the VIP reaches the same port wherever it is
WRITE_LIMIT = 50_000  # rows per writer phase: bounds the load loop in count (time bounds are per phase)


def lab_inventory() -> Inventory:
    """Two hosts on one segment, one dual-primary pair replicating over it, with a write VIP."""
    return Inventory.model_validate(
        {
            "hosts": {node: {"interfaces": {"eth0": {"address": ADDRESSES[node]}}} for node in NODES},
            "databases": {
                PAIR: {
                    "nodes": {
                        "db1": {"server_id": 11, "gtid_domain_id": 1, "port": PORT, "priority": 110},
                        "db2": {"server_id": 12, "gtid_domain_id": 2, "port": PORT},
                    },
                    "options": {"innodb_buffer_pool_size": "64M", "innodb_log_file_size": "16M"},
                    "write_vip": {"interface": "eth0", "address": WRITE_VIP, "vrid": 61, "advert_int": "0.2"},
                }
            },
        }
    )


@dataclass
class Pair:
    """The two running nodes, their namespaces, and where their rendered files are."""

    root: Path
    servers: dict[str, MariaDBServer]
    topology: Topology
    client_cnf: Path

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

    def vip_holders(self) -> list[str]:
        """Nodes whose eth0 holds the write VIP now."""
        vip = WRITE_VIP.split("/")[0]
        return [node for node in NODES if vip in addresses(self.topology.ns(node)).get("eth0", [])]


def _apply_sysctl(ns: str, path: Path) -> None:
    """Apply a rendered sysctl drop-in inside a namespace (what `sysctl --system` does on the host)."""
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            set_sysctl(ns, key.strip(), value.strip())


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def pair(mariadb_template: Path) -> Iterator[Pair]:
    """Namespaces, rendered files, both servers in their namespaces, both bootstraps, keepalived on both."""
    require_binaries("keepalived", "ip")
    require_root()
    top = Path(tempfile.mkdtemp(prefix="hakit-mdb-pair-"))
    top.chmod(0o755)
    root = top / "tree"
    inv = lab_inventory()
    tree = {node: render_inventory(inv, source="lab", root=str(root / node))[node] for node in NODES}
    write_tree(tree, root)
    hosts = {node: LabHost(node, "db", (LabInterface("eth0", "seg0", (ADDRESSES[node],)),)) for node in NODES}
    hosts["client"] = LabHost("client", "client", (LabInterface("eth0", "seg0", (CLIENT,)),))
    topology = Topology(prefix=new_prefix(), hosts=hosts, segments=["seg0"])
    client_cnf = top / "client.cnf"
    fd = os.open(client_cnf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(
        fd,
        f"[client]\nhost = {WRITE_VIP.split('/')[0]}\nport = {PORT}\nuser = app\n"
        f"password = {APP_PASSWORD}\nconnect_timeout = 1\n".encode(),
    )
    os.close(fd)
    servers: dict[str, MariaDBServer] = {}
    keepaliveds: list[subprocess.Popen[bytes]] = []
    build(topology)
    try:
        for node in NODES:
            base = root / node
            # The rendered drop-in: mariadbd binds the VIP before (and whether or not) it holds it.
            _apply_sysctl(topology.ns(node), base / sysctl_path(PAIR).lstrip("/"))
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
                port=PORT,
                socket=base / "run/mysqld/mysqld.sock",
                netns=topology.ns(node),
            )
            servers[node].start()
        lab = Pair(root=root, servers=servers, topology=topology, client_cnf=client_cnf)
        for node in NODES:
            proc = lab.bootstrap(node)
            assert proc.returncode == 0, proc.stderr
        for node in NODES:
            conf = root / node / "etc/keepalived/keepalived.conf"
            run = top / f"keepalived-{node}"
            run.mkdir()
            argv = ["ip", "netns", "exec", topology.ns(node), "keepalived", "-n", "-l", "-D", "--vrrp"]
            argv += ["-f", str(conf), "-p", str(run / "k.pid"), "-r", str(run / "v.pid")]
            keepaliveds.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield lab
    finally:
        _stop(keepaliveds)
        for server in servers.values():
            server.kill()
        destroy(topology.namespaces())
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
    """A client inserting (writer, seq) rows through `mariadb` sessions; counts acks (and when they came).

    A row is acknowledged when the server answered the INSERT (autocommit) and the SELECT after it. With
    `reconnect`, a lost session is replaced by a new one (through the VIP: wherever it is now), skipping the
    sequence number in flight (it may have committed without its acknowledgement).
    """

    name: str
    argv: list[str]
    reconnect: bool = False
    acked: list[int] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)
    sessions: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    error: str = ""
    _thread: threading.Thread | None = None

    def start(self, deadline_s: float, first_seq: int = 1) -> None:
        """Write until stopped, WRITE_LIMIT rows, `deadline_s` s, or (without reconnect) a lost session."""
        self.stop.clear()
        self._thread = threading.Thread(target=self._run, args=(deadline_s, first_seq), daemon=True)
        self._thread.start()

    def _run(self, deadline_s: float, seq: int) -> None:
        deadline = time.monotonic() + deadline_s
        written = 0
        while not self.stop.is_set() and time.monotonic() < deadline and written < WRITE_LIMIT:
            seq, rows = self._session(seq, deadline, WRITE_LIMIT - written)
            written += rows
            if not self.reconnect:
                break
            seq += 1  # the one in flight when the session died is not acknowledged: never reuse it
            self.stop.wait(0.05)  # refused at once while nobody serves the VIP: do not spin

    def _session(self, seq: int, deadline: float, limit: int) -> tuple[int, int]:
        """One `mariadb` session (no hidden auto-reconnect): returns the next seq and the rows it acked."""
        self.sessions += 1
        argv = [*self.argv, "--skip-reconnect", "-N", "-B", "--unbuffered", "lab"]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        rows = 0
        try:
            while rows < limit and not self.stop.is_set() and time.monotonic() < deadline:
                proc.stdin.write(
                    f"INSERT INTO t (writer, seq) VALUES ('{self.name}', {seq}); SELECT {seq};\n".encode()
                )
                proc.stdin.flush()
                if proc.stdout.readline().strip() != str(seq).encode():
                    break  # connection lost: this insert is not acknowledged
                self.acked.append(seq)
                self.acked_at.append(time.monotonic())
                rows += 1
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
            self.error = proc.stderr.read().decode().strip() or self.error
        return seq, rows

    def join(self) -> None:
        """Wait for the writer to finish its phase."""
        if self._thread is not None:
            self._thread.join(timeout=60)

    def acked_since(self, at: float) -> int:
        """Rows acknowledged after monotonic time `at`."""
        return sum(1 for t in self.acked_at if t > at)


def _socket_argv(server: MariaDBServer) -> list[str]:
    return ["mariadb", f"--defaults-file={server.cnf}", "-uroot"]


def _wait_rows(writer: Writer, count: int, timeout: float) -> None:
    try:
        wait_for(lambda: len(writer.acked) >= count, timeout, f"{count} acknowledged rows from {writer.name}")
    except TimeoutError as err:
        raise AssertionError(f"{err}; client said: {writer.error or '(nothing)'}") from err


@dataclass
class HolderLog:
    """Samples the VIP holders every 20 ms in a thread (bounded by `seconds`): every set seen."""

    pair: Pair
    seconds: float
    seen: set[tuple[str, ...]] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> HolderLog:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.SubprocessError, ValueError):
                self.seen.add(tuple(self.pair.vip_holders()))
            self.stop.wait(0.02)

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=10)


def test_crash_of_the_vip_holder_under_writes_through_the_vip_loses_nothing(
    pair: Pair, report: Callable[[str], None]
):
    """Writes through the VIP + to the peer; SIGKILL the holder: the VIP moves, writes go on, converge."""
    wait_for(lambda: len(pair.vip_holders()) == 1, 15, "the write VIP on exactly one node")
    (holder,) = pair.vip_holders()
    (other,) = [node for node in NODES if node != holder]
    first, second = pair.servers[holder], pair.servers[other]
    wait_for(lambda: _replicating(first) and _replicating(second), 20, "replication running both ways")
    subnet = ADDRESSES["db1"].rsplit(".", 1)[0] + ".%"
    first.sql(
        "CREATE DATABASE lab; CREATE TABLE lab.t (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
        " writer CHAR(1) NOT NULL, seq INT NOT NULL, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6),"
        f" UNIQUE KEY (writer, seq)) ENGINE=InnoDB; CREATE USER 'app'@'{subnet}' IDENTIFIED BY"
        f" '{APP_PASSWORD}'; GRANT INSERT, SELECT ON lab.* TO 'app'@'{subnet}'"
    )
    wait_for(lambda: second.sql("SHOW TABLES FROM lab") == [["t"]], 20, f"the schema on {other}")

    client = [
        "ip",
        "netns",
        "exec",
        pair.topology.ns("client"),
        "mariadb",
        f"--defaults-file={pair.client_cnf}",
    ]
    a = Writer("a", client, reconnect=True)  # through the VIP
    b = Writer("b", _socket_argv(second))  # straight to the node that survives
    a.start(deadline_s=45)
    b.start(deadline_s=45)
    _wait_rows(a, 150, 20)
    _wait_rows(b, 150, 20)
    with HolderLog(pair, seconds=40) as holders:
        first.kill()  # SIGKILL mid-write
        killed = time.monotonic()
        acked_before = len(a.acked)
        try:
            wait_for(lambda: a.acked_since(killed) >= 100, 20, "writes through the VIP after the crash")
        except TimeoutError as err:
            raise AssertionError(f"{err}; VIP on {pair.vip_holders()}; client said: {a.error}") from err
        assert pair.vip_holders() == [other], "the write VIP must have moved to the survivor"
        assert pair.check(holder) != 0 and pair.check(other) == 0, (
            "the keepalived check must follow the crash"
        )
        resumed = next(t for t in a.acked_at if t > killed)
        outage = resumed - max(t for t in a.acked_at if t <= killed)

        # The survivor took writes from both clients while its peer was down; b stops now so the backlog
        # the restarted node must apply is fixed (a keeps writing through the VIP).
        b.stop.set()
        b.join()
        first.start()
        # The peer's own domain as far as it had logged it when the crashed node came back: what that node
        # must catch up on (its own domain is not in its gtid_slave_pos, which MASTER_GTID_WAIT watches).
        domain = str(pair.servers[other].sql("SELECT @@global.gtid_domain_id")[0][0])
        logged = second.sql("SELECT @@global.gtid_binlog_pos")[0][0]
        backlog = next(gtid for gtid in logged.split(",") if gtid.startswith(f"{domain}-"))
        started = time.monotonic()
        waited = first.sql(f"SELECT MASTER_GTID_WAIT('{backlog}', 30)")
        catch_up = time.monotonic() - started
        assert waited == [["0"]], f"{holder} did not reach {backlog}: {_status(first)} / {_status(second)}"
        wait_for(lambda: pair.check(holder) == 0, 15, f"{holder} healthy again")
        time.sleep(2.5)  # more than rise x interval: a preempting setup would have moved the VIP back by now
        assert pair.vip_holders() == [other], f"nopreempt: the write VIP must stay on {other}"
    assert all(len(seen) <= 1 for seen in holders.seen), (
        f"two nodes held the write VIP at once: {holders.seen}"
    )
    a.stop.set()
    a.join()

    def converged() -> bool:
        pos1 = first.sql("SELECT @@global.gtid_current_pos")
        pos2 = second.sql("SELECT @@global.gtid_current_pos")
        return pos1 == pos2 and _replicating(first) and _replicating(second)

    started = time.monotonic()
    wait_for(converged, 60, "both nodes at the same GTID position")
    final_catch_up = time.monotonic() - started

    sums = [server.sql("CHECKSUM TABLE lab.t EXTENDED")[0][1] for server in (first, second)]
    assert sums[0] == sums[1], f"CHECKSUM TABLE differs: {sums}"
    offset = 1 + NODES.index(other)  # auto_increment_offset of the node b wrote to
    for server in (first, second):
        rows = {(w, int(s)) for w, s in server.sql("SELECT writer, seq FROM lab.t")}
        lost = [("a", s) for s in a.acked if ("a", s) not in rows] + [
            ("b", s) for s in b.acked if ("b", s) not in rows
        ]
        assert not lost, f"{server.netns}: {len(lost)} acknowledged rows missing, e.g. {lost[:5]}"
        # Interleaved AUTO_INCREMENT: every row b wrote got an id of its node's residue (increment 2).
        query = f"SELECT COUNT(*) FROM lab.t WHERE writer = 'b' AND id % 2 != {offset % 2}"
        assert server.sql(query) == [["0"]]
        status = _status(server)
        assert (status["Last_SQL_Errno"], status["Last_IO_Errno"]) == ("0", "0"), status
    report(
        f"through the VIP: a={len(a.acked)} acknowledged ({acked_before} before the SIGKILL of {holder}, "
        f"{a.sessions} sessions), writes resumed on {other} after {outage:.2f}s; "
        f"b={len(b.acked)} on {other}; "
        f"lost 0; catch-up after restart {catch_up:.2f}s (backlog {backlog}); final convergence "
        f"{final_catch_up:.2f}s; VIP stayed on {other} after recovery"
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
        # The account the peer replicates with, for the peer's address only (replication_from's default).
        (peer,) = [other for other in NODES if other != node]
        peer_address = ADDRESSES[peer].split("/")[0]
        assert server.sql("SELECT user, host FROM mysql.user WHERE user = 'repl'") == [["repl", peer_address]]
        events = " ".join(" ".join(event) for event in server.sql("SHOW BINLOG EVENTS")).upper()
        # (The lab's own 'app' account is created with the binlog on, on purpose: it reaches both nodes.)
        assert "'REPL'@" not in events and PASSWORD.upper() not in events
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

"""Dual-primary MariaDB pairs in the inventory: validation, server options, keepalived checked by itself."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hakit.errors import SpecError
from hakit.render import render_inventory
from hakit.render.mariadb import CHECK_SCRIPT, bootstrap_path, config_path, sysctl_path
from hakit.render.validate import validate_tree
from hakit.spec.inventory import load_inventory
from support import require_binaries, require_root

INVENTORY = """\
version: 1
hosts:
  db1:
    interfaces:
      eth0: {address: 198.18.8.11/24}
      eth1: {address: 198.18.9.11/24}
  db2:
    interfaces:
      eth0: {address: 198.18.8.12/24}
      eth1: {address: 198.18.9.12/24}
databases:
  main:
    nodes:
      db1: {server_id: 101, gtid_domain_id: 1, priority: 110}
      db2: {server_id: 102, gtid_domain_id: 2}
    interface: eth1
    options: {innodb_buffer_pool_size: 8G, max_connections: 500}
    write_vip: {interface: eth0, address: 198.18.8.10/24, vrid: 71, advert_int: 0.5}
"""


def _options(text: str) -> dict[str, str]:
    """`name = value` lines of the [mariadbd] group."""
    group = text.split("[mariadbd]", 1)[1]
    return dict(
        (part.strip() for part in line.split("=", 1))
        for line in group.splitlines()
        if "=" in line and line[0] != "#"
    )


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, dict[str, str]]:
    """Both nodes' files, rendered from the inventory above (no root prefix)."""
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    tree = render_inventory(load_inventory(path), source="inventory.yaml")
    return {host: {name: f.content for name, f in files.items()} for host, files in tree.items()}


def test_server_options_make_a_safe_dual_primary_pair(rendered: dict[str, dict[str, str]]):
    """Distinct ids and domains, interleaved auto-increments, durable row binlog, crash-safe relay log."""
    options = {node: _options(rendered[node][config_path("main").lstrip("/")]) for node in ("db1", "db2")}
    for node, offset, server_id, domain, address in (
        ("db1", "1", "101", "1", "198.18.9.11"),
        ("db2", "2", "102", "2", "198.18.9.12"),
    ):
        got = options[node]
        assert (got["server_id"], got["gtid_domain_id"], got["auto_increment_offset"]) == (
            server_id,
            domain,
            offset,
        )
        # The replication interface's address (eth1) and the write VIP, which clients connect to.
        assert got["bind_address"] == f"{address},198.18.8.10"
        for name, value in {
            "auto_increment_increment": "2",
            "log_bin": "mariadb-bin",
            "log_slave_updates": "ON",
            "binlog_format": "ROW",
            "sync_binlog": "1",
            "innodb_flush_log_at_trx_commit": "1",
            "relay_log_recovery": "ON",
            "innodb_buffer_pool_size": "8G",
            "max_connections": "500",
        }.items():
            assert got[name] == value, (node, name)


def test_bootstrap_points_each_node_at_its_peer(rendered: dict[str, dict[str, str]]):
    """GTID replication both ways, accounts created outside the binlog, no password in the script."""
    script = rendered["db1"][bootstrap_path("main").lstrip("/")]
    assert "PEER_HOST=198.18.9.12" in script and "PEER_PORT=3306" in script
    assert "REPL_FROM=198.18.9.12" in script  # the peer's address on the replication interface
    assert '"SET SESSION sql_log_bin = 0;"' in script
    assert "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1" in script
    assert "PEER_HOST=198.18.9.11" in rendered["db2"][bootstrap_path("main").lstrip("/")]
    bash = require_binaries("bash")["bash"]
    assert subprocess.run([bash, "-n", "-c", script], check=False).returncode == 0


def test_keepalived_keeps_one_writer(rendered: dict[str, dict[str, str]]):
    """Both BACKUP + nopreempt, unicast to the peer, VIP tracked by the MariaDB check."""
    conf = rendered["db1"]["etc/keepalived/keepalived.conf"]
    for line in ("state BACKUP", "nopreempt", "priority 110", "virtual_router_id 71", "advert_int 0.5"):
        assert line in [raw.strip() for raw in conf.splitlines()], line
    assert "198.18.8.10/24 dev eth0" in conf and "unicast_src_ip 198.18.8.11" in conf
    assert f'script "/{CHECK_SCRIPT} /etc/mysql/mariadb.conf.d/60-hakit-main.cnf 2"' in conf
    assert "priority 100" in rendered["db2"]["etc/keepalived/keepalived.conf"]


@pytest.mark.daemons
def test_keepalived_accepts_the_config(tmp_path: Path):
    """`keepalived -t` (in a namespace with the named interfaces) accepts both configs and finds the check."""
    require_binaries("keepalived", "ip")
    require_root()
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    root = str(tmp_path / "root")
    tree = render_inventory(load_inventory(path), source="inventory.yaml", root=root)
    report = validate_tree(tree, root=root, daemons=["keepalived"], dedupe=False)
    assert [(r.host, r.ok) for r in report.results] == [("db1", True), ("db2", True)], report.results
    # And it does reject a broken one: the check script missing from the tree.
    del tree["db1"][CHECK_SCRIPT]
    report = validate_tree(tree, root=root, daemons=["keepalived"], dedupe=False)
    assert not report.results[0].ok


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (
            "db2: {server_id: 102",
            "db2: {server_id: 101",
            r"databases\.main\.nodes\.db2\.server_id: 101 is also used by db1",
        ),
        (
            "gtid_domain_id: 2}",
            "gtid_domain_id: 1}",
            r"databases\.main\.nodes\.db2\.gtid_domain_id: 1 is also used",
        ),
        (
            "      db2: {server_id: 102",
            "      db3: {server_id: 102",
            r"databases\.main\.nodes\.db3: unknown host 'db3'",
        ),
        (
            "interface: eth1\n",
            "interface: eth7\n",
            r"databases\.main\.interface: host 'db1' has no interface 'eth7'",
        ),
        (
            "max_connections: 500",
            "sync_binlog: 0",
            r"databases\.main\.options\.sync_binlog: managed by hakit",
        ),
        (
            "db2: {server_id: 102, gtid_domain_id: 2}",
            "db2: {server_id: 102, gtid_domain_id: 2, port: 3307}",
            r"databases\.main\.write_vip: the nodes listen on different ports \(3306, 3307\)",
        ),
        (
            "address: 198.18.8.10/24",
            "address: 198.18.99.10/24",
            r"databases\.main\.write_vip\.address: 198\.18\.99\.10 is outside",
        ),
        (
            "db1: {server_id: 101, gtid_domain_id: 1, priority: 110}\n",
            "",
            r"databases\.main\.nodes: a dual-primary pair has exactly 2 nodes, not 1",
        ),
    ],
)
def test_bad_pairs_are_reported_with_file_and_line(tmp_path: Path, old: str, new: str, error: str):
    """Every mistake comes back as FILE:LINE: path: rule (exit code 2)."""
    assert old in INVENTORY
    text = INVENTORY.replace(old, new, 1)
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_inventory(path)
    assert caught.value.exit_code == 2
    expected = re.compile(re.escape(f"{path}:") + r"\d+: " + error)
    assert any(expected.match(found) for found in caught.value.lines), caught.value.lines


# Spellings mariadbd 10.11 reads as a managed option (checked against the real parser below).
MANAGED_SPELLINGS = [
    ("loose-server-id", "server-id"),
    ("loose_server_id", "server-id"),
    ("server-i", "server-id"),
    ("server_i", "server-id"),
    ("skip-sync-binlog", "sync-binlog"),
    ("disable-log-slave-updates", "log-slave-updates"),
    ("disable_log_slave_updates", "log-slave-updates"),
    ("loose-disable-log-slave-updates", "log-slave-updates"),
    ("maximum-auto-increment-increment", "auto-increment-increment"),
    ("auto-increment-o", "auto-increment-offset"),
    ("gtid_domain", "gtid-domain-id"),
    ("innodb-flush-log-at-trx", "innodb-flush-log-at-trx-commit"),
    ("expire_logs_days", "expire-logs-days"),
    ("skip-networking", "networking"),
    ("bind", "bind-address"),
]


@pytest.mark.parametrize(("name", "target"), MANAGED_SPELLINGS)
def test_managed_options_are_refused_under_any_spelling(tmp_path: Path, name: str, target: str):
    """Prefixes, `_`/`-` and abbreviations that reach a managed option: FILE:LINE error (exit 2)."""
    text = INVENTORY.replace("max_connections: 500", f"{name}: 7")
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_inventory(path)
    assert caught.value.exit_code == 2
    expected = re.compile(
        re.escape(f"{path}:")
        + r"\d+: "
        + re.escape(f"databases.main.options.{name}: ")
        + r".*"
        + re.escape(target)
    )
    assert any(expected.match(found) for found in caught.value.lines), caught.value.lines


def _mariadbd_reads(tmp_path: Path, cnf_text: str) -> dict[str, str]:
    """The option values mariadbd itself takes from an option file (`--verbose --help`, nothing started)."""
    mariadbd = require_binaries("mariadbd")["mariadbd"]
    cnf = tmp_path / "probe.cnf"
    cnf.write_text(cnf_text)
    out = subprocess.run(
        [mariadbd, f"--defaults-file={cnf}", "--verbose", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    values = out.split("Variables (--variable-name=value)", 1)[1]
    return dict(line.split(None, 1) for line in values.splitlines()[3:] if len(line.split(None, 1)) == 2)


@pytest.mark.daemons
def test_the_refused_spellings_really_reach_the_managed_option(tmp_path: Path):
    """The rule is not broader than the parser: mariadbd 10.11 reads every refused spelling as its target."""
    for name, target in MANAGED_SPELLINGS:
        if target in ("networking", "bind-address") or name.startswith("maximum-"):
            # Not listed among the variables (a switch; a string checked above), or the ceiling for
            # SET SESSION rather than the value: refused all the same.
            continue
        base = _mariadbd_reads(tmp_path, f"[mariadbd]\n{target} = 1\n")
        # The skip-/disable- forms take no value (they switch off or zero the option); others set 7.
        switch = any(p in name for p in ("skip-", "disable-", "disable_"))
        line = name if switch else f"{name} = 7"
        changed = _mariadbd_reads(tmp_path, f"[mariadbd]\n{target} = 1\n{line}\n")
        assert changed[target] != base[target], (name, target, base[target], changed[target])


@pytest.mark.daemons
def test_managed_options_win_over_site_options_in_mariadbd(
    rendered: dict[str, dict[str, str]], tmp_path: Path
):
    """Managed settings come after the site's in [mariadbd]: mariadbd ends up with the pair's values."""
    text = rendered["db1"][config_path("main").lstrip("/")]
    group = text.split("[mariadbd]", 1)[1]
    assert group.index("max_connections = 500") < group.index("server_id = 101")
    read = _mariadbd_reads(tmp_path, text)
    assert (read["server-id"], read["gtid-domain-id"], read["max-connections"]) == ("101", "1", "500")
    assert read["bind-address"] == "198.18.9.11,198.18.8.10"


def test_a_write_vip_comes_with_nonlocal_bind(rendered: dict[str, dict[str, str]]):
    """Both nodes bind the VIP before holding it: a sysctl drop-in sets net.ipv4.ip_nonlocal_bind."""
    for node in ("db1", "db2"):
        sysctl = rendered[node][sysctl_path("main").lstrip("/")]
        assert "net.ipv4.ip_nonlocal_bind = 1" in sysctl.splitlines()

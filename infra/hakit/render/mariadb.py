"""Per-node files of dual-primary MariaDB pairs: server options, bootstrap script, keepalived write VIP."""

from __future__ import annotations

import shlex

from hakit.render.environment import header, host_script, render, rooted, seconds
from hakit.render.keepalived import HOOK_DIR, NOTIFY_SCRIPT, STATE_DIR
from hakit.render.tree import HostFiles, RenderedFile, RenderedTree
from hakit.spec.inventory import Inventory
from hakit.spec.mariadb import DatabasePair, replication_address

CHECK_SCRIPT = "etc/keepalived/scripts/mariadb_check.sh"


def config_path(pair_name: str) -> str:
    """Absolute path of a pair's server option file (a Debian conf.d drop-in, read after 50-server.cnf)."""
    return f"/etc/mysql/mariadb.conf.d/60-hakit-{pair_name}.cnf"


def sysctl_path(pair_name: str) -> str:
    """Absolute path of the sysctl drop-in that lets mariadbd bind the write VIP it does not hold."""
    return f"/etc/sysctl.d/60-hakit-mariadb-{pair_name}.conf"


SYSCTL_NONLOCAL_BIND = """{header}
# MariaDB pair "{pair}" binds its write VIP {vip} on both nodes, whether or not keepalived assigned it here.
# Apply it before mariadbd starts (sysctl --system; systemd-sysctl does at boot).
net.ipv4.ip_nonlocal_bind = 1
"""


def maintenance_path(pair_name: str) -> str:
    """Absolute path of the file whose non-zero number puts a node's write-VIP instance in FAULT (drain).

    keepalived watches it through its directory with inotify, so the directory must exist when keepalived
    starts: /etc/keepalived does. A drain outlives a reboot on purpose (the node stays out until released).
    """
    return f"/etc/keepalived/maintenance-mariadb-{pair_name}"


def instance_name(pair_name: str) -> str:
    """The keepalived VRRP instance of a pair's write VIP (also its state file's name under STATE_DIR)."""
    return f"mariadb_{pair_name}".replace("-", "_")


def bootstrap_path(pair_name: str) -> str:
    """Absolute path of a pair's bootstrap script."""
    return f"/usr/local/sbin/hakit-mariadb-bootstrap-{pair_name}"


def _address(inv: Inventory, pair: DatabasePair, node: str) -> str:
    address = replication_address(inv.hosts[node], pair.interface)
    assert address is not None  # guaranteed by database_rules
    return address


def node_files(inv: Inventory, pair_name: str, node: str, *, source: str, root: str = "") -> HostFiles:
    """One node's option file, bootstrap script and (with a write VIP) keepalived config + check."""
    pair = inv.databases[pair_name]
    names = list(pair.nodes)
    position = names.index(node)
    peer = names[1 - position]
    spec, peer_spec = pair.nodes[node], pair.nodes[peer]
    address, peer_address = _address(inv, pair, node), _address(inv, pair, peer)
    cnf = rooted(root, config_path(pair_name))
    credentials = rooted(root, pair.credentials_path(pair_name))
    common = {"header": header(source), "pair": pair_name, "node": node, "peer": peer}
    vip = pair.write_vip
    # Clients write to the VIP: the server must listen on it too (its own address carries replication).
    binds = [address] + ([str(vip.address.ip)] if vip is not None else [])
    server = render(
        "mariadb/server.cnf.j2",
        **common,
        peer_address=peer_address,
        peer_port=peer_spec.port,
        credentials_file=credentials,
        socket=rooted(root, f"{pair.run_dir}/mysqld.sock"),
        pid_file=rooted(root, f"{pair.run_dir}/mysqld.pid"),
        datadir=rooted(root, pair.datadir),
        log_error=rooted(root, f"{pair.log_dir}/error.log"),
        port=spec.port,
        bind_addresses=",".join(binds),
        vip=vip.address.ip if vip is not None else None,
        sysctl_file=sysctl_path(pair_name),
        server_id=spec.server_id,
        gtid_domain_id=spec.gtid_domain_id,
        increment=2,
        offset=position + 1,
        binlog_expire_seconds=pair.binlog_expire_days * 86400,
        slave_net_timeout=pair.slave_net_timeout,
        options=sorted(pair.options.items()),
    )
    bootstrap = render(
        "mariadb/bootstrap.sh.j2",
        **common,
        cnf=cnf,
        cnf_q=shlex.quote(cnf),
        credentials_file=credentials,
        credentials_q=shlex.quote(credentials),
        user=pair.replication_user,
        repl_from_q=shlex.quote(pair.replication_from or peer_address),
        peer_address=peer_address,
        peer_port=peer_spec.port,
    )
    files: HostFiles = {
        config_path(pair_name).lstrip("/"): RenderedFile(server),
        # No secret inside, but only root runs it.
        bootstrap_path(pair_name).lstrip("/"): RenderedFile(bootstrap, mode=0o750),
    }
    if vip is not None:
        files[sysctl_path(pair_name).lstrip("/")] = RenderedFile(
            SYSCTL_NONLOCAL_BIND.format(header=header(source), pair=pair_name, vip=vip.address.ip)
        )
        own_vip_address = inv.hosts[node].interfaces[vip.interface].address
        peer_vip_address = inv.hosts[peer].interfaces[vip.interface].address
        assert own_vip_address is not None and peer_vip_address is not None  # database_rules
        check = rooted(root, f"/{CHECK_SCRIPT}")
        timeout_s = max(1, vip.check_timeout // 1000)
        files["etc/keepalived/keepalived.conf"] = RenderedFile(
            render(
                "mariadb/keepalived.conf.j2",
                **common,
                check_name=f"chk_mariadb_{pair_name}".replace("-", "_"),
                check_command=f"{check} {cnf} {timeout_s}",
                interval=seconds(vip.check_interval),
                timeout=seconds(vip.check_timeout),
                fall=vip.fall,
                rise=vip.rise,
                instance=instance_name(pair_name),
                maintenance_name=f"hakit_maintenance_{pair_name}".replace("-", "_"),
                maintenance_file=rooted(root, maintenance_path(pair_name)),
                notify=" ".join(
                    (rooted(root, "/" + NOTIFY_SCRIPT), rooted(root, STATE_DIR), rooted(root, HOOK_DIR))
                ),
                interface=vip.interface,
                vrid=vip.vrid,
                priority=spec.priority,
                advert_int=format(vip.advert_int.normalize(), "f"),
                own_address=own_vip_address.ip,
                peer_address=peer_vip_address.ip,
                vip=vip.address,
            )
        )
        files[CHECK_SCRIPT] = RenderedFile(host_script("mariadb_check.sh"), mode=0o755)
        # Records the instance's VRRP state: hakit deploy moves the VIP only to a peer in BACKUP.
        files[NOTIFY_SCRIPT] = RenderedFile(host_script("vrrp_notify.sh"), mode=0o755)
    return files


def render_databases(inv: Inventory, source: str, root: str) -> RenderedTree:
    """Producer: the files of every node of every database pair."""
    tree: RenderedTree = {}
    for pair_name, pair in inv.databases.items():
        for node in pair.nodes:
            tree.setdefault(node, {}).update(node_files(inv, pair_name, node, source=source, root=root))
    return tree

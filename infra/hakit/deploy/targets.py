"""The Ansible inventory `hakit deploy` runs on: one group per LB cluster / DB pair, SSH access per host."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hakit.deploy.order import rollout_order
from hakit.errors import HakitError
from hakit.render import keepalived, mariadb
from hakit.spec.inventory import Inventory
from hakit.spec.reach import DeployTarget

DAEMON_FILES = {
    "haproxy": "etc/haproxy/haproxy.cfg",
    "nginx": "etc/nginx/nginx.conf",
    "keepalived": "etc/keepalived/keepalived.conf",
}

# (daemon, text in its rendered config, oldest version that reads it, why)
VERSION_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("haproxy", "", "2.2", "http-check send"),
    ("haproxy", "idle-close-on-response", "2.6", "option idle-close-on-response"),
    ("nginx", "", "1.18", "upstream keepalive_time"),
    ("keepalived", "", "2.0", "VRRPv3 sub-second advert_int"),
    ("keepalived", "notify_master_rx_lower_pri", "2.0.11", "notify_master_rx_lower_pri"),
)


@dataclass(frozen=True)
class SshOverrides:
    """Command-line overrides of every host's `deploy:` settings (None: keep the inventory's)."""

    user: str | None = None
    port: int | None = None
    key: str | None = None
    become: bool | None = None


def group_name(kind: str, name: str) -> str:
    """An Ansible group name for a cluster or pair (letters, digits and '_' only)."""
    return f"hakit_{kind}_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def daemons_of(paths: Collection[str]) -> list[str]:
    """Daemons a host's rendered files configure (MariaDB when a server config is among them)."""
    found = [daemon for daemon, path in DAEMON_FILES.items() if path in paths]
    if any(p.startswith("etc/mysql/") for p in paths):
        found.append("mariadb")
    return found


def min_versions(files: Mapping[str, str]) -> dict[str, str]:
    """daemon -> 'VERSION (why)': the oldest version that reads every option in the host's configs."""
    wanted: dict[str, tuple[tuple[int, ...], str]] = {}
    for daemon, needle, version, why in VERSION_RULES:
        content = files.get(DAEMON_FILES.get(daemon, ""))
        if content is None or needle not in content:
            continue
        key = tuple(int(part) for part in version.split("."))
        if daemon not in wanted or key > wanted[daemon][0]:
            wanted[daemon] = (key, f"{version} ({why})")
    return {daemon: text for daemon, (_key, text) in wanted.items()}


def _host_vars(
    inv: Inventory, host: str, overrides: SshOverrides, files: Mapping[str, str]
) -> dict[str, Any]:
    spec = inv.hosts[host]
    reach = spec.deploy or DeployTarget()
    become = reach.become if overrides.become is None else overrides.become
    key = overrides.key or reach.key
    out: dict[str, Any] = {
        "ansible_host": reach.address or spec.primary_address(),
        "ansible_user": overrides.user or reach.user,
        "ansible_port": overrides.port or reach.port,
        "ansible_become": become,
        "hakit_daemons": daemons_of(files),
    }
    if key:
        out["ansible_ssh_private_key_file"] = key
    versions = min_versions(files)
    if versions:
        out["hakit_min_versions"] = versions
    return out


def mariadb_paths(pair: str) -> dict[str, str]:
    """Where a pair's node keeps what the playbook's hakit_db steps read and write (as rendered)."""
    return {
        "pair": pair,
        "cnf": mariadb.config_path(pair),
        "sysctl": mariadb.sysctl_path(pair),
        "maintenance": mariadb.maintenance_path(pair),
        "vrrp_state": f"{keepalived.STATE_DIR}/{mariadb.instance_name(pair)}",
    }


def probe_url(inv: Inventory, cluster: str) -> str | None:
    """http://VIP:PORT/ of the cluster's first frontend (the health gate's probe through the VIP)."""
    proxy = inv.load_balancers[cluster].proxy
    for frontend in proxy.frontends.values():
        # `port` is plain HTTP even with TLS on (it may redirect: any answer below 500 passes).
        address = next((a for a in frontend.addresses if a not in ("*", "::")), None)
        if address is not None:
            host = f"[{address}]" if ":" in address else address
            return f"http://{host}:{frontend.port}/"
    return None


def ansible_inventory(
    inv: Inventory,
    tree: Mapping[str, Mapping[str, str]],
    *,
    tree_dir: Path,
    targets: Collection[str] | None = None,
    overrides: SshOverrides = SshOverrides(),
) -> dict[str, Any]:
    """Ansible YAML/JSON inventory: hosts grouped per cluster in push order, SSH access, hakit vars.

    `tree` maps host -> relative path -> content (the rendered files); `targets` limits what changes
    (the clusters of the targets are still checked whole: the VIP rule needs every node).
    """
    wanted = set(tree) if targets is None else set(targets)
    children: dict[str, Any] = {}
    placed: set[str] = set()
    for name, cluster in inv.load_balancers.items():
        nodes = [n for n in cluster.nodes if n in tree]
        if not nodes or not wanted & set(nodes):
            continue
        first_instance = next(iter(cluster.vrrp.instances))
        priorities = {n: cluster.priority(first_instance, n) for n in nodes}
        group = group_name("lb", name)
        vrrp = {
            instance: [str(vip.ip) for vip in spec.all_vips()]
            for instance, spec in cluster.vrrp.instances.items()
        }
        group_vars: dict[str, Any] = {
            "hakit_cluster": name,
            "hakit_group": group,
            "hakit_vrrp": vrrp,
            # The loopback liveness endpoint keepalived's track script polls (both proxies serve it).
            "hakit_health_url": f"http://127.0.0.1:{cluster.proxy.health_port}/healthz",
        }
        url = probe_url(inv, name)
        if url is not None:
            group_vars["hakit_probe_url"] = url
        children[group] = {
            "hosts": {
                n: _host_vars(inv, n, overrides, tree[n]) for n in rollout_order(priorities, holders=[])
            },
            "vars": group_vars,
        }
        placed.update(nodes)
    for name, pair in inv.databases.items():
        nodes = [n for n in pair.nodes if n in tree]
        if not nodes or not wanted & set(nodes):
            continue
        group = group_name("db", name)
        group_vars = {"hakit_cluster": name, "hakit_group": group, "hakit_mariadb": mariadb_paths(name)}
        if pair.write_vip is not None:
            group_vars["hakit_vrrp"] = {"write_vip": [str(pair.write_vip.address.ip)]}
        children[group] = {
            "hosts": {n: _host_vars(inv, n, overrides, tree[n]) for n in nodes},
            "vars": group_vars,
        }
        placed.update(nodes)
    rest = sorted(h for h in wanted if h in tree and h not in placed)
    if rest:
        children["hakit_hosts"] = {
            "hosts": {h: _host_vars(inv, h, overrides, tree[h]) for h in rest},
            "vars": {"hakit_group": "hakit_hosts"},
        }
    names = [group for group in children]
    if len(set(names)) != len(names):
        raise HakitError(
            "deploy: two clusters map to one Ansible group name; rename one of them", exit_code=2
        )
    all_targets = sorted(h for h in wanted if h in tree)
    return {
        "all": {
            "vars": {
                "hakit_tree": str(tree_dir),
                "hakit_targets": all_targets,
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "children": {"hakit_deploy": {"children": children}},
        }
    }


def resolve_limit(inv: Inventory, hosts: Collection[str], limit: str | None) -> list[str]:
    """`--limit a,b`: host names or cluster/pair names -> the hosts to change (unknown names: exit 2)."""
    if not limit:
        return sorted(hosts)
    chosen: set[str] = set()
    for item in (part.strip() for part in limit.split(",")):
        if not item:
            continue
        if item in inv.load_balancers:
            chosen.update(n for n in inv.load_balancers[item].nodes if n in hosts)
        elif item in inv.databases:
            chosen.update(n for n in inv.databases[item].nodes if n in hosts)
        elif item in hosts:
            chosen.add(item)
        else:
            known = ", ".join(sorted({*hosts, *inv.load_balancers, *inv.databases}))
            raise HakitError(
                f"deploy: --limit: unknown host or cluster {item!r} (known: {known})", exit_code=2
            )
    return sorted(chosen)


def read_tree(tree_dir: Path) -> dict[str, dict[str, str]]:
    """A rendered tree on disk (`hakit render -o DIR`): host -> relative path -> content."""
    if not (tree_dir / ".hakit-tree").is_file():
        raise HakitError(
            f"deploy: {tree_dir} is not a tree written by `hakit render` (no .hakit-tree)", exit_code=2
        )
    tree: dict[str, dict[str, str]] = {}
    for host_dir in sorted(p for p in tree_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = {}
        for path in sorted(p for p in host_dir.rglob("*") if p.is_file()):
            files[str(PurePosixPath(path.relative_to(host_dir)))] = path.read_text(errors="replace")
        tree[host_dir.name] = files
    return tree

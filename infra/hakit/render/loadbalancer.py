"""Per-node file sets of load-balancer clusters: keepalived + HAProxy or nginx + the sysctl drop-in."""

from __future__ import annotations

from hakit.render.environment import header
from hakit.render.haproxy import haproxy_files, haproxy_node_files
from hakit.render.keepalived import keepalived_files
from hakit.render.nginx import nginx_files
from hakit.render.pages import SYSCTL_HA
from hakit.render.tree import HostFiles, RenderedFile, RenderedTree
from hakit.spec.inventory import Inventory

SYSCTL = "etc/sysctl.d/90-hakit-ha.conf"

RUNTIME_DIRS: dict[str, tuple[str, ...]] = {
    "etc/haproxy/haproxy.cfg": ("run/haproxy", "var/lib/haproxy"),
    "etc/nginx/nginx.conf": ("run", "var/log/nginx", "var/lib/nginx"),
    "etc/keepalived/keepalived.conf": ("run/keepalived/hakit", "etc/keepalived/notify.d"),
}
"""config -> directories (relative to the root) that must exist before its daemon starts."""


def runtime_dirs(files: HostFiles) -> list[str]:
    """The directories a host needs at run time (socket, chroot, logs, temp files), relative to the root."""
    return sorted(
        {directory for config, dirs in RUNTIME_DIRS.items() if config in files for directory in dirs}
    )


def proxy_files(
    inv: Inventory, cluster_name: str, *, source: str, root: str = "", node: str | None = None
) -> HostFiles:
    """The proxy's files of `node` (default: the first node); the same on every node unless HAProxy
    synchronises stick tables, where haproxy.cfg names the node as its local peer."""
    if inv.load_balancers[cluster_name].proxy.kind == "haproxy":
        return haproxy_files(inv, cluster_name, source=source, root=root, node=node)
    return nginx_files(inv, cluster_name, source=source, root=root)


def render_cluster(inv: Inventory, cluster_name: str, *, source: str, root: str = "") -> RenderedTree:
    """Every node's files for one load-balancer cluster (the cloud keepalived pair embeds these)."""
    cluster = inv.load_balancers[cluster_name]
    per_node = cluster.proxy.uses_peers()
    shared = {} if per_node else proxy_files(inv, cluster_name, source=source, root=root)
    shared[SYSCTL] = RenderedFile(SYSCTL_HA.format(header=header(source)))
    # haproxy.cfg names each node as its own peer: one context, a render per node.
    own = haproxy_node_files(inv, cluster_name, cluster.nodes, source=source, root=root) if per_node else {}
    tree: RenderedTree = {}
    for node in cluster.nodes:
        files = dict(shared)
        files.update(own.get(node, {}))
        files.update(keepalived_files(inv, cluster_name, node, source=source, root=root))
        tree[node] = files
    return tree


def render_load_balancers(inv: Inventory, source: str, root: str) -> RenderedTree:
    """Producer: the files of every load-balancer node."""
    tree: RenderedTree = {}
    for cluster_name in inv.load_balancers:
        tree.update(render_cluster(inv, cluster_name, source=source, root=root))
    return tree

"""keepalived.conf and its track/notify scripts for one node of a load-balancer cluster."""

from __future__ import annotations

from hakit.render.environment import header, host_script, render, rooted, seconds
from hakit.render.tree import HostFiles, RenderedFile
from hakit.spec.inventory import Inventory

CONFIG = "etc/keepalived/keepalived.conf"
CHECK_SCRIPT = "etc/keepalived/scripts/check_proxy.sh"
NOTIFY_SCRIPT = "etc/keepalived/scripts/vrrp_notify.sh"
STATE_DIR = "/run/keepalived/hakit"
"""Where vrrp_notify.sh records each instance's current state (one file per instance)."""
HOOK_DIR = "/etc/keepalived/notify.d"
"""Executables run on every state change (e.g. the cloud EIP-move hook)."""


def keepalived_context(
    inv: Inventory, cluster_name: str, node: str, *, source: str, root: str
) -> dict[str, object]:
    """The template variables of `keepalived.conf` for `node`."""
    cluster = inv.load_balancers[cluster_name]
    vrrp = cluster.vrrp
    proxy = cluster.proxy
    track = None
    if vrrp.track_proxy.enabled:
        check = rooted(root, "/" + CHECK_SCRIPT)
        track = {
            "name": "chk_proxy",
            "script": f"{check} 127.0.0.1 {proxy.health_port} /healthz {seconds(vrrp.track_proxy.timeout)}",
            "interval": seconds(vrrp.track_proxy.interval),
            "timeout": seconds(vrrp.track_proxy.timeout),
            "fall": vrrp.track_proxy.fall,
            "rise": vrrp.track_proxy.rise,
            "weight": vrrp.track_proxy.weight,
        }
    notify_base = " ".join(
        (rooted(root, "/" + NOTIFY_SCRIPT), rooted(root, STATE_DIR), rooted(root, HOOK_DIR))
    )
    instances = []
    for name, spec in vrrp.instances.items():
        family = spec.family()
        peers = []
        for other in cluster.nodes:
            interface = inv.hosts[other].interfaces[spec.interface]
            address = interface.of_family(family)
            assert address is not None  # checked by Inventory.rules
            if other == node:
                unicast_src = str(address.ip)
            else:
                peers.append(str(address.ip))
        instances.append(
            {
                "name": name,
                "state": cluster.initial_state(name, node),
                "interface": spec.interface,
                "vrid": spec.vrid,
                "priority": cluster.priority(name, node),
                "nopreempt": spec.nopreempt,
                "preempt_delay": spec.preempt_delay,
                "unicast_src": unicast_src,
                "peers": peers,
                "vips": [vip.with_prefixlen for vip in spec.vips]
                + [f"{vip.ip}/{vip.max_prefixlen}" for vip in spec.routed_vips],
                "track_interfaces": spec.track_interfaces,
            }
        )
    return {
        "header": header(source, "!"),
        "cluster": cluster_name,
        "node": node,
        "proxy_kind": proxy.kind,
        "version": vrrp.version,
        "advert_int": format(vrrp.advert_int.normalize(), "f"),
        "unicast": vrrp.unicast,
        "script_security": True,
        "track": track,
        "auth": (
            {"type": vrrp.auth.type, "password": vrrp.auth.password.get_secret_value()} if vrrp.auth else None
        ),
        "garp": vrrp.garp.model_dump(),
        "notify": notify_base if vrrp.notify else None,
        "notify_rx_lower": notify_base if vrrp.notify_master_rx_lower_pri else None,
        "sync_groups": [{"name": group, "members": members} for group, members in vrrp.sync_groups.items()],
        "instances": instances,
    }


def keepalived_files(inv: Inventory, cluster_name: str, node: str, *, source: str, root: str) -> HostFiles:
    """keepalived.conf (0600 when it holds a VRRP password) plus the scripts it runs."""
    context = keepalived_context(inv, cluster_name, node, source=source, root=root)
    secret = inv.load_balancers[cluster_name].vrrp.auth is not None
    return {
        CONFIG: RenderedFile(render("keepalived/keepalived.conf.j2", **context), mode=0o644, secret=secret),
        CHECK_SCRIPT: RenderedFile(host_script("check_proxy.sh"), mode=0o755),
        NOTIFY_SCRIPT: RenderedFile(host_script("vrrp_notify.sh"), mode=0o755),
    }

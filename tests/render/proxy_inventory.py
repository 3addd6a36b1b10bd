"""A two-node inventory to vary one proxy setting at a time (render and daemon tests of the proxy)."""

from __future__ import annotations

import copy
from typing import Any

from hakit.render import RenderedTree, render_inventory
from hakit.render.validate import validate_tree
from hakit.spec.inventory import Inventory
from support import require_binaries, require_root

Data = dict[str, Any]

VIP = "198.18.7.100"


def inventory(kind: str, **proxy: Any) -> Data:
    """Nodes n1/n2 on 198.18.7.0/24, one frontend `www` on the VIP port 80 feeding backend `web`."""
    data: Data = {
        "version": 1,
        "hosts": {
            "n1": {"interfaces": {"eth0": {"address": "198.18.7.11/24"}}},
            "n2": {"interfaces": {"eth0": {"address": "198.18.7.12/24"}}},
        },
        "load_balancers": {
            "lb": {
                "nodes": {"n1": {"priority": 150}, "n2": {"priority": 100}},
                "vrrp": {"instances": {"VI": {"interface": "eth0", "vrid": 77, "vips": [f"{VIP}/24"]}}},
                "proxy": {
                    "kind": kind,
                    "frontends": {"www": {"addresses": [VIP], "port": 80, "backend": "web"}},
                    "backends": {
                        "web": {
                            "servers": {
                                "a": {"address": "198.18.8.21", "port": 8080},
                                "b": {"address": "198.18.8.22", "port": 8080},
                            }
                        }
                    },
                },
            }
        },
    }
    data["load_balancers"]["lb"]["proxy"].update(copy.deepcopy(proxy))
    return data


def proxy_of(data: Data) -> Data:
    """The proxy section of an `inventory()`."""
    proxy: Data = data["load_balancers"]["lb"]["proxy"]
    return proxy


def rendered(data: Data) -> RenderedTree:
    """The render of a valid inventory."""
    return render_inventory(Inventory.model_validate(data), source="proxy.yaml")


def config(data: Data, node: str = "n1") -> str:
    """The proxy config text of `node`."""
    files = rendered(data)[node]
    path = "etc/haproxy/haproxy.cfg" if "etc/haproxy/haproxy.cfg" in files else "etc/nginx/nginx.conf"
    return files[path].content


def assert_daemons_accept(data: Data) -> None:
    """haproxy -c / nginx -t / keepalived -t accept every node's files (skips without the daemons)."""
    require_binaries("haproxy", "keepalived", "nginx", "ip", "openssl")
    require_root()
    report = validate_tree(rendered(data))
    assert report.ok, [(r.host, r.path, r.message) for r in report.failures]
    assert not report.skipped

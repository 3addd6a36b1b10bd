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


def full_featured(kind: str) -> Data:
    """Routes, header rules, TLS to backends, mTLS, TCP + SNI passthrough, PROXY protocol, raw lines."""
    d = inventory(kind)
    p = proxy_of(d)

    def srv(base: int, port: int) -> Data:
        return {
            "a": {"address": f"198.18.8.{base}", "port": port},
            "b": {"address": f"198.18.8.{base + 1}", "port": port},
        }

    p["backends"].update(
        {
            "api": {
                "servers": srv(31, 9000),
                "tls": {"ca_file": "/etc/ssl/certs/ca.pem", "sni": "api.internal"},
                **({"cookie": {"name": "SRV"}} if kind == "haproxy" else {"balance": "source"}),
            },
            "static": {
                "servers": srv(41, 8080),
                "balance": "uri",
                "raw": (["balance uri whole"] if kind == "haproxy" else ["zone static_zone 64k;"]),
            },
            "db": {
                "mode": "tcp",
                "servers": srv(51, 3306),
                "health_check": {"type": "mysql", "user": "haproxy"} if kind == "haproxy" else None,
                "send_proxy": kind == "nginx",
            },
            "tlsapp": {
                "mode": "tcp",
                "servers": srv(61, 8443),
                **({"health_check": {"type": "ssl-hello"}} if kind == "haproxy" else {}),
            },
        }
    )
    www = p["frontends"]["www"]
    www.update(
        {
            "tls": {
                "cert": "/etc/ssl/private/www.pem",
                "port": 8443,
                "client_ca": "/etc/ssl/certs/clients.pem",
                "client_verify": "optional",
            },
            "redirect_https": True,
            "routes": [
                {
                    "backend": "api",
                    "hosts": ["api.example.com", "*.api.example.com"],
                    "path_prefixes": ["/v1/", "/v2/"],
                },
                {"backend": "static", "path_regex": "^/static/.*\\.(css|js)$"},
                {
                    "backend": "api",
                    "methods": ["POST", "PUT"],
                    "header": {"name": "X-Api-Version", "value": "2"},
                },
                {"backend": "static", "header": {"name": "User-Agent", "regex": "^curl/"}},
            ],
            "request_headers": [
                {"action": "set", "name": "X-Site", "value": 'www 100% "quoted" a\'b'},
                {"action": "del", "name": "X-Debug"},
            ]
            + ([{"action": "add", "name": "X-Via", "value": "hakit"}] if kind == "haproxy" else []),
            "response_headers": [
                {"action": "set", "name": "X-Frame-Options", "value": "DENY"},
                {"action": "del", "name": "Server"},
                {"action": "add", "name": "X-Served-By", "value": "hakit"},
            ],
            "raw": ["http-request set-var(txn.hakit) str(raw)"]
            if kind == "haproxy"
            else ["client_max_body_size 10m;"],
            "raw_location": []
            if kind == "haproxy"
            else ["proxy_buffering off;", "if ($request_method = TRACE) { return 405; }"],
            "rate_limit": {"requests": 100, "period": "1m", "burst": 20},
        }
    )
    p["frontends"]["mysql"] = {
        "mode": "tcp",
        "port": 3306,
        "addresses": ["198.18.7.100"],
        "backend": "db",
        "accept_proxy": True,
    }
    p["frontends"]["pass"] = {
        "mode": "tcp",
        "port": 443,
        "addresses": ["198.18.7.100"],
        "backend": "tlsapp",
        "routes": [{"backend": "tlsapp", "hosts": ["secure.example.com"]}],
    }
    p["log_targets"] = ["/dev/log", "198.18.7.200:514"]
    p["raw"] = (
        {"global": ["tune.bufsize 32768"], "defaults": ["option http-buffer-request"]}
        if kind == "haproxy"
        else {"http": ["server_names_hash_bucket_size 128;"]}
    )
    return d

"""The plain-Jinja2 side of bench/render.py: PyYAML's CSafeLoader + two templates per host, files written.

Usage: python bench/plain_jinja.py INVENTORY.yaml OUT_DIR (OUT_DIR must not exist)
"""

from __future__ import annotations

import os
import sys

import jinja2
import yaml

KEEPALIVED = """! {{ node }}: cluster {{ cluster }}
global_defs {
    router_id {{ node }}
    enable_script_security
    script_user root
}
vrrp_script check_proxy {
    script "/etc/keepalived/scripts/check_proxy.sh"
    interval 2
    fall 2
    rise 2
}
{% for name, instance in vrrp.instances.items() %}
vrrp_instance {{ name }} {
    state BACKUP
    interface {{ instance.interface }}
    virtual_router_id {{ instance.vrid }}
    priority {{ priority }}
    advert_int {{ vrrp.advert_int }}
    nopreempt
    virtual_ipaddress {
{% for vip in instance.vips %}
        {{ vip }} dev {{ instance.interface }}
{% endfor %}
    }
    track_script {
        check_proxy
    }
}
{% endfor %}
"""

PROXY = """# {{ cluster }} ({{ proxy.kind }})
global
    log /dev/log local0
    maxconn 20000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 5s
    retries 3
    option redispatch
{% for name, frontend in proxy.frontends.items() %}
frontend {{ name }}
{% for address in frontend.addresses %}
    bind {{ address }}:{{ frontend.port }}
{% endfor %}
{% if frontend.rate_limit is defined %}
    stick-table type ip size 100k expire 10s store gpc0_rate(10s)
    http-request deny deny_status 429 if { sc_gpc0_rate(0) ge {{ frontend.rate_limit.requests }} }
{% endif %}
    default_backend {{ frontend.backend }}
{% endfor %}
{% for name, backend in proxy.backends.items() %}
backend {{ name }}
    balance roundrobin
    option httpchk GET /healthz
{% for server, spec in backend.servers.items() %}
    server {{ server }} {{ spec.address }}:{{ spec.port }} check{{ " backup" if spec.get("backup") }}
{% endfor %}
{% endfor %}
"""


def main() -> None:
    """Load, render, write."""
    source, out = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=yaml.CSafeLoader)
    env = jinja2.Environment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    keepalived, proxy = env.from_string(KEEPALIVED), env.from_string(PROXY)
    for cluster, spec in data["load_balancers"].items():
        proxy_text = proxy.render(cluster=cluster, proxy=spec["proxy"])
        for node, node_spec in spec["nodes"].items():
            directory = os.path.join(out, node)
            os.makedirs(directory)
            with open(os.path.join(directory, "keepalived.conf"), "w", encoding="utf-8") as handle:
                handle.write(keepalived.render(node=node, cluster=cluster, vrrp=spec["vrrp"], **node_spec))
            with open(os.path.join(directory, "proxy.cfg"), "w", encoding="utf-8") as handle:
                handle.write(proxy_text)


if __name__ == "__main__":
    main()

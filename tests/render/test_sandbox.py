"""Pure parts of validation: path rewriting into sandboxes and the interfaces keepalived needs."""

from __future__ import annotations

from pathlib import Path

from hakit.render.netns import keepalived_interfaces
from hakit.render.sandbox import sandbox_text


def test_rendered_paths_point_into_the_sandbox() -> None:
    text = (
        'script "/etc/keepalived/scripts/check.sh 127.0.0.1"\n'
        "stats socket /run/haproxy/admin.sock mode 660\n"
        "alias /etc/nginx/errors/;\n"
        "log /dev/log local0\n"
        "crt /opt/certs/x.pem\n"
    )
    rewritten = sandbox_text(text, "", Path("/sb"))
    assert 'script "/sb/etc/keepalived/scripts/check.sh 127.0.0.1"' in rewritten
    assert "stats socket /sb/run/haproxy/admin.sock" in rewritten
    assert "alias /sb/etc/nginx/errors/;" in rewritten
    assert "log /dev/log local0" in rewritten  # not a path the renderer owns
    assert "crt /opt/certs/x.pem" in rewritten  # handled separately, never created in place


def test_rooted_paths_point_into_the_sandbox() -> None:
    text = "pid /tmp/lab/n1/run/nginx.pid;\nerror_log /tmp/lab/n1/var/log/nginx/error.log;\n"
    rewritten = sandbox_text(text, "/tmp/lab/n1/", Path("/sb"))
    assert rewritten == "pid /sb/run/nginx.pid;\nerror_log /sb/var/log/nginx/error.log;\n"


def test_keepalived_interfaces() -> None:
    conf = """
vrrp_instance A {
    interface eth0
    track_interface {
        eth1
        bond0 weight -10
    }
    virtual_ipaddress {
        198.18.1.100/24 dev eth0
        198.18.9.1/32 dev lo:1
    }
}
! interface commented
"""
    assert keepalived_interfaces(conf) == {"eth0", "eth1", "bond0", "lo:1"}

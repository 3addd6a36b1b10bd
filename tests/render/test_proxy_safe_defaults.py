"""Safe proxy defaults (issue 12): no replayed POSTs, redirects to the TLS port, one rate-limit meaning,
stick tables shared by peers, bounded reloads, modern TLS, fail-fast timeouts, strict addresses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hakit.spec.inventory import Inventory
from proxy_inventory import assert_daemons_accept, config, inventory, proxy_of, rendered
from pydantic import ValidationError

WEB: dict[str, Any] = {
    "servers": {"a": {"address": "198.18.8.21", "port": 8080}, "b": {"address": "198.18.8.22", "port": 8080}}
}


def errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted field path, message) of every problem of an invalid inventory."""
    with pytest.raises(ValidationError) as caught:
        Inventory.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


# ---------------------------------------------------------------- never replay non-idempotent requests


def test_haproxy_replays_only_idempotent_methods_after_the_server_saw_the_request() -> None:
    cfg = config(inventory("haproxy"))
    assert "http-request disable-l7-retry unless { method GET HEAD OPTIONS PUT DELETE }" in cfg
    # The connection-level retries stay for every method.
    assert re.search(r"retry-on conn-failure .*503", cfg) and "retries 3" in cfg


def test_haproxy_idempotent_methods_are_configurable() -> None:
    cfg = config(inventory("haproxy", backends={"web": {**WEB, "idempotent_methods": ["GET", "HEAD"]}}))
    assert "http-request disable-l7-retry unless { method GET HEAD }" in cfg


def test_haproxy_connection_retries_need_no_guard() -> None:
    cfg = config(inventory("haproxy", backends={"web": {**WEB, "retry_on": ["conn-failure"]}}))
    assert "retry-on conn-failure" in cfg and "disable-l7-retry" not in cfg
    cfg = config(inventory("haproxy", backends={"web": {**WEB, "retries": 0}}))
    assert "disable-l7-retry" not in cfg and "\n    retry-on" not in cfg


def test_nginx_never_replays_non_idempotent_requests_by_default() -> None:
    cfg = config(inventory("nginx"))
    assert re.search(r"proxy_next_upstream error timeout http_500 http_502 http_503;", cfg)
    assert "non_idempotent" not in cfg
    everything = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"]
    cfg = config(inventory("nginx", backends={"web": {**WEB, "idempotent_methods": everything}}))
    assert "http_503 non_idempotent;" in cfg


def test_nginx_cannot_narrow_the_replayed_methods() -> None:
    found = errors(inventory("nginx", backends={"web": {**WEB, "idempotent_methods": ["GET"]}}))
    assert found[0][0] == "load_balancers.lb.proxy.backends.web.idempotent_methods"
    assert "nginx replays every method but POST, LOCK and PATCH" in found[0][1]


# ---------------------------------------------------------------- the HTTPS redirect honours tls.port


TLS_8443 = {"cert": "/etc/ssl/private/www.pem", "port": 8443}


@pytest.mark.parametrize("kind", ["haproxy", "nginx"])
def test_https_redirect_goes_to_the_tls_port(kind: str) -> None:
    data = inventory(kind)
    proxy_of(data)["frontends"]["www"].update({"tls": TLS_8443, "redirect_https": True})
    cfg = config(data)
    if kind == "haproxy":
        assert (
            "http-request redirect location https://%[req.hdr(host),regsub(:[0-9]+$,)]:8443%[pathq] "
            "code 301 unless { ssl_fc }"
        ) in cfg
    else:
        assert "return 301 https://$host:8443$request_uri;" in cfg


@pytest.mark.parametrize("kind", ["haproxy", "nginx"])
def test_https_redirect_to_443_names_no_port(kind: str) -> None:
    data = inventory(kind)
    proxy_of(data)["frontends"]["www"].update({"tls": {**TLS_8443, "port": 443}, "redirect_https": True})
    cfg = config(data)
    assert ":443" not in cfg.split("redirect" if kind == "haproxy" else "return 301", 1)[1].splitlines()[0]


# ---------------------------------------------------------------- one rate limit, one meaning


def test_haproxy_rate_limit_counts_admitted_requests_over_a_window_holding_the_burst() -> None:
    data = inventory("haproxy")
    proxy_of(data)["frontends"]["www"]["rate_limit"] = {"requests": 100, "period": "1m", "burst": 50}
    cfg = config(data)
    # 100/min sustained, 150 at once: 150 per 90 s window (borrowing the burst from the next window).
    assert "store gpc0_rate(90s) peers hakit" in cfg
    assert "http-request deny deny_status 429 if { sc_gpc0_rate(0) ge 150 }" in cfg
    assert "http-request sc-inc-gpc0(0)" in cfg
    assert cfg.index("deny deny_status 429") < cfg.index("sc-inc-gpc0")


def test_nginx_rate_limit_admits_the_same_burst() -> None:
    data = inventory("nginx")
    proxy_of(data)["frontends"]["www"]["rate_limit"] = {"requests": 100, "period": "1m"}
    cfg = config(data)
    # Today's nginx rejected the second request within 600 ms: the whole minute's 100 are admitted at once.
    assert "limit_req_zone $binary_remote_addr zone=rl_www:13m rate=100r/m;" in cfg
    assert "limit_req zone=rl_www burst=99 nodelay;" in cfg
    proxy_of(data)["frontends"]["www"]["rate_limit"] = {"requests": 5, "period": "1s", "burst": 10}
    assert "limit_req zone=rl_www burst=14 nodelay;" in config(data)


@pytest.mark.parametrize(("table_size", "zone"), [(1000, "1m"), (8000, "1m"), (8001, "2m"), (100_000, "13m")])
def test_nginx_zone_holds_the_table_size(table_size: int, zone: str) -> None:
    data = inventory("nginx")
    limit = {"requests": 10, "period": "1s", "table_size": table_size}
    proxy_of(data)["frontends"]["www"]["rate_limit"] = limit
    assert f"zone=rl_www:{zone} " in config(data)


# ---------------------------------------------------------------- stick tables survive reloads and failovers


def test_haproxy_peers_share_the_stick_tables_between_nodes() -> None:
    data = inventory("haproxy")
    proxy_of(data)["frontends"]["www"]["rate_limit"] = {"requests": 10, "period": "1s"}
    tree = rendered(data)
    first, second = (tree[n]["etc/haproxy/haproxy.cfg"].content for n in ("n1", "n2"))
    for cfg in (first, second):
        assert "peers hakit\n    peer n1 198.18.7.11:10000\n    peer n2 198.18.7.12:10000\n" in cfg
        assert "peers hakit\n" in cfg and "store gpc0_rate(1s) peers hakit" in cfg
    assert "localpeer n1" in first and "localpeer n2" in second
    assert first.replace("localpeer n1", "localpeer n2") == second


def test_without_stick_tables_or_with_peers_off_the_config_is_shared() -> None:
    tree = rendered(inventory("haproxy"))
    assert tree["n1"]["etc/haproxy/haproxy.cfg"] == tree["n2"]["etc/haproxy/haproxy.cfg"]
    assert "peers" not in tree["n1"]["etc/haproxy/haproxy.cfg"].content
    data = inventory("haproxy", peers={"enabled": False})
    proxy_of(data)["frontends"]["www"]["rate_limit"] = {"requests": 10, "period": "1s"}
    tree = rendered(data)
    assert "peers" not in tree["n1"]["etc/haproxy/haproxy.cfg"].content


def test_peers_port_clashes_with_a_wildcard_frontend() -> None:
    data = inventory("haproxy", peers={"port": 8080})
    www = proxy_of(data)["frontends"]["www"]
    www.update({"addresses": ["*"], "port": 8080, "rate_limit": {"requests": 10, "period": "1s"}})
    assert (
        "load_balancers.lb.proxy.peers.port",
        "each node's address port 8080 is already used by frontends.www.port",
    ) in [(path, message) for path, message in errors(data)]


# ---------------------------------------------------------------- reloads, TLS, accounts, timeouts


def test_reloads_are_bounded_and_idle_connections_closed_cleanly() -> None:
    haproxy = config(inventory("haproxy"))
    assert "hard-stop-after 30s" in haproxy and "option idle-close-on-response" in haproxy
    nginx = config(inventory("nginx", hard_stop_after="10s"))
    assert "worker_shutdown_timeout 10s;" in nginx
    assert "option idle-close-on-response" not in config(inventory("haproxy", idle_close_on_response=False))


def test_modern_tls_settings() -> None:
    haproxy = config(inventory("haproxy"))
    assert "ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:" in haproxy
    assert "ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:" in haproxy
    assert "ssl-default-server-options ssl-min-ver TLSv1.2" in haproxy
    nginx = config(inventory("nginx"))
    assert "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:" in nginx
    assert "ssl_session_cache shared:hakit_tls:10m;" in nginx


def test_nginx_http2_follows_the_target_version() -> None:
    data = inventory("nginx")
    proxy_of(data)["frontends"]["www"]["tls"] = TLS_8443
    assert "listen 198.18.7.100:8443 ssl http2;" in config(data) and "http2 on;" not in config(data)
    proxy_of(data)["version"] = "1.25.1"
    newer = config(data)
    assert "listen 198.18.7.100:8443 ssl;" in newer and "http2 on;" in newer


def test_the_account_follows_the_distribution() -> None:
    assert "user haproxy\n    group haproxy\n" in config(inventory("haproxy"))
    assert config(inventory("nginx")).count("user www-data;") == 1
    assert "user nginx;" in config(inventory("nginx", distribution="rhel"))


def test_timeouts_fail_fast() -> None:
    haproxy = config(inventory("haproxy"))
    for line in ("timeout connect 1s", "timeout server 5s", "timeout queue 5s", "timeout http-request 5s"):
        assert line in haproxy
    nginx = config(inventory("nginx"))
    assert "proxy_connect_timeout 1s;" in nginx and "proxy_read_timeout 5s;" in nginx
    slow = config(inventory("nginx", timeouts={"server": "2m"}))
    assert "proxy_read_timeout 2m;" in slow


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize("address", ["10.20.1.300", "10.20.1", "1.2.3.4.5", "host.123"])
def test_a_mistyped_ipv4_address_is_not_a_host_name(address: str) -> None:
    data = inventory("haproxy")
    proxy_of(data)["backends"]["web"]["servers"]["a"]["address"] = address
    assert errors(data) == [
        (
            "load_balancers.lb.proxy.backends.web.servers.a.address",
            f"not a valid IPv4 address (and not a host name): {address!r}",
        )
    ]


def test_host_names_stay_valid() -> None:
    data = inventory("haproxy")
    proxy_of(data)["backends"]["web"]["servers"]["a"]["address"] = "app-1.internal"
    Inventory.model_validate(data)


# ---------------------------------------------------------------- the daemons accept all of it


@pytest.mark.daemons
@pytest.mark.parametrize("kind", ["haproxy", "nginx"])
def test_daemons_accept_the_safe_defaults(kind: str) -> None:
    data = inventory(kind)
    www = proxy_of(data)["frontends"]["www"]
    www.update({"tls": TLS_8443, "redirect_https": True})
    www["rate_limit"] = {"requests": 100, "period": "1m", "burst": 20}
    assert_daemons_accept(data)


@pytest.mark.daemons
@pytest.mark.parametrize("kind", ["haproxy", "nginx"])
def test_a_server_named_localhost_validates(kind: str) -> None:
    # The host resolves it from /etc/hosts; the check namespace used to have no address of its own, so
    # getaddrinfo(AI_ADDRCONFIG) answered nothing and nginx said "host not found in upstream".
    data = inventory(kind)
    proxy_of(data)["backends"]["web"]["servers"]["a"]["address"] = "localhost"
    assert_daemons_accept(data)

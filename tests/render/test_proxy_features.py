"""The proxy model's routing, TCP, persistence, TLS, PROXY protocol, logging and raw lines (issue 12),
rendered for both proxies from the same model, with a field error where one proxy cannot."""

from __future__ import annotations

from typing import Any

import pytest
from hakit.spec.inventory import Inventory
from proxy_inventory import Data, assert_daemons_accept, config, full_featured, inventory, proxy_of
from pydantic import ValidationError

TWO = {"a": {"address": "198.18.8.31", "port": 9000}, "b": {"address": "198.18.8.32", "port": 9000}}


def errors(data: Data) -> list[tuple[str, str]]:
    """(field path below the proxy, message) of every problem."""
    with pytest.raises(ValidationError) as caught:
        Inventory.model_validate(data)
    prefix = "load_balancers.lb.proxy."
    return [(".".join(map(str, e["loc"])).removeprefix(prefix), e["msg"]) for e in caught.value.errors()]


def with_backend(kind: str, name: str = "api", **backend: Any) -> Data:
    data = inventory(kind)
    proxy_of(data)["backends"][name] = {"servers": TWO, **backend}
    return data


# ---------------------------------------------------------------- both proxies accept everything at once


@pytest.mark.daemons
@pytest.mark.parametrize("kind", ["haproxy", "nginx"])
def test_daemons_accept_every_feature_together(kind: str) -> None:
    assert_daemons_accept(full_featured(kind))


# ---------------------------------------------------------------- routing


def test_haproxy_routes_in_order_with_anded_conditions() -> None:
    cfg = config(full_featured("haproxy"))
    lines = [line.strip() for line in cfg.splitlines() if line.strip().startswith("use_backend")]
    assert lines[0] == (
        'use_backend api if { req.hdr(host),regsub(:[0-9]+$,) -m reg -i "^(api\\\\.example\\\\.com|'
        '.+\\\\.api\\\\.example\\\\.com)\\$" } { path_beg "/v1/" "/v2/" }'
    )
    assert lines[1] == 'use_backend static if { path_reg "^/static/.*\\\\.(css|js)\\$" }'
    assert lines[2] == 'use_backend api if { method POST PUT } { req.hdr(X-Api-Version) -m str "2" }'
    assert lines[3] == 'use_backend static if { req.hdr(User-Agent) -m reg "^curl/" }'
    assert cfg.index(lines[3]) < cfg.index("default_backend web")


def test_nginx_routes_through_maps_to_named_locations() -> None:
    cfg = config(full_featured("nginx"))
    assert (
        "map $host $hakit_f0_r0_hosts {\n        hostnames;\n        default 0;\n        api.example.com 1;"
        in cfg
    )
    assert '"~^/v1/" 1;' in cfg and '"~^/static/.*\\\\.(css|js)$" 1;' in cfg
    assert 'map $http_x_api_version $hakit_f0_r2_header {\n        default 0;\n        "~^2$" 1;' in cfg
    # First matching route wins: the map's regexes are tried in order.
    assert '"~^11" 470;\n        "~^..1" 471;\n        "~^...11" 470;\n        "~^.....1" 471;' in cfg
    assert (
        "error_page 470 = @hakit_f0_api;" in cfg
        and "location @hakit_f0_api {\n            proxy_pass https://api;" in cfg
    )
    assert "if ($hakit_f0_route = 471) {\n                return 471;" in cfg
    assert "recursive_error_pages on;" in cfg


def test_a_route_needs_a_condition_and_a_known_backend() -> None:
    data = inventory("haproxy")
    proxy_of(data)["frontends"]["www"]["routes"] = [{"backend": "web"}]
    condition = "a route needs a condition (hosts, path_prefixes, path_regex, methods or header)"
    assert errors(data) == [("frontends.www.routes.0.backend", condition)]
    proxy_of(data)["frontends"]["www"]["routes"] = [{"backend": "nope", "methods": ["GET"]}]
    assert errors(data) == [("frontends.www.routes.0.backend", "unknown backend 'nope' (known: web)")]


def test_a_route_regex_must_compile() -> None:
    data = inventory("nginx")
    proxy_of(data)["frontends"]["www"]["routes"] = [{"backend": "web", "path_regex": "^/(a"}]
    [(field, message)] = errors(data)
    assert field == "frontends.www.routes.0.path_regex" and message.startswith(
        "not a valid regular expression"
    )


# ---------------------------------------------------------------- header rules


def test_header_rules_are_literal_on_haproxy() -> None:
    cfg = config(full_featured("haproxy"))
    # '%' starts a log-format expression in HAProxy header values: doubled; quotes escaped.
    assert 'http-request set-header X-Site "www 100%% \\"quoted\\" a\'b"' in cfg
    assert "http-request del-header X-Debug" in cfg and 'http-response add-header X-Served-By "hakit"' in cfg


def test_header_rules_on_nginx() -> None:
    cfg = config(full_featured("nginx"))
    assert 'proxy_set_header X-Site "www 100% \\"quoted\\" a\'b";' in cfg
    assert 'proxy_set_header X-Debug "";' in cfg  # deleted: nginx leaves out empty headers
    # A server that sets headers repeats hakit's own (nginx does not inherit proxy_set_header then).
    assert (
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
        in cfg.split("listen 198.18.7.100:8443")[1]
    )
    assert 'proxy_hide_header X-Frame-Options;\n        add_header X-Frame-Options "DENY" always;' in cfg


def test_nginx_cannot_add_request_headers_or_write_dollars() -> None:
    data = inventory("nginx")
    proxy_of(data)["frontends"]["www"]["request_headers"] = [
        {"action": "add", "name": "X-A", "value": "1"},
        {"action": "set", "name": "X-B", "value": "$5"},
    ]
    found = errors(data)
    assert (
        "frontends.www.request_headers.0.action",
        "nginx can only set or delete a request header (proxy_set_header replaces)",
    ) in found
    assert (
        "frontends.www.request_headers.1.value",
        "nginx cannot write '$' literally (it starts a variable)",
    ) in found


# ---------------------------------------------------------------- TCP mode


def test_haproxy_tcp_proxies_get_their_own_defaults_and_protocol_checks() -> None:
    cfg = config(full_featured("haproxy"))
    tcp = cfg.split("defaults tcp", 1)[1]
    assert "mode tcp" in tcp and "timeout client 60m" in tcp
    assert "frontend mysql\n    bind 198.18.7.100:3306 accept-proxy\n    default_backend db" in tcp
    assert "option mysql-check user haproxy post-41" in tcp and "option ssl-hello-chk" in tcp
    assert "observe layer4" in tcp and "retry-on" not in tcp and "http-" not in tcp.replace("http-check", "")
    assert 'use_backend tlsapp if { req_ssl_sni -m reg -i "^(secure\\\\.example\\\\.com)\\$" }' in tcp
    assert "tcp-request content accept if { req_ssl_hello_type 1 }" in tcp


def test_nginx_tcp_proxies_use_the_stream_module() -> None:
    cfg = config(full_featured("nginx"))
    assert "\nload_module /usr/lib/nginx/modules/ngx_stream_module.so;\nuser www-data;" in cfg
    stream = cfg.split("\nstream {", 1)[1]
    assert "listen 198.18.7.100:3306 proxy_protocol;" in stream and "proxy_protocol on;" in stream
    assert "map $ssl_preread_server_name $hakit_f2_sni {" in stream and "ssl_preread on;" in stream
    assert "load_module" not in config(inventory("nginx"))


def test_a_tcp_backend_defaults_to_a_connect_check() -> None:
    data = with_backend("haproxy", "db", mode="tcp")
    proxy_of(data)["frontends"]["db"] = {
        "mode": "tcp",
        "port": 5432,
        "addresses": ["198.18.7.100"],
        "backend": "db",
    }
    tcp = config(data).split("defaults tcp", 1)[1]
    assert "option httpchk" not in tcp and "server a 198.18.8.31:9000 check" in tcp


def test_tcp_frontends_refuse_what_reads_http() -> None:
    data = with_backend("haproxy", "db", mode="tcp")
    proxy_of(data)["frontends"]["db"] = {
        "mode": "tcp",
        "port": 5432,
        "backend": "db",
        "rate_limit": {"requests": 1, "period": "1s"},
        "routes": [{"backend": "db", "path_prefixes": ["/x"]}],
    }
    assert errors(data) == [
        ("frontends.db.rate_limit", "needs mode http (a tcp frontend does not read HTTP)"),
        ("frontends.db.routes.0.path_prefixes", "a tcp frontend routes by TLS server name (hosts) only"),
    ]
    data = with_backend("haproxy", "db", mode="tcp", cookie={"name": "S"})
    proxy_of(data)["frontends"]["db"] = {"mode": "tcp", "port": 5432, "backend": "web"}
    found = errors(data)
    assert ("frontends.db.backend", "backend 'web' is mode http, the frontend mode tcp") in found
    assert ("backends.db.cookie", "needs mode http (cookies are HTTP)") in found


def test_protocol_checks_need_tcp_and_a_user() -> None:
    found = errors(with_backend("haproxy", health_check={"type": "pgsql"}))
    assert found == [
        ("backends.api.health_check.user", "a pgsql check logs in: give the user (no password is sent)")
    ]
    found = errors(with_backend("haproxy", health_check={"type": "pgsql", "user": "check"}))
    assert found == [("backends.api.health_check.type", "a pgsql check needs mode tcp")]


# ---------------------------------------------------------------- persistence, TLS, PROXY protocol, mTLS


def test_cookie_persistence_on_haproxy_and_a_clear_error_on_nginx() -> None:
    cfg = config(full_featured("haproxy"))
    assert "cookie SRV insert indirect nocache httponly secure" in cfg and " cookie a " in cfg
    [(field, message)] = errors(with_backend("nginx", cookie={"name": "SRV"}))
    assert (
        field == "backends.api.cookie" and "nginx open source cannot insert a persistence cookie" in message
    )


def test_hashing_is_consistent_on_both_proxies() -> None:
    assert "balance uri\n    hash-type consistent" in config(full_featured("haproxy"))
    nginx = config(full_featured("nginx"))
    assert "hash $request_uri consistent;" in nginx and "hash $remote_addr consistent;" in nginx


def test_tls_to_backends_is_verified() -> None:
    haproxy = config(full_featured("haproxy"))
    assert (
        "ssl verify required ca-file /etc/ssl/certs/ca.pem verifyhost api.internal sni str(api.internal)"
        in haproxy
    )
    nginx = config(full_featured("nginx"))
    assert "proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate /etc/ssl/certs/ca.pem;" in nginx
    assert "proxy_ssl_name api.internal;" in nginx
    [(field, message)] = errors(with_backend("haproxy", tls={"sni": "a.b"}))
    assert field == "backends.api.tls.ca_file" and message.startswith("verify needs ca_file")


def test_proxy_protocol_and_client_certificates() -> None:
    haproxy = config(full_featured("haproxy"))
    assert "ca-file /etc/ssl/certs/clients.pem verify optional" in haproxy
    nginx = config(full_featured("nginx"))
    assert "ssl_client_certificate /etc/ssl/certs/clients.pem;\n        ssl_verify_client optional;" in nginx
    data = with_backend("haproxy", send_proxy=True)
    proxy_of(data)["frontends"]["www"].update({"backend": "api", "accept_proxy": True})
    cfg = config(data)
    assert "bind 198.18.7.100:80 accept-proxy" in cfg and "send-proxy-v2" in cfg
    [(field, message)] = errors(with_backend("nginx", send_proxy=True))
    assert field == "backends.api.send_proxy" and "only in mode tcp" in message


# ---------------------------------------------------------------- logging


def test_structured_access_logs() -> None:
    haproxy = config(full_featured("haproxy"))
    assert 'log-format \'{"time":"%tr"' in haproxy and '"upstream":"%si:%sp"' in haproxy
    assert '"retries":"%rc","termination":"%tsc"' in haproxy and "option httplog" not in haproxy
    assert "log 198.18.7.200:514 local0" in haproxy
    nginx = config(full_featured("nginx"))
    assert "log_format hakit_json escape=json" in nginx and '"upstream":"$upstream_addr"' in nginx
    assert "access_log syslog:server=198.18.7.200:514 hakit_json;" in nginx
    assert "access_log syslog:server=unix:/dev/log hakit_json;" in nginx
    assert "option httplog" in config(inventory("haproxy", log_format="classic"))


# ---------------------------------------------------------------- raw lines


def test_raw_lines_land_in_their_sections() -> None:
    haproxy = config(full_featured("haproxy"))
    assert "    tune.bufsize 32768\n" in haproxy.split("defaults", 1)[0]
    assert "    option http-buffer-request\n" in haproxy.split("defaults", 1)[1].split("peers", 1)[0]
    assert "balance uri whole" in haproxy.split("backend static", 1)[1]
    nginx = config(full_featured("nginx"))
    assert "    server_names_hash_bucket_size 128;\n}\n" in nginx
    assert "zone static_zone 64k;" in nginx.split("upstream static", 1)[1].split("}", 1)[0]


RAW_CASES = [
    (
        "haproxy",
        "raw.global",
        "backend evil",
        "'backend' starts a new HAProxy section: raw lines stay in theirs",
    ),
    (
        "haproxy",
        "frontends.www.raw",
        "  Listen x",
        "'Listen' starts a new HAProxy section: raw lines stay in theirs",
    ),
    (
        "nginx",
        "raw.http",
        "} server { listen 81; }",
        "'}' closes a block the line did not open: raw lines stay in their block",
    ),
    (
        "nginx",
        "frontends.www.raw",
        "location /x { # }",
        "'{' without its '}' on the same line: raw lines stay in their block",
    ),
    (
        "nginx",
        "frontends.www.raw_location",
        "proxy_buffering off",
        "must end with ';' or '}' (a directive left open would swallow the next line)",
    ),
    ("nginx", "backends.web.raw", 'keepalive_timeout "5s;', "unterminated quote or trailing backslash"),
]


@pytest.mark.parametrize(("kind", "field", "line", "message"), RAW_CASES)
def test_raw_lines_cannot_leave_their_section(kind: str, field: str, line: str, message: str) -> None:
    data = inventory(kind)
    node = proxy_of(data)
    *parents, last = field.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = [line]
    assert errors(data) == [(f"{field}.0", message)]


@pytest.mark.parametrize(
    ("kind", "field", "message"),
    [
        ("haproxy", "frontends.www.raw_location", "nginx only (HAProxy: use raw)"),
        ("haproxy", "raw.http", "nginx only (HAProxy: use global or defaults)"),
        ("nginx", "raw.global", "HAProxy only (nginx: use http)"),
    ],
)
def test_raw_sections_of_the_other_proxy_are_errors(kind: str, field: str, message: str) -> None:
    data = inventory(kind)
    node = proxy_of(data)
    *parents, last = field.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = ["x;"]
    assert errors(data) == [(field, message)]


def test_raw_lines_refuse_line_breaks() -> None:
    data = inventory("haproxy")
    proxy_of(data)["raw"] = {"defaults": ["option x\nbackend evil"]}
    [(field, message)] = errors(data)
    assert field == "raw.defaults.0" and "control character" in message


def test_raw_lines_are_listed_as_unmodelled() -> None:
    proxy = Inventory.model_validate(full_featured("nginx")).load_balancers["lb"].proxy
    assert proxy.unmodelled() == [
        "raw.http",
        "frontends.www.raw",
        "frontends.www.raw_location",
        "backends.static.raw",
    ]


# ---------------------------------------------------------------- values that used to break the configs


def test_a_health_check_path_with_quotes_is_sent_as_written() -> None:
    for path in ("/a'b", "/a'b'c"):
        data = inventory("haproxy")
        proxy_of(data)["backends"]["web"]["health_check"] = {"path": path}
        assert f'http-check send meth GET uri "{path}" ver HTTP/1.1' in config(data)


@pytest.mark.daemons
def test_haproxy_accepts_a_quoted_health_check_path() -> None:
    data = inventory("haproxy")
    proxy_of(data)["backends"]["web"]["health_check"] = {"path": "/a'b'c$x"}
    assert_daemons_accept(data)


@pytest.mark.parametrize(
    "cert", ["/etc/ssl/a#b.pem", "/etc/ssl/a b.pem", "/etc/ssl/a;b.pem", "etc/ssl/a.pem"]
)
def test_a_certificate_path_is_one_word(cert: str) -> None:
    data = inventory("haproxy")
    proxy_of(data)["frontends"]["www"]["tls"] = {"cert": cert}
    [(field, _message)] = errors(data)
    assert field == "frontends.www.tls.cert"


# ---------------------------------------------------------------- template override directory


@pytest.mark.parametrize(
    ("kind", "name", "added"),
    [
        ("haproxy", "haproxy/haproxy.cfg.j2", "\nbackend extra\n    server x 198.18.8.99:80\n"),
        ("nginx", "nginx/nginx.conf.j2", "\n# site addition for {{ cluster }}\n"),
    ],
)
def test_a_template_override_directory_wraps_hakit_s_template(
    tmp_path: Any, kind: str, name: str, added: str
) -> None:
    target = tmp_path / name
    target.parent.mkdir(parents=True)
    target.write_text('{% include "hakit/' + name + '" %}' + added, encoding="utf-8")
    data = inventory(kind, template_dir=str(tmp_path))
    cfg = config(data)
    assert cfg.startswith("# Generated by hakit") and cfg.endswith(added.replace("{{ cluster }}", "lb"))
    proxy = Inventory.model_validate(data).load_balancers["lb"].proxy
    assert proxy.unmodelled() == ["template_dir"]
    if kind == "haproxy":
        assert_daemons_accept(data)


def test_a_missing_template_override_directory_is_one_clear_error(tmp_path: Any) -> None:
    from hakit.errors import HakitError

    data = inventory("haproxy", template_dir=str(tmp_path / "nope"))
    with pytest.raises(HakitError, match=r"^proxy.template_dir: .*/nope is not a directory$"):
        config(data)


def test_nginx_sni_routes_share_one_stream_server_s_settings() -> None:
    data = with_backend("nginx", "db", mode="tcp")
    proxy_of(data)["backends"]["db2"] = {"mode": "tcp", "servers": TWO, "send_proxy": True}
    proxy_of(data)["frontends"]["db"] = {
        "mode": "tcp",
        "port": 443,
        "backend": "db",
        "routes": [{"backend": "db2", "hosts": ["a.example"]}],
    }
    [(field, message)] = errors(data)
    assert field == "frontends.db.routes.0.backend"
    assert message.startswith("nginx: backend 'db2' must match 'db' in send_proxy, tls and retries")
    proxy_of(data)["kind"] = "haproxy"  # HAProxy routes to real backends: no such limit
    assert "use_backend db2 if { req_ssl_sni" in config(data)

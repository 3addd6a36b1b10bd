"""hakit.render.quoting: each daemon reads a quoted value back literally (checked with the real daemons)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hakit.render.environment import environment, header
from hakit.render.quoting import (
    QuotingError,
    haproxy_quote,
    keepalived_quote,
    nginx_quote,
    systemd_quote,
)
from support import require_binaries, require_root

HOSTILE = [
    "plain",
    "a b",
    "a#b",
    "a'b'c",
    'say "hi"',
    "back\\slash",
    "trail\\",
    "semi;colon",
    "brace{s}",
    "dollar$HOME",
    "${HOME}",
    "per%cent",
    "!bang",
    'x\\"y',
]
"""Values a config file would misread if written bare: comment signs, quotes, escapes, variables, blocks."""

CONTROL = ["a\nb", "a\rb", "a\tb", "a\x00b", "a\x7fb", "a\x85b", "a\u2028b"]


@pytest.mark.parametrize("quote", [haproxy_quote, nginx_quote, keepalived_quote, systemd_quote])
@pytest.mark.parametrize("value", CONTROL)
def test_control_characters_are_never_quoted(quote: object, value: str) -> None:
    with pytest.raises(QuotingError, match="control character"):
        quote(value)  # type: ignore[operator]


def test_quoted_forms() -> None:
    assert haproxy_quote('a"b\\c$d#e') == '"a\\"b\\\\c\\$d#e"'
    assert nginx_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert nginx_quote("^/a$", regex=True) == '"^/a$"'
    assert keepalived_quote("a}b\\c") == '"a}b\\c"'
    assert systemd_quote('a "b" 5% $x') == '"a \\"b\\" 5%% $$x"'
    assert systemd_quote("5% $x", command=False) == '"5%% $x"'


@pytest.mark.parametrize(
    ("quote", "char"), [(nginx_quote, "$"), (keepalived_quote, "$"), (keepalived_quote, '"')]
)
def test_unquotable_characters_are_refused(quote: object, char: str) -> None:
    with pytest.raises(QuotingError):
        quote(f"a{char}b")  # type: ignore[operator]


def test_filters_are_registered() -> None:
    env = environment()
    assert env.from_string("{{ v | haproxy_quote }}").render(v="a#b") == '"a#b"'
    assert env.from_string("{{ v | nginx_quote(regex=True) }}").render(v="^/$") == '"^/$"'
    assert env.from_string("{{ v | systemd_quote(command=False) }}").render(v="%") == '"%%"'
    assert env.from_string("{{ v | keepalived_quote }}").render(v="}") == '"}"'


def test_header_escapes_control_characters() -> None:
    line = header("inv\nglobal\r.yaml")
    assert "\n" not in line and "\r" not in line
    assert "inv\\nglobal\\r.yaml" in line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each is stopped by its own PID, even when the test fails."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _bodies(port: int) -> list[bytes]:
    deadline = time.monotonic() + 10
    return [_wait_get(f"http://127.0.0.1:{port}/{index}", deadline) for index in range(len(HOSTILE))]


def test_haproxy_reads_quoted_values_literally(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """Every value comes back byte for byte as the body of an `http-request return` (HAProxy 2.6)."""
    haproxy = require_binaries("haproxy")["haproxy"]
    port = _free_port()
    rules = "\n".join(
        f"    http-request return status 200 content-type text/plain string {haproxy_quote(value)} "
        f"if {{ path /{index} }}"
        for index, value in enumerate(HOSTILE)
    )
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
        f"frontend quoted\n    bind 127.0.0.1:{port}\n{rules}\n",
        encoding="utf-8",
    )
    check = subprocess.run([haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    started.append(subprocess.Popen([haproxy, "-db", "-f", str(config)], stderr=subprocess.DEVNULL))
    assert _bodies(port) == [value.encode() for value in HOSTILE]


def test_nginx_reads_quoted_values_literally(tmp_path: Path, started: list[subprocess.Popen[bytes]]) -> None:
    """Every value without `$` comes back as the body of `return 200` (nginx 1.22); a regex keeps `$`."""
    nginx = require_binaries("nginx")["nginx"]
    port = _free_port()
    values = [value if "$" not in value else value.replace("$", "S") for value in HOSTILE]
    locations = "\n".join(
        f"        location = /{index} {{ return 200 {nginx_quote(value)}; }}"
        for index, value in enumerate(values)
    )
    regex = "        location ~ " + nginx_quote("^/re/a\\.b$", regex=True) + ' { return 200 "regex"; }'
    temp = "".join(
        f"    {name}_temp_path {tmp_path}/{name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp}    server {{\n        listen 127.0.0.1:{port};\n"
        f"{locations}\n{regex}\n    }}\n}}\n",
        encoding="utf-8",
    )
    command = [nginx, "-p", f"{tmp_path}/", "-c", str(config)]
    check = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    started.append(subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.DEVNULL))
    assert _bodies(port) == [value.encode() for value in values]
    assert _wait_get(f"http://127.0.0.1:{port}/re/a.b", time.monotonic() + 5) == b"regex"
    with pytest.raises(OSError):  # 'a.bX' does not match: '$' anchored the regex
        _wait_get(f"http://127.0.0.1:{port}/re/a.bX", time.monotonic())


def test_keepalived_reads_quoted_passwords_literally(tmp_path: Path) -> None:
    """keepalived 2.2.7 dumps (-d) the password it read: the quoted value, braces and comment signs kept."""
    keepalived = require_binaries("keepalived", "ip")["keepalived"]
    require_root()
    values = ["a}b{c", "a#b!c", "x'y z", "b\\s", "{"]
    instances = "".join(
        f"vrrp_instance VI{index} {{\n    state BACKUP\n    interface veth-q0\n"
        f"    virtual_router_id {index + 1}\n    priority 100\n    version 2\n"
        "    authentication {\n        auth_type PASS\n"
        f"        auth_pass {keepalived_quote(value)}\n    }}\n"
        f"    virtual_ipaddress {{\n        192.0.2.{index + 1}/32 dev veth-q0\n    }}\n}}\n"
        for index, value in enumerate(values)
    )
    config = tmp_path / "keepalived.conf"
    config.write_text("global_defs {\n    router_id quoting\n}\n" + instances, encoding="utf-8")
    script = (
        "ip link add veth-q0 type veth peer name veth-q1 && ip link set veth-q0 up && "
        f"exec timeout -s TERM 3 {keepalived} -n -l -D -d --vrrp -f {config} "
        f"-p {tmp_path}/vrrp.pid -r {tmp_path}/vrrp2.pid"
    )
    # A private network namespace of its own: the veth pair and keepalived vanish with it.
    run = subprocess.run(
        ["unshare", "-n", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
    )
    passwords = [line.split("Password = ", 1)[1] for line in run.stdout.splitlines() if "Password = " in line]
    assert passwords == values, run.stdout[-2000:]


def test_systemd_reads_a_quoted_executable_literally(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds the executable only when the quoted path means the real file name."""
    analyze = require_binaries("systemd-analyze")["systemd-analyze"]
    for index, value in enumerate(["a b", "p%c", "s;t", "h#i", "%n"]):
        program = tmp_path / f"bin{index}" / value
        program.parent.mkdir()
        program.write_text("#!/bin/sh\n", encoding="utf-8")
        program.chmod(0o755)
        unit = tmp_path / f"quoted{index}.service"
        argument = systemd_quote('arg "with" 50% $HOME \\ ;')
        unit.write_text(
            "[Unit]\nDescription=quoting\n[Service]\nType=oneshot\n"
            f"Environment={systemd_quote('A=x y 5% $z', command=False)}\n"
            f"ExecStart={systemd_quote(str(program))} {argument}\n",
            encoding="utf-8",
        )
        env = {**os.environ, "SYSTEMD_LOG_LEVEL": "warning"}
        run = subprocess.run(
            [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, env=env
        )
        assert run.returncode == 0, run.stderr
        program.rename(program.with_name(value + "x"))  # the control: a wrong name fails
        run = subprocess.run(
            [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, env=env
        )
        assert run.returncode != 0


@pytest.mark.parametrize("root", ["/tmp/a b", "/tmp/x#y", '/tmp/"q', "relative", "/tmp/x\nglobal", "/tmp/$x"])
def test_a_root_prefix_with_config_syntax_is_refused(root: str) -> None:
    """`--root` is written unquoted into every config: one clean error (exit 2), never a broken file."""
    from hakit.errors import HakitError
    from hakit.render.environment import rooted

    with pytest.raises(HakitError) as caught:
        rooted(root, "/etc/haproxy/haproxy.cfg")
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)
    assert rooted("/tmp/lab-1/node_a/", "/etc/x") == "/tmp/lab-1/node_a/etc/x"

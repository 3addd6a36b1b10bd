"""hakit.spec.base: the string rules every spec model shares (control characters, Token, Text, IP scope)."""

from __future__ import annotations

import pytest
from hakit.spec.base import IpAddress, Multiline, SpecModel, Text, Token, parse_ip
from pydantic import ValidationError


class Sample(SpecModel):
    word: Token = "ok"
    text: Text = ""
    page: Multiline = ""
    address: IpAddress | None = None
    free: dict[str, list[str]] = {}


def messages(data: dict[str, object]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(data)
    return [f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in caught.value.errors()]


@pytest.mark.parametrize("char", ["\r", "\n", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"])
def test_control_characters_are_refused_in_any_string(char: str) -> None:
    assert messages({"free": {"k": [f"a{char}b"]}}) == [
        f"free.k.0: control character {char!r} is not allowed"
    ]
    assert messages({"free": {f"k{char}": []}}) == [
        f"free.k{char}: control character {char!r} is not allowed in a key"
    ]


def test_multiline_allows_line_breaks_only() -> None:
    assert Sample.model_validate({"page": "<h1>\n\tback soon</h1>\n"}).page.count("\n") == 2
    assert messages({"page": "a\rb"}) == ["page: control character '\\r' is not allowed"]


@pytest.mark.parametrize("bad", ["a b", "a#b", "a'b", 'a"b', "a\\b", "a{b", "a}b", "a;b", "a$b", "a`b", ""])
def test_token_refuses_config_syntax(bad: str) -> None:
    (line,) = messages({"word": bad})
    assert line.startswith("word: ")
    assert "single word" in line or "1 to 4096" in line


def test_token_and_text_lengths() -> None:
    assert messages({"word": "x" * 4097}) == ["word: must be 1 to 4096 characters (got 4097)"]
    assert messages({"text": "x" * 4097}) == ["text: at most 4096 characters (got 4097)"]
    assert Sample.model_validate({"text": "a 'b' \"c\" #d {e} $f"}).text


@pytest.mark.parametrize(
    "address", ["::1%lo bind *:1", "fe80::1%a}b", "fe80::1%eth0#x", "fe80::1%averyveryverylong0"]
)
def test_ipv6_scope_must_be_an_interface_name(address: str) -> None:
    (line,) = messages({"address": address})
    assert "scope id after '%' must be an interface name" in line
    with pytest.raises(ValueError, match="interface name"):
        parse_ip(address)


def test_ipv6_scope_with_an_interface_name_is_fine() -> None:
    assert str(Sample.model_validate({"address": "fe80::1%eth0"}).address) == "fe80::1%eth0"
    assert str(parse_ip("fe80::1%br-lan.10")) == "fe80::1%br-lan.10"


def test_no_prefix_match_in_the_package() -> None:
    """`re.match` with a `$`-anchored pattern accepts a trailing newline: the package uses `fullmatch`."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "infra" / "hakit"
    # The one prefix match left reads a line of haproxy.cfg on a host (its pattern has no '$').
    allowed = {"deploy/playbook/library/hakit_node.py"}
    found = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        if str(path.relative_to(package)) not in allowed
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"(?<![\w])(re)?\.match\(", line)
    ]
    assert found == []

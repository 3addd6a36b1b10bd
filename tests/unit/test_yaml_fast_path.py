"""The fast reader of plain block YAML gives exactly what the libyaml path gives, or steps aside.

`yaml_reader._simple_block_yaml` reads the common style of large inventories several times faster;
every text it accepts must come out as the libyaml event walk builds it (values, their types, the
line of every key and item), and every text it does not fully understand (errors included) must be
left to that walk. The differential tests below are the proof; the IP shortcuts are checked the same way.
"""

from __future__ import annotations

import math
import pickle
import sys
from datetime import date, datetime
from ipaddress import IPv4Interface, ip_address, ip_interface
from pathlib import Path
from typing import Any

import pytest
import yaml
from hakit.errors import SpecError
from hakit.spec import yaml_reader
from hakit.spec.base import CONTROL_CHARACTERS, fast_ipv4_interface, parse_ip
from hakit.spec.inventory import load_inventory
from hakit.spec.loader import load_yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

FUZZ = settings(
    max_examples=int(__import__("os").environ.get("FAST_YAML_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def typed(value: Any) -> Any:
    """`value` with every scalar tagged by its type (1, 1.0 and True differ; nan equals nan)."""
    if isinstance(value, dict):
        return ("dict", [(typed(key), typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def slow(text: str) -> yaml_reader.YamlDocument | yaml_reader.YamlProblem:
    try:
        return yaml_reader._parse_with_libyaml(text)
    except yaml_reader.YamlProblem as problem:
        return problem


def assert_same_or_declined(text: str) -> bool:
    """The fast reader's result equals the libyaml walk's, or it declined; True when it read the text."""
    fast = yaml_reader._simple_block_yaml(text)
    if fast is None:
        return False
    reference = slow(text)
    assert not isinstance(reference, yaml_reader.YamlProblem), (text, reference.line, reference.message)
    assert typed(fast.data) == typed(reference.data), text
    assert fast.lines == reference.lines, text  # every path in one pass
    assert {path: fast.lines[path] for path in reference.lines} == reference.lines  # each path looked up
    assert len(fast.lines) == len(reference.lines)
    for path in list(reference.lines)[:50]:  # absent paths: found in neither
        for absent in ((*path, "nope"), (*path, 10**6), (*path, -1), (*path, 0, 0, 0)):
            assert fast.lines.get(absent) == reference.lines.get(absent), (text, absent)
    assert fast.strings_checked
    return True


KEYS = [
    "a",
    "b",
    "x-y",
    "hakit:env",
    "a#b",
    "1",
    "0x1f",
    "true",
    "null",
    "~",
    "2024-01-02",
    "1.5",
    ".nan",
    "<<",
    "-a",
    "?a",
    ":a",
    "'q'",
    '"q"',
    "a b",
    "a:",
    "&a a",
    "!t a",
    "é",
    "a,b",
    "[a]",
    "%a",
    "@a",
]
VALUES = [
    "",
    "v",
    "v ",
    "two words",
    "'s'",
    "''",
    "'a''b'",
    "'a #b'",
    "'x' y",
    "'open",
    '"d"',
    '"e\\n"',
    '"a: b"',
    "[]",
    "{}",
    "[ ]",
    "[a, b]",
    "[a,b,]",
    "[a:, b]",
    "[fd00::1, 198.18.0.1/24]",
    "[1, true, ~]",
    "{a: 1}",
    "[[a]]",
    "|",
    ">-",
    "&a x",
    "*a",
    "!!str 1",
    "1 # c",
    "a #b",
    "a#b",
    "a: b",
    "a:",
    "-",
    "- x",
    "? x",
    ": x",
    "-1",
    "?x",
    ":x",
    "%x",
    "@x",
    "`x",
    ",x",
    "0o17",
    "0b101",
    "0x_1F",
    ".inf",
    "-.Inf",
    ".NaN",
    "~",
    "Null",
    "yes",
    "NO",
    "True",
    "FALSE",
    "1_000",
    "3.5",
    "1e3",
    "+12",
    "2026-13-45",
    "2024-01-02 10:00:00",
    "2024-1-2T3:04:05Z",
    "é",
    "\xa0x",
    "x\xa0",
    "---",
    "...",
    "a'b",
    'a"b',
    "#x",
]


@st.composite
def block_texts(draw: st.DrawFn) -> str:
    """Lines of keys, items and values at random indents: mostly near-valid YAML, often not."""
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["entry", "entry", "item", "item-entry", "comment", "blank", "raw"]))
        indent = " " * draw(st.sampled_from([0, 0, 2, 2, 4, 4, 6, 1, 3]))
        key = draw(st.sampled_from(KEYS))
        separator = draw(st.sampled_from([": ", ": ", ":", ":  ", " : "]))
        value = draw(st.sampled_from(VALUES))
        comment = draw(st.sampled_from(["", "", "", " # note", "  #", "#x"]))
        if kind == "entry":
            lines.append(f"{indent}{key}{separator}{value}{comment}")
        elif kind == "item":
            lines.append(f"{indent}-{draw(st.sampled_from([' ', '  ', '']))}{value}{comment}")
        elif kind == "item-entry":
            lines.append(f"{indent}- {key}{separator}{value}{comment}")
        elif kind == "comment":
            lines.append(f"{indent}# c")
        elif kind == "blank":
            lines.append(indent)
        else:
            lines.append(
                draw(st.sampled_from(["---", "--- x", "...", "%YAML 1.1", "\t- a", "a:\tb", "  ", "-"]))
            )
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@FUZZ
@given(block_texts())
def test_line_soup_is_read_identically_or_left_to_libyaml(text: str) -> None:
    assert_same_or_declined(text)


SCALARS = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.sampled_from(
        ["yes", "NO", "on", "1_0", "0x1F", "2024-01-02", ".inf", "-", "- a", "a: b", "#", "'", '"']
    ),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.dates(),
)
KEYS_STRATEGY = st.one_of(st.text(max_size=8), st.integers(-5, 100), st.booleans(), st.none())
DOCUMENTS = st.dictionaries(
    KEYS_STRATEGY,
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS_STRATEGY, inner, max_size=4),
        max_leaves=25,
    ),
    min_size=1,
    max_size=5,
)


@FUZZ
@given(DOCUMENTS, st.sampled_from([2, 4]), st.sampled_from([False, None]))
def test_dumped_documents_are_read_identically_or_left_to_libyaml(
    data: dict[Any, Any], indent: int, flow: bool | None
) -> None:
    text = yaml.safe_dump(data, indent=indent, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    assert_same_or_declined(text)


def test_the_synthetic_inventory_takes_the_fast_path() -> None:
    """The benchmark's 5 MB shape (block style, as `yaml.safe_dump` writes it) must not fall back."""
    from render import synthetic_inventory  # bench/render.py

    text = yaml.safe_dump(synthetic_inventory(40), sort_keys=False)
    assert assert_same_or_declined(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb:\n  c: [x, y]\n  d:\n  - 1\n  - k: v\n    l: 'q''s' # c\n  e: {}\n",
        "---\n# head\na:\n- - x\n",  # nested dash: libyaml reads it
        "a:\n  - x\n  b: 1\n",  # an error: libyaml reports it
        "a: 1\na: 2\n",  # a duplicate: libyaml reports it with its line
        "a: x\n  y\n",  # a multi-line plain scalar
        "a: 'x\n  y'\n",
        "a: b: c\n",
        "a:\n    b: 1\n  c: 2\n",
        'a: "\\t"\n',
    ],
)
def test_hand_picked_texts(text: str) -> None:
    assert_same_or_declined(text)


def test_what_the_fast_reader_declines() -> None:
    for text in (
        "a: &x 1\nb: *x\n",
        "a: |\n  x\n",
        "a: !!str 1\n",
        "a:\tb\n",
        "a: 1\r\n",
        "- a\n",
        "a: 1\na: 1\n",
    ):
        assert yaml_reader._simple_block_yaml(text) is None, text
        reference = slow(text)
        assert isinstance(reference, yaml_reader.YamlProblem) or not reference.strings_checked


def test_the_fast_reader_keeps_lines_and_types() -> None:
    document = yaml_reader.parse("# c\nx:\n- 1\n- {}\n- [a, 2024-01-02]\ny: 2024-01-02 10:00:00\nz: '1'\n")
    assert document.strings_checked
    assert document.data == {"x": [1, {}, ["a", date(2024, 1, 2)]], "y": datetime(2024, 1, 2, 10), "z": "1"}
    assert document.lines[("x", 2, 1)] == 5
    assert document.lines[("y",)] == 6


def test_the_skip_regex_is_the_control_set_without_line_feed() -> None:
    """A text the fast reader accepts cannot put a control character into any string it builds."""
    every = "".join(chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF)
    assert set(yaml_reader._NOT_SIMPLE_TEXT.findall(every)) == set(CONTROL_CHARACTERS.findall(every)) - {"\n"}


def test_control_characters_are_still_refused_through_either_path(tmp_path: Path) -> None:
    """Escapes and block scalars go through libyaml, whose strings are walked as before."""
    path = tmp_path / "inventory.yaml"
    path.write_text('version: 1\nhosts:\n  h1:\n    description: "a\\x01b"\n', encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_inventory(path)
    assert any(":4: hosts.h1.description: control character" in line for line in caught.value.lines)


def test_one_error_has_the_same_line_through_both_readers(tmp_path: Path) -> None:
    """The same bad inventory, read fast (plain block YAML) and by libyaml (an anchor forces it)."""
    from render import synthetic_inventory  # bench/render.py

    data = synthetic_inventory(6)
    data["load_balancers"]["c0001"]["proxy"]["backends"]["app"]["servers"]["app1"]["port"] = 99999
    data["hosts"]["lb0002a"]["interfaces"]["eth0"]["address"] = "198.18.2.011/24"
    text = yaml.safe_dump(data, sort_keys=False)
    assert yaml_reader._simple_block_yaml(text) is not None
    messages = []
    for suffix in ("", "x-anchor: &a 1\n"):
        path = tmp_path / f"inventory{len(suffix)}.yaml"
        path.write_text(text + suffix, encoding="utf-8")
        with pytest.raises(SpecError) as caught:
            load_inventory(path)
        messages.append([line.replace(str(path), "FILE") for line in caught.value.lines])
    assert messages[0] == messages[1]
    assert len(messages[0]) == 2


@given(st.integers(0, 2**32 - 1), st.one_of(st.none(), st.integers(0, 32)))
def test_fast_ipv4_interface_builds_what_ipaddress_builds(number: int, prefix: int | None) -> None:
    text = str(ip_address(number)) + ("" if prefix is None else f"/{prefix}")
    built = fast_ipv4_interface(text)
    expected = IPv4Interface(text)
    assert type(built) is IPv4Interface
    assert (built, built.network, built.netmask, str(built), hash(built), vars(built)) == (
        expected,
        expected.network,
        expected.netmask,
        str(expected),
        hash(expected),
        vars(expected),
    )
    assert (built.hostmask, built.with_netmask, built.is_private) == (
        expected.hostmask,
        expected.with_netmask,
        expected.is_private,
    )
    assert pickle.loads(pickle.dumps(built)) == expected
    assert parse_ip(str(ip_address(number))) == ip_address(number)


@pytest.mark.parametrize(
    "text", ["01.2.3.4/24", "1.2.3.4/024", "1.2.3.256", "1.2.3.4/33", "::1/64", " 1.2.3.4", "x"]
)
def test_other_addresses_are_left_to_ipaddress(text: str) -> None:
    assert fast_ipv4_interface(text) is text
    try:
        expected: Any = ip_interface(text)
    except ValueError:
        expected = ValueError
    try:
        from hakit.spec.vrrp import _parse_vip

        got: Any = _parse_vip(text)
    except Exception:  # the VIP validator's own error
        got = ValueError
    assert got == expected


def test_load_yaml_still_returns_data_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a:\n  b: [1, 2]\n", encoding="utf-8")
    data, lines = load_yaml(path)
    assert data == {"a": {"b": [1, 2]}}
    assert lines.line(("a", "b", 1)) == 2


def test_document_lines_answer_like_a_dict_of_paths() -> None:
    """Keys equal to a path part match as in a dict of tuples (True is 1)."""
    text = "a:\n  1: x\n  b:\n  - p\n  - q: [r, s]\n    t: u\nc: d\n"
    fast = yaml_reader._simple_block_yaml(text)
    assert fast is not None
    expected = {
        (): 1,
        ("a",): 1,
        ("a", 1): 2,
        ("a", "b"): 3,
        ("a", "b", 0): 4,
        ("a", "b", 1): 5,
        ("a", "b", 1, "q"): 5,
        ("a", "b", 1, "q", 0): 5,
        ("a", "b", 1, "q", 1): 5,
        ("a", "b", 1, "t"): 6,
        ("c",): 7,
    }
    assert dict(fast.lines) == expected
    assert fast.lines[("a", True)] == 2
    assert fast.lines[("a", "b", True)] == 5
    assert ("a", "b", 2) not in fast.lines and ("c", 0) not in fast.lines and ["a"] not in fast.lines


def test_lines_of_a_large_document_are_the_libyaml_lines() -> None:
    """Recorded container sizes (large containers) and counted ones (small) give the same lines."""
    from render import synthetic_inventory  # bench/render.py

    text = yaml.safe_dump(synthetic_inventory(60), sort_keys=False)
    fast, reference = yaml_reader._simple_block_yaml(text), slow(text)
    assert fast is not None and isinstance(reference, yaml_reader.YamlDocument)
    assert fast.lines == reference.lines
    for path in reference.lines:
        assert fast.lines[path] == reference.lines[path]


def test_interfaces_from_parts_only_while_ipaddress_stores_the_same() -> None:
    from hakit.spec import base

    assert base._ipv4_interface is base._interface_from_parts  # this Python's ipaddress matches
    one, other = IPv4Interface("198.18.3.11/24"), IPv4Interface("198.18.3.11/25")
    assert base._same_interface(one, IPv4Interface("198.18.3.11/24"))
    assert not base._same_interface(one, other)
    built = base._interface_from_parts(0xC612030B, 24)
    assert built.network is base._interface_from_parts(0xC612030C, 24).network  # one per segment

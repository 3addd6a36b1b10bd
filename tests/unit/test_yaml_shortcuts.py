"""The YAML reader's shortcuts give what the long way gives, and odd plain scalars never crash the loader.

Both readers resolve plain scalars with the same `_plain`, so a differential test between them cannot see
a wrong shortcut inside it: these tests compare each shortcut with the long way it skips.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hakit.spec import yaml_reader
from hakit.spec.loader import load_yaml
from hypothesis import example, given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02 10:00:00#x", "2024-01-02 10:00:00#x"),  # a date-like start, then no timestamp
        ("2024-01-02T10:00:00junk", "2024-01-02T10:00:00junk"),
        ("2024-01-02 10:00:00", datetime(2024, 1, 2, 10)),
        ("198.18.0.11/24", "198.18.0.11/24"),  # two dots or more: never a number
        ("1.2.3", "1.2.3"),
        ("1.5", 1.5),
        ("2024-01-02.5.6", "2024-01-02.5.6"),  # two dots, but a date-like start: the long way
    ],
)
def test_plain_scalars_through_both_readers(tmp_path: Path, text: str, expected: object) -> None:
    """A timestamp-shaped text that PyYAML's timestamp form rejects stays text instead of raising."""
    source = f"a: {text}\n"
    fast = yaml_reader._simple_block_yaml(source)
    assert fast is not None
    slow = yaml_reader._parse_with_libyaml(source + "b: &x 1\n")  # an anchor: the fast reader declines
    assert yaml_reader._simple_block_yaml(source + "b: &x 1\n") is None
    for data in (fast.data["a"], slow.data["a"]):
        assert type(data) is type(expected) and data == expected
    path = tmp_path / "a.yaml"
    path.write_text(source, encoding="utf-8")
    assert load_yaml(path)[0] == {"a": expected}


def long_way(value: str) -> Any:
    """`_plain` for a text starting like a number, without its shortcut: every number form, then a date."""
    number = yaml_reader._number(value)
    if number is not yaml_reader._INVALID:
        return number
    if yaml_reader._TIMESTAMP.fullmatch(value):
        return yaml_reader._timestamp(value, 1)
    return value


NUMBER_LIKE = st.one_of(
    st.text(st.sampled_from("0123456789.-+_eExob:TZ /"), min_size=1, max_size=20),
    st.from_regex(r"[-+]?[0-9]{1,4}(\.[0-9]{0,3}){0,4}(/[0-9]{1,2})?", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([ Tt.][0-9.:]{0,12})?", fullmatch=True),
)


@given(NUMBER_LIKE.filter(lambda text: text[0] in "0123456789+-."))
def test_the_two_dots_shortcut_changes_no_value(text: str) -> None:
    got, expected = yaml_reader._plain(text, 1), long_way(text)
    assert type(got) is type(expected)
    assert got == expected or (isinstance(got, float) and math.isnan(got) and math.isnan(expected))


SOME_TEXT = st.one_of(
    st.text(st.sampled_from("ab: -#\n\t\r\x00\x01\x1f\x7f\x80\x85\xa0\u2028\ufeff"), max_size=12),
    st.text(st.characters(max_codepoint=0x7F), max_size=30),  # ASCII: the byte scans
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30),
)


@given(SOME_TEXT)
@example("a: b\tc\n")
@example("a: \x7f\n")
@example("a: \x1f\r\n")
def test_the_ascii_byte_scans_find_what_the_regexes_find(text: str) -> None:
    assert yaml_reader._has_control_character(text) is (yaml_reader._NOT_SIMPLE_TEXT.search(text) is not None)
    try:
        decoded: Any = yaml_reader.decode(text.encode("utf-8"))
    except yaml_reader.YamlProblem as problem:
        decoded = (problem.line, problem.message)
    found = yaml_reader._NOT_YAML_CHARACTER.search(text)
    if found is None:
        assert decoded == text
    else:
        assert decoded == (
            text.count("\n", 0, found.start()) + 1,
            f"character {found.group()!r} is not allowed in YAML",
        )

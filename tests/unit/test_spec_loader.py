"""hakit.spec.loader: YAML with line numbers, FILE:LINE errors, generic models with rules."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hakit.errors import SpecError
from hakit.spec.base import DurationMs, Problem, SpecModel, format_duration, parse_duration_ms
from hakit.spec.loader import LineIndex, format_path, load_model, load_yaml, validate_data
from pydantic import Field


class Pool(SpecModel):
    """A tiny model with a cross-field rule, to test the loader generically."""

    low: int = Field(ge=0)
    high: int
    wait: DurationMs = 1000
    tags: list[str] = Field(default_factory=list)

    def rules(self) -> Iterator[Problem]:
        if self.high < self.low:
            yield Problem(("high",), f"must be at least low ({self.low})")


class Config(SpecModel):
    pools: dict[str, Pool]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_model(path, Config)
    assert caught.value.exit_code == 2
    return caught.value.lines


def test_valid_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a: {low: 1, high: 2, wait: 250ms}\n")
    config = load_model(path, Config)
    assert config.pools["a"].wait == 250


def test_schema_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pools:\n  a:\n    low: -1\n    high: 2\n  b:\n    low: 1\n    high: x\n    colour: red\n",
    )
    assert errors_of(path) == [
        f"{path}:3: pools.a.low: Input should be greater than or equal to 0",
        f"{path}:7: pools.b.high: Input should be a valid integer, unable to parse string as an integer",
        f"{path}:8: pools.b.colour: unknown field",
    ]


def test_rule_errors_point_at_the_field_and_come_with_schema_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a:\n    low: 5\n    high: 2\n  b:\n    low: nope\n    high: 1\n")
    assert errors_of(path) == [
        f"{path}:4: pools.a.high: must be at least low (5)",
        f"{path}:6: pools.b.low: Input should be a valid integer, unable to parse string as an integer",
    ]


def test_missing_field_points_at_its_parent(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a:\n    low: 1\n")
    assert errors_of(path) == [f"{path}:2: pools.a.high: required field is missing"]


def test_list_items_get_their_own_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a:\n    low: 1\n    high: 2\n    tags:\n      - ok\n      - 3\n")
    assert errors_of(path) == [f"{path}:7: pools.a.tags[1]: Input should be a valid string"]


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a: {low: 1\n  b: 2\n")
    lines = errors_of(path)
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:3: (yaml): ")


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a: {low: 1, high: 2}\n  a: {low: 1, high: 3}\n")
    lines = errors_of(path)
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:3: (yaml): ")
    assert "duplicate" in lines[0]


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_model(tmp_path / "nope.yaml", Config)
    assert caught.value.lines == [f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"]


def test_empty_file_reports_missing_sections(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert errors_of(path) == [f"{path}:1: pools: required field is missing"]


def test_validate_data_works_on_a_sub_document(tmp_path: Path) -> None:
    """How stack configs are checked: the `config:` mapping of a Pulumi stack file."""
    path = write(tmp_path, "config:\n  pools:\n    a:\n      low: 3\n      high: 1\n")
    data, lines = load_yaml(path)
    with pytest.raises(SpecError) as caught:
        validate_data(Config, data["config"], source=str(path), lines=lines.prefixed(("config",)))
    assert caught.value.lines == [f"{path}:5: pools.a.high: must be at least low (3)"]


def test_validate_data_without_lines_uses_line_1() -> None:
    with pytest.raises(SpecError) as caught:
        validate_data(Config, {"pools": {"a": {"low": 1}}}, source="<memory>", lines=None)
    assert caught.value.lines == ["<memory>:1: pools.a.high: required field is missing"]


def test_line_index_falls_back_to_the_nearest_ancestor() -> None:
    index = LineIndex({(): 1, ("a",): 3, ("a", "b"): 4})
    assert index.line(("a", "b", "c", 0)) == 4
    assert index.line(("z",)) == 1


@pytest.mark.parametrize(
    ("path", "text"), [(("a", "b", 0, "c"), "a.b[0].c"), ((), "(top)"), (("x", 3), "x[3]")]
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize(
    ("given", "millis"),
    [("250ms", 250), ("5s", 5000), ("1.5s", 1500), ("2m", 120_000), ("1h", 3_600_000), (7, 7)],
)
def test_durations(given: object, millis: int) -> None:
    assert parse_duration_ms(given) == millis


@pytest.mark.parametrize(
    ("millis", "text"), [(5000, "5s"), (250, "250ms"), (120_000, "2m"), (1500, "1500ms")]
)
def test_format_duration(millis: int, text: str) -> None:
    assert format_duration(millis) == text


def test_bad_duration_is_a_field_error(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a: {low: 1, high: 2, wait: soon}\n")
    assert errors_of(path) == [f"{path}:2: pools.a.wait: not a duration like 250ms, 5s, 1m, 2h: 'soon'"]


def test_unknown_field_suggests_the_closest_name(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a:\n    low: 1\n    high: 2\n    tagz: [x]\n")
    assert errors_of(path) == [f"{path}:5: pools.a.tagz: unknown field (did you mean 'tags'?)"]


def test_a_crafted_key_cannot_forge_error_lines(tmp_path: Path) -> None:
    """Keys are printed escaped like values: a line break in a key stays inside its one error line."""
    path = write(tmp_path, 'pools:\n  "a\\nconfig.yaml:1: pools: all good\\r": {low: 1, high: 2}\n')
    lines = errors_of(path)
    key = "a\\nconfig.yaml:1: pools: all good\\r"
    assert lines == [f"{path}:2: pools.{key}: control character '\\n' is not allowed in a key"]
    assert all("\n" not in line and "\r" not in line for line in lines)


def test_a_value_with_a_control_character_is_refused_wherever_it_is(tmp_path: Path) -> None:
    """The rule lives in SpecModel: a plain `list[str]` field without any constraint refuses it too."""
    path = write(tmp_path, 'pools:\n  a:\n    low: 1\n    high: 2\n    tags: [ok, "x\\u2028y", "\\x85"]\n')
    assert errors_of(path) == [
        f"{path}:5: pools.a.tags[1]: control character '\\u2028' is not allowed",
        f"{path}:5: pools.a.tags[2]: control character '\\x85' is not allowed",
    ]


# ------------------------------------------------------------ hostile files: one line, bounded cost


def one_error(path: Path) -> str:
    lines = errors_of(path)
    assert len(lines) == 1, lines
    assert "\n" not in lines[0]
    return lines[0]


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    """Nine levels of ten aliases would make 10^9 values: refused at the alias budget, never expanded."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for depth in range(1, 10):
        name, previous = chr(ord("a") + depth), chr(ord("a") + depth - 1)
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    path = write(tmp_path, "\n".join(levels) + "\npools: {}\n")
    started = time.perf_counter()
    line = one_error(path)
    assert time.perf_counter() - started < 1
    assert line.startswith(f"{path}:") and "aliases expand to more than 100,000 values" in line


def test_deep_nesting_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pools: " + "[" * 50_000)
    started = time.perf_counter()
    line = one_error(path)
    assert time.perf_counter() - started < 1
    assert line.startswith(f"{path}:1: (yaml): ") and "nest" in line


def test_nesting_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "pools: " + "[" * 150 + "]" * 150 + "\n")
    assert one_error(path) == f"{path}:1: (yaml): nested deeper than 100 levels"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("- a\n- b\n", "a list"),
        ("just text\n", "the single value 'just text'"),
        ("42\n", "the single value 42"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    path = write(tmp_path, text)
    assert one_error(path) == f"{path}:1: (top): the file must be a mapping of sections, not {found}"


def test_nul_byte_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a:\n    low: 1\n    high: \x002\n")
    assert one_error(path) == f"{path}:4: (yaml): character '\\x00' is not allowed in YAML"


def test_non_utf8_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"pools:\n  a:\n    low: 1\n    high: \xff\n")
    assert one_error(path) == f"{path}:4: (yaml): not UTF-8 text (byte 0xff)"


def test_a_directory_is_one_line(tmp_path: Path) -> None:
    assert one_error(tmp_path) == f"{tmp_path}: cannot read: Is a directory"


def test_file_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hakit.spec import yaml_reader

    monkeypatch.setattr(yaml_reader, "MAX_FILE_BYTES", 1024 * 1024)
    path = write(tmp_path, "pools: {}\n" + "#" * (1024 * 1024) + "\n")
    assert one_error(path) == f"{path}: (yaml): file of 1,048,587 bytes or more is over the 1 MiB limit"


def test_a_second_document_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "pools: {}\n---\npools: {}\n")
    assert one_error(path) == f"{path}:2: (yaml): only one YAML document per file (found a second '---')"


def test_nested_duplicate_keys_and_unknown_tags(tmp_path: Path) -> None:
    path = write(tmp_path, "pools:\n  a:\n    low: 1\n    low: 2\n")
    assert one_error(path) == f"{path}:4: (yaml): found duplicate key 'low'"
    path = write(tmp_path, "pools: !!python/object:os.system {}\n")
    assert one_error(path) == f"{path}:1: (yaml): unsupported tag tag:yaml.org,2002:python/object:os.system"


def test_merge_keys_and_yaml_12_scalars(tmp_path: Path) -> None:
    """`<<` merges (explicit keys win); yes/no/on/off stay strings as with YAML 1.2 (the ruamel default)."""
    path = write(
        tmp_path,
        "x-base: &base {low: 1, high: 5, tags: [yes, no, on, off, NO]}\n"
        "pools:\n  a:\n    <<: *base\n    high: 7\n",
    )
    data, lines = load_yaml(path)
    assert data["pools"]["a"] == {"low": 1, "high": 7, "tags": ["yes", "no", "on", "off", "NO"]}
    assert lines.line(("pools", "a", "high")) == 5
    assert lines.line(("pools", "a", "low")) == 4  # merged: the line of `<<`


def test_stack_file_keys_keep_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "config:\n  aws:region: us-east-1\n  hakit:env: prod\n")
    data, lines = load_yaml(path)
    assert data == {"config": {"aws:region": "us-east-1", "hakit:env": "prod"}}
    assert lines.prefixed(("config",)).line(("hakit:env",)) == 3

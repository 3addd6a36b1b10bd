"""Read a YAML file into plain Python data and the line of every key and list item, with bounded cost.

libyaml (PyYAML's C parser) produces the events; one Python pass builds dicts, lists and scalars from
them, so nothing is composed twice and no recursion is involved. Hostile input is bounded: file size,
nesting depth, and the number of values produced through aliases (a "billion laughs" file is refused
after `MAX_ALIAS_VALUES`, not expanded). Every problem is a `YamlProblem(line, message)`.

Scalars follow YAML 1.2's core schema, like the ruamel round-trip loader used before: only
`true`/`false` (any common capitalisation) are booleans, so `yes`, `no`, `on`, `off` stay strings
(Norway's country code `NO` is not `False`); `~`/`null`/empty are null; `0x`, `0o`, `0b` and `_`
digit separators are integers; dates and timestamps become `date`/`datetime`. Duplicate keys are
errors; merge keys (`<<: *anchor`, `<<: [*a, *b]`) are supported: explicit keys win, then earlier
merged mappings.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable
from typing import Any, NamedTuple

import yaml

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Larger files are refused before parsing (an inventory of 10,000 hosts is a few MB)."""

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists (the inventory needs about 10)."""

MAX_ALIAS_VALUES = 100_000
"""Values produced by alias expansion across a file (each `*alias` counts its anchor's whole subtree)."""

PathKey = tuple[str | int, ...]


class YamlProblem(Exception):
    """A file that is not acceptable YAML: the 1-based line (or None) and a one-line message."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class YamlDocument(NamedTuple):
    """The plain data of a file and the line of each path in it."""

    data: Any
    lines: dict[PathKey, int]


_NOT_YAML_CHARACTER = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters YAML 1.2 does not allow in a stream (NUL, other C0/C1 controls, DEL, surrogates)."""

STR = "tag:yaml.org,2002:str"
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_INT = re.compile(r"[-+]?(?:[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+)")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?")
_INF_NAN = re.compile(r"([-+]?)\.(?:(inf|Inf|INF)|(nan|NaN|NAN))")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}.*)?")
_MERGE = "<<"


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, at most `MAX_FILE_BYTES` (OSError for unreadable paths, YamlProblem when too big)."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory")
        if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
            raise YamlProblem(None, _too_big(info.st_size))
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise YamlProblem(None, _too_big(len(data)))
    return data


def _too_big(size: int) -> str:
    return f"file of {size:,} bytes or more is over the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit"


def decode(data: bytes) -> str:
    """UTF-8 text of a YAML file; a bad byte or a character YAML forbids is reported at its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise YamlProblem(line, f"not UTF-8 text (byte 0x{data[err.start]:02x})") from None
    found = _NOT_YAML_CHARACTER.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        raise YamlProblem(line, f"character {found.group()!r} is not allowed in YAML")
    return text


def parse(text: str) -> YamlDocument:
    """Build plain data (dict/list/scalars) and the line of every key and item from YAML text."""
    parser = yaml.CSafeLoader(text)
    try:
        return _Builder(parser).document()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        raise YamlProblem(mark.line + 1 if mark is not None else None, problem) from None
    except yaml.YAMLError as err:
        raise YamlProblem(None, " ".join(str(err).split())) from None
    finally:
        parser.dispose()


class _Frame:
    """An open mapping or list while its events arrive."""

    __slots__ = ("anchor", "container", "explicit", "is_map", "key", "merge_line", "merges", "path", "size")

    def __init__(self, container: Any, path: PathKey, anchor: str | None) -> None:
        self.container = container
        self.is_map = isinstance(container, dict)
        self.path = path
        self.anchor = anchor
        self.size = 1
        self.key: Any = _NO_KEY
        self.explicit: set[Any] = set()
        self.merges: list[tuple[Any, int]] = []
        self.merge_line = 1


_NO_KEY = object()


class _Builder:
    def __init__(self, parser: Any) -> None:
        self._next: Callable[[], Any] = parser.get_event
        self._anchors: dict[str, tuple[Any, int]] = {}
        self._expanded = 0
        self._lines: dict[PathKey, int] = {(): 1}

    def document(self) -> YamlDocument:
        self._next()  # StreamStart
        event = self._next()
        if isinstance(event, yaml.StreamEndEvent):
            return YamlDocument(None, self._lines)
        data = self._value()
        self._next()  # DocumentEnd
        event = self._next()
        if not isinstance(event, yaml.StreamEndEvent):
            raise YamlProblem(
                event.start_mark.line + 1, "only one YAML document per file (found a second '---')"
            )
        return YamlDocument(data, self._lines)

    def _value(self) -> Any:
        """Consume the events of the document's one value and return it."""
        stack: list[_Frame] = []
        while True:
            event = self._next()
            kind = type(event)
            line = event.start_mark.line + 1
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = stack.pop()
                if frame.merges:
                    self._merge(frame)
                value, size = frame.container, frame.size
                if frame.anchor is not None:
                    self._anchors[frame.anchor] = (value, size)
            else:
                top = stack[-1] if stack else None
                if top is not None and top.is_map and top.key is _NO_KEY:
                    self._take_key(top, event, kind, line)
                    continue
                path = self._child_path(top, line)
                if kind is yaml.ScalarEvent:
                    value, size = _scalar(event, line), 1
                    if event.anchor is not None:
                        self._anchors[event.anchor] = (value, 1)
                elif kind is yaml.AliasEvent:
                    value, size = self._alias(event.anchor, line)
                else:
                    if len(stack) >= MAX_DEPTH:
                        raise YamlProblem(line, f"nested deeper than {MAX_DEPTH} levels")
                    _check_collection_tag(event, kind, line)
                    container: Any = {} if kind is yaml.MappingStartEvent else []
                    stack.append(_Frame(container, path, event.anchor))
                    continue
            if not stack:
                return value
            self._attach(stack[-1], value, size)

    def _child_path(self, top: _Frame | None, line: int) -> PathKey:
        if top is None:
            return ()
        if top.is_map:
            return (*top.path, _MERGE if top.key is _MERGE_KEY else top.key)
        path = (*top.path, len(top.container))
        self._lines[path] = line
        return path

    def _take_key(self, frame: _Frame, event: Any, kind: type, line: int) -> None:
        if kind is not yaml.ScalarEvent:
            if kind is yaml.AliasEvent:
                raise YamlProblem(line, "an alias cannot be a mapping key")
            raise YamlProblem(line, "a mapping key must be a single value, not a mapping or list")
        key = _scalar(event, line)
        if isinstance(key, float) and math.isnan(key):
            raise YamlProblem(line, "a mapping key cannot be .nan")
        if key == _MERGE and event.style == "" and event.tag is None:
            frame.key = _MERGE_KEY
            frame.merge_line = line
            return
        try:
            hash(key)
        except TypeError:
            raise YamlProblem(line, "a mapping key must be a single value") from None
        if key in frame.explicit:
            raise YamlProblem(line, f"found duplicate key {_shown(key)}")
        frame.explicit.add(key)
        frame.key = key
        self._lines[(*frame.path, key)] = line

    def _attach(self, frame: _Frame, value: Any, size: int) -> None:
        frame.size += size
        if not frame.is_map:
            frame.container.append(value)
            return
        key, frame.key = frame.key, _NO_KEY
        if key is _MERGE_KEY:
            frame.merges.append((value, frame.merge_line))
        else:
            frame.container[key] = value

    def _merge(self, frame: _Frame) -> None:
        """Apply `<<` merges: explicit keys win, then the first merged mapping that has the key."""
        for value, line in frame.merges:
            sources = value if isinstance(value, list) else [value]
            for source in sources:
                if not isinstance(source, dict):
                    raise YamlProblem(line, "a merge key '<<' takes a mapping or a list of mappings")
                for key, item in source.items():
                    if key not in frame.container:
                        frame.container[key] = item
                        self._lines.setdefault((*frame.path, key), line)

    def _alias(self, anchor: str, line: int) -> tuple[Any, int]:
        found = self._anchors.get(anchor)
        if found is None:
            raise YamlProblem(line, f"unknown alias *{anchor}")
        value, size = found
        self._expanded += size
        if self._expanded > MAX_ALIAS_VALUES:
            raise YamlProblem(
                line,
                f"aliases expand to more than {MAX_ALIAS_VALUES:,} values (a 'billion laughs' document?)",
            )
        return value, size


_MERGE_KEY = object()


def _shown(key: Any) -> str:
    return repr(key) if isinstance(key, str) else str(key)


def _check_collection_tag(event: Any, kind: type, line: int) -> None:
    tag = event.tag
    if tag is None or tag == "!":
        return
    expected = "tag:yaml.org,2002:map" if kind is yaml.MappingStartEvent else "tag:yaml.org,2002:seq"
    if tag != expected:
        raise YamlProblem(line, f"unsupported tag {tag}")


def _scalar(event: Any, line: int) -> Any:
    """The Python value of a scalar: YAML 1.2 core schema for plain scalars, strings when quoted."""
    value: str = event.value
    tag = event.tag
    if tag is None:
        if event.style != "":  # quoted or block scalars are strings
            return value
        return _plain(value, line)
    if tag == STR or tag == "!":
        return value
    resolver = _EXPLICIT.get(tag)
    if resolver is None:
        raise YamlProblem(line, f"unsupported tag {tag}")
    result = resolver(value)
    if result is _INVALID:
        raise YamlProblem(line, f"{value!r} is not a valid {tag.rsplit(':', 1)[-1]}")
    return result


_INVALID = object()


def _plain(value: str, line: int) -> Any:
    first = value[:1]
    if value in _NULLS:
        return None
    if first in "tTfF" and value in _BOOLS:
        return _BOOLS[value]
    if first in "0123456789+-.":
        number = _number(value)
        if number is not _INVALID:
            return number
        if _TIMESTAMP.fullmatch(value):
            return _timestamp(value, line)
    return value


def _number(value: str) -> Any:
    if _INT.fullmatch(value):
        text = value.replace("_", "")
        sign = -1 if text[0] == "-" else 1
        digits = text.lstrip("+-")
        base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2], 10)
        if base != 10:
            digits = digits[2:]
        return sign * int(digits, base) if digits else _INVALID
    if _FLOAT.fullmatch(value) and any(char.isdigit() for char in value):
        return float(value.replace("_", ""))
    special = _INF_NAN.fullmatch(value)
    if special:
        if special.group(3):
            return math.nan
        return -math.inf if special.group(1) == "-" else math.inf
    return _INVALID


def _timestamp(value: str, line: int) -> Any:
    node = yaml.ScalarNode("tag:yaml.org,2002:timestamp", value)
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(_TIMESTAMPS, node)
    except (ValueError, TypeError):
        return value  # not a real date (2026-13-45): keep the text, as a string field would


_TIMESTAMPS = yaml.SafeLoader("")


def _explicit_int(value: str) -> Any:
    return _number(value) if _INT.fullmatch(value) else _INVALID


def _explicit_float(value: str) -> Any:
    number = _number(value)
    return float(number) if isinstance(number, int | float) else _INVALID


_EXPLICIT: dict[str, Callable[[str], Any]] = {
    "tag:yaml.org,2002:int": _explicit_int,
    "tag:yaml.org,2002:float": _explicit_float,
    "tag:yaml.org,2002:bool": lambda value: _BOOLS.get(value, _INVALID),
    "tag:yaml.org,2002:null": lambda value: None if value in _NULLS else _INVALID,
}

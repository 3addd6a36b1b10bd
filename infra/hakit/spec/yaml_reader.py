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

import marshal
import math
import os
import re
import stat
from array import array
from collections.abc import Callable, ItemsView, Iterator, Mapping
from itertools import chain
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
    """The plain data of a file, the line of each path in it, and whether its strings are known clean."""

    data: Any
    lines: Mapping[PathKey, int]
    strings_checked: bool = False
    """True when no string in `data` (keys included) holds a character of `base.CONTROL_CHARACTERS`."""


_NOT_YAML_CHARACTER = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters YAML 1.2 does not allow in a stream (NUL, other C0/C1 controls, DEL, surrogates)."""
_YAML_ASCII = b"\t\n\r" + bytes(range(0x20, 0x7F))
"""The ASCII characters YAML allows: an ASCII text holds no other character of `_NOT_YAML_CHARACTER`."""

STR = "tag:yaml.org,2002:str"
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_INT = re.compile(r"[-+]?(?:[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+)")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?")
_INF_NAN = re.compile(r"([-+]?)\.(?:(inf|Inf|INF)|(nan|NaN|NAN))")
_TIMESTAMP = yaml.SafeLoader.timestamp_regexp
"""PyYAML's own timestamp form (use with `fullmatch`): only a text it takes goes to its constructor."""
_MERGE = "<<"


def read_bytes(path: str | os.PathLike[str] | int) -> bytes:
    """The file's bytes, at most `MAX_FILE_BYTES` (OSError for unreadable paths, YamlProblem when too big).

    `path` may be an open file descriptor, which is closed after.
    """
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
    if text.isascii() and not data.translate(None, _YAML_ASCII):
        return text  # the common case, found by a byte scan five times the regex's speed
    found = _NOT_YAML_CHARACTER.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        raise YamlProblem(line, f"character {found.group()!r} is not allowed in YAML")
    return text


def read_document(source: str | os.PathLike[str] | int) -> YamlDocument:
    """Read, decode and parse a YAML file (a path or an open descriptor): OSError or YamlProblem."""
    return parse(decode(read_bytes(source)))


def parse(text: str) -> YamlDocument:
    """Build plain data (dict/list/scalars) and the line of every key and item from YAML text."""
    fast = _simple_block_yaml(text)
    return fast if fast is not None else _parse_with_libyaml(text)


def _parse_with_libyaml(text: str) -> YamlDocument:
    """Any YAML: libyaml's events, one Python pass; every error with its line."""
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
        if value.count(".") > 1 and value[4:5] != "-":
            # An IPv4 address or a version: no number form has two dots, only a date (`YYYY-`) may.
            return value
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


# ---------------------------------------------------------------- the fast path for plain block YAML

_NOT_SIMPLE_TEXT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
"""Every control character of `hakit.spec.base.CONTROL_CHARACTERS` except the line feed.

A text without them holds no tab, carriage return or other YAML line break (NEL, U+2028, U+2029), and
its one-line scalars hold no control character at all (`YamlDocument.strings_checked`).
"""

_PRINTABLE_ASCII = b"\n" + bytes(range(0x20, 0x7F))
"""The ASCII characters outside `_NOT_SIMPLE_TEXT`."""


def _has_control_character(text: str) -> bool:
    """True when `text` holds a character of `_NOT_SIMPLE_TEXT` (a quick byte scan for ASCII text)."""
    if text.isascii():  # a flag of the string, no scan: then only the ASCII controls can be there
        return bool(text.encode("ascii").translate(None, _PRINTABLE_ASCII))  # five times the regex's speed
    return _NOT_SIMPLE_TEXT.search(text) is not None


_SIMPLE_KEY = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`][^\s,\[\]{}]{0,1000}")
"""A plain key without spaces or flow characters (a longer or fancier key takes the full parser)."""

_FLOW_ITEM = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./:-]*")
"""An item of a one-line flow list the fast path reads: names, numbers, IPv4/IPv6 addresses with prefix."""

_NOT_PLAIN_START = frozenset("-?:,[]{}#&*!|>'\"%@`")
_FAST_MAX_DEPTH = 50
_GIVE_UP = object()
_NO_PENDING_KEY = object()
_BELOW = object()
_SEEN_LINES = 100_000
"""Distinct lines the fast reader remembers (about 10 MB; a 5 MB inventory of 10,000 hosts has 64,000)."""


def _simple_block_yaml(text: str) -> YamlDocument | None:
    """Data and lines of a document in the plain block style most inventories use, or None for any other.

    Top-level mapping; block mappings and lists, indentless lists included; one-line plain, single-quoted
    and escape-free double-quoted scalars; `[]`, `{}` and one-line lists of simple plain items; comments.
    Anything else (anchors, aliases, merges, tags, block scalars, multi-line scalars, flow mappings,
    tabs, duplicate keys, deep nesting, errors) returns None and the libyaml path reads the file, so
    every value, line and error is the one that path gives. Scalars resolve with the same `_plain`.
    About five times faster than the event walk on a large inventory.
    """
    if _has_control_character(text) or text.startswith("...") or "\n..." in text:
        return None  # `...` ends a document (or starts a key): the full parser reads it
    root: dict[Any, Any] = {}
    numbers = array("I")  # the line of each key and item, in document order (see `DocumentLines`)
    record = numbers.append
    sizes: dict[int, int] = {}  # start -> entries inside each large container, so a lookup can skip it
    # The innermost open container is kept in five variables rather than a tuple read on every line;
    # the enclosing ones are saved on `stack`: (its column, the container, is it a mapping, is it an
    # indentless list under a key at its column, the position of its first entry in `numbers`).
    stack: list[tuple[int, Any, bool, bool, int]] = []
    container: Any = root
    column, is_map, indentless, start = 0, True, False, 0
    pending: Any = _NO_PENDING_KEY  # a key of `container` whose value is on later lines
    started = False
    # Lines repeat across hosts (`    port: 8080`, `    interfaces:`): each distinct line is read once
    # (its column, key and value are remembered), and so is each distinct key text.
    seen: dict[str, tuple[int, Any, Any]] = {}
    keys: dict[str, Any] = {}
    for number, line in enumerate(text.split("\n"), 1):
        known = seen.get(line)
        if known is not None:
            indent, key, value = known
            is_item = False
        else:
            content = line.lstrip(" ")
            if not content or content[0] == "#":
                continue
            indent = len(line) - len(content)
            is_item = content[0] == "-" and (len(content) == 1 or content[1] == " ")
        if pending is not _NO_PENDING_KEY:
            if indent > column or (indent == column and is_item):
                child: Any = [] if is_item else {}
                container[pending] = child
                stack.append((column, container, is_map, indentless, start))
                if len(stack) >= _FAST_MAX_DEPTH:
                    return None
                indentless = indent == column
                column, container, is_map, start = indent, child, not is_item, len(numbers)
            else:
                container[pending] = None
            pending = _NO_PENDING_KEY
        if indent != column or indentless:  # the line may close containers
            while indent < column or (indent == column and indentless and not is_item):
                size = len(numbers) - start
                if size >= _REMEMBERED_SIZE:
                    sizes[start] = size
                column, container, is_map, indentless, start = stack.pop()
            if indent != column:
                return None  # a continuation line: the full parser decides
        if is_map is is_item:
            return None  # an item in a mapping or a key in a list: the full parser decides
        if known is not None:
            record(number)
        elif is_item:
            entry = content[1:].lstrip(" ")
            if not entry or entry[0] == "#":
                return None  # an item on the next lines, or an empty one
            record(number)
            if entry[0] in "'\"" or (": " not in entry and entry[-1] != ":"):
                value = _simple_value(entry, number, record)
                if value is _GIVE_UP:
                    return None
                container.append(value)
                continue
            mapping: dict[Any, Any] = {}  # `- key: ...` opens a mapping at the key's column
            container.append(mapping)
            stack.append((column, container, is_map, indentless, start))
            if len(stack) >= _FAST_MAX_DEPTH:
                return None
            column = indent + len(content) - len(entry)
            container, is_map, indentless, start = mapping, True, False, len(numbers)
            read = _read_entry(entry, number, record, keys)
            if read is None:
                return None
            key, value = read
        else:
            read = _read_entry(content, number, record, keys)
            if read is None:
                if indent or content.rstrip(" ") != "---" or started or numbers:
                    return None  # not a simple entry, or a document start after the first line
                started = True
                continue
            key, value = read
            # Only immutable values may be shared (a list or dict never is), and only so many lines are
            # remembered: repeats show up early, and a file of distinct lines must not double its memory.
            if not isinstance(value, list | dict) and len(seen) < _SEEN_LINES:
                seen[line] = (indent, key, value)
        if key in container:
            return None  # a duplicate: the full parser reports it
        if value is _BELOW:
            pending = key
        else:
            container[key] = value
    if pending is not _NO_PENDING_KEY:
        container[pending] = None
    if not root:
        return None  # only comments and blank lines: the full parser's answer is the reference
    return YamlDocument(root, DocumentLines(root, numbers, sizes), strings_checked=True)


def _read_entry(
    entry: str, number: int, record: Callable[[int], None], keys: dict[str, Any]
) -> tuple[Any, Any] | None:
    """Key and value of a `key: value` or `key:` entry (`_BELOW`: the value is on the next lines), or None.

    Records the line of the key, then of any flow list item, in document order.
    """
    key_text, colon, rest = entry.partition(": ")  # the key ends at the first ': ' ...
    if not colon:
        if entry[-1] != ":":
            return None
        key_text = entry[:-1]  # ... or at a final ':'
    key = keys.get(key_text, _GIVE_UP)
    if key is _GIVE_UP:
        if _SIMPLE_KEY.fullmatch(key_text) is None or key_text[-1] == ":" or key_text == _MERGE:
            return None
        key = _plain(key_text, number)
        if key != key:  # .nan: the full parser says why it cannot be a key
            return None
        keys[key_text] = key
    record(number)
    rest = rest.lstrip(" ")
    if not rest or rest[0] == "#":
        return key, _BELOW
    value = _simple_value(rest, number, record)
    return None if value is _GIVE_UP else (key, value)


def _simple_value(text: str, number: int, record: Callable[[int], None]) -> Any:
    """The value of a one-line scalar or flow list (`text` has no leading space), or `_GIVE_UP`."""
    first = text[0]
    if first == "'" or first == '"':
        if first == "'":
            end = 1
            while True:
                end = text.find("'", end)
                if end < 0:
                    return _GIVE_UP  # continues on the next line
                if text[end + 1 : end + 2] != "'":
                    break
                end += 2
            value: Any = text[1:end].replace("''", "'")
        else:
            end = text.find('"', 1)
            if end < 0 or "\\" in text[:end]:
                return _GIVE_UP  # escapes or more lines: the full parser reads them
            value = text[1:end]
        return value if _only_comment(text[end + 1 :]) else _GIVE_UP
    if first == "[" or first == "{":
        end = text.find("]" if first == "[" else "}")
        if end < 0 or not _only_comment(text[end + 1 :]):
            return _GIVE_UP
        inner = text[1:end].strip(" ")
        if not inner:
            return [] if first == "[" else {}
        if first == "{":
            return _GIVE_UP
        items: list[Any] = []
        for item in inner.split(","):
            item = item.strip(" ")
            if _FLOW_ITEM.fullmatch(item) is None or item[-1] == ":":
                return _GIVE_UP
            record(number)
            items.append(_plain(item, number))
        return items
    if first in _NOT_PLAIN_START and (len(text) == 1 or text[1] == " " or first not in "-?:"):
        return _GIVE_UP
    comment = text.find(" #")
    if comment >= 0:
        text = text[:comment]
    text = text.rstrip(" ")
    if ": " in text or text[-1] == ":":
        return _GIVE_UP
    return text if text[0] not in _MAYBE_NOT_STR else _plain(text, number)


_REMEMBERED_SIZE = 16
"""Containers with this many entries or more get their size recorded while reading (smaller: counted)."""

_MAYBE_NOT_STR = frozenset("0123456789+-.~nNtTfF")
"""First characters of the plain scalars `_plain` may turn into something other than the text itself."""


def _only_comment(tail: str) -> bool:
    """True when what follows a closed scalar on its line is nothing, spaces, or a spaced comment."""
    return not tail or (tail[0] == " " and tail.lstrip(" ")[:1] in ("", "#"))


def document_bytes(document: YamlDocument) -> bytes:
    """`document` as bytes for another process of the same Python (ValueError: a date, say)."""
    lines = document.lines
    if isinstance(lines, DocumentLines):
        parts: tuple[Any, ...] = ("numbers", document.data, lines._numbers.tobytes(), lines._sizes)
    else:
        parts = ("paths", document.data, dict(lines))
    return marshal.dumps((*parts, document.strings_checked))


def document_from_bytes(blob: bytes) -> YamlDocument:
    """The document `document_bytes` wrote (ValueError, EOFError or TypeError for other bytes)."""
    kind, data, *lines, strings_checked = marshal.loads(blob)
    if kind == "numbers":
        numbers = array("I")
        numbers.frombytes(lines[0])
        return YamlDocument(data, DocumentLines(data, numbers, lines[1]), strings_checked)
    if kind == "paths":
        return YamlDocument(data, lines[0], strings_checked)
    raise ValueError(f"not a document: {kind!r}")


class DocumentLines(Mapping[PathKey, int]):
    """The line of every path of a fast-read document, kept as one number per key and item.

    The numbers are in document order, which is the order of the data (the fast reader declines
    merges, aliases and duplicate keys), so a path's line is found by counting the entries before it.
    About 4 bytes per entry instead of a tuple and a dict slot; lookups happen only for error lines.
    The data must not change while the lines are used (nothing changes the loader's data).
    """

    def __init__(self, data: Any, numbers: array[int], sizes: dict[int, int] | None = None) -> None:
        self._data = data
        self._numbers = numbers
        self._sizes: dict[int, int] = sizes if sizes is not None else {}

    def __getitem__(self, path: PathKey) -> int:
        if not isinstance(path, tuple):
            raise KeyError(path)
        node, offset, line = self._data, 0, 1  # `offset`: the position of `node`'s first entry
        for part in path:
            if isinstance(node, dict):
                if part not in node:
                    raise KeyError(path)
                for key, value in node.items():
                    offset += 1  # past the key's own entry: the value's entries start here
                    if key == part:
                        line, node = self._numbers[offset - 1], value
                        break
                    offset += self._size(value, offset)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                for value in node[:part]:
                    offset += 1 + self._size(value, offset + 1)
                line, node = self._numbers[offset], node[part]
                offset += 1
            else:
                raise KeyError(path)
        return line

    def _size(self, node: Any, start: int) -> int:
        """How many keys and items `node`, whose entries start at `start`, holds at every depth.

        Remembered by start position, which only one non-empty container has (the reader records the
        large ones); a position, unlike an object's id, means the same in another process.
        """
        if not isinstance(node, dict | list) or not node:
            return 0
        size = self._sizes.get(start)
        if size is None:
            end = start
            for value in node.values() if isinstance(node, dict) else node:
                end += 1
                end += self._size(value, end)
            size = self._sizes[start] = end - start
        return size

    def __iter__(self) -> Iterator[PathKey]:
        stack: list[tuple[Any, PathKey]] = [(self._data, ())]
        while stack:  # document order: a path, then the paths inside its value
            node, path = stack.pop()
            yield path
            if isinstance(node, dict):
                stack.extend(((value, (*path, key)) for key, value in reversed(node.items())))
            elif isinstance(node, list):
                stack.extend((node[i], (*path, i)) for i in range(len(node) - 1, -1, -1))

    def __len__(self) -> int:
        return 1 + self._size(self._data, 0)

    def items(self) -> ItemsView[PathKey, int]:
        """Every path with its line in one pass (each lookup on its own would walk the siblings)."""
        return _DocumentItems(self)


class _DocumentItems(ItemsView[PathKey, int]):
    _mapping: DocumentLines

    def __iter__(self) -> Iterator[tuple[PathKey, int]]:
        # `__iter__` yields the root, then every path in document order: the order of `numbers`.
        return zip(self._mapping, chain((1,), self._mapping._numbers), strict=True)

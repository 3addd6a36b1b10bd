"""Load YAML with line numbers and validate it into pydantic models with `FILE:LINE: path: problem` errors.

Generic on purpose: the inventory and the Pulumi stack configs (`Pulumi.<env>.yaml`, under `config:`)
both go through `validate_data`.
"""

from __future__ import annotations

import difflib
import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from hakit.errors import SpecError
from hakit.spec.base import strings_already_checked
from hakit.spec.yaml_reader import DocumentLines, YamlDocument, YamlProblem, read_document

ModelT = TypeVar("ModelT", bound=BaseModel)
PathKey = tuple[str | int, ...]


class LineIndex:
    """Maps a field path (tuple of keys / list indices) to the 1-based line where it appears in the file."""

    def __init__(self, lines: Mapping[PathKey, int] | None = None) -> None:
        # A reader's `DocumentLines` is kept as it is: a copy would spell out every path of the file.
        self._lines: Mapping[PathKey, int] = lines if isinstance(lines, DocumentLines) else dict(lines or {})

    def line(self, path: PathKey) -> int | None:
        """Line of `path`, or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            found = self._lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def prefixed(self, prefix: PathKey) -> LineIndex:
        """The index of a sub-document (e.g. the `config:` mapping of a Pulumi stack file)."""
        size = len(prefix)
        return LineIndex({k[size:]: v for k, v in self._lines.items() if k[:size] == prefix})


def load_yaml(path: str | Path) -> tuple[Any, LineIndex]:
    """Parse a YAML file keeping line numbers; any problem with the file is one `SpecError` line (exit 2).

    Bounded: file size, nesting depth and alias expansion (see `hakit.spec.yaml_reader`).
    """
    document = _read_document(path)
    return document.data, LineIndex(document.lines)


def _read_document(path: str | Path) -> YamlDocument:
    source = escape_controls(str(path))
    try:
        with _no_gc_pauses():
            return read_document(path)
    except OSError as err:
        raise SpecError(f"{source}: cannot read: {err.strerror or err}") from None
    except YamlProblem as problem:
        where = f"{source}:{problem.line}" if problem.line is not None else source
        raise SpecError(f"{where}: (yaml): {escape_controls(problem.message)}") from None


def _data_path(loc: Sequence[str | int], data: Any) -> PathKey:
    """Keep only the parts of a pydantic error location that are real keys/indices of the input data.

    Pydantic adds union/validator tags ('function-after[...]', model names) to locations; walking the
    input alongside drops them so the path matches the YAML file.
    """
    path: list[str | int] = []
    node = data
    for part in loc:
        in_mapping = isinstance(node, Mapping) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_list:
            node = node[part]
        elif isinstance(part, str) and _looks_like_tag(part):
            continue
        else:
            node = None  # a missing field, or a rule about a field left at its default
        path.append(part)
    return tuple(path)


def _looks_like_tag(part: str) -> bool:
    return "[" in part or part[:1].isupper()


def escape_controls(text: str) -> str:
    """`text` with every non-printable character written as its Python escape (`\\r`, `\\x00`, `\\u202e`).

    Errors echo keys and values from the file: escaped, a crafted name cannot start a forged error line.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    """A non-printable character as Python writes it in a string literal ('\\r', '\\x00', '\\ufeff')."""
    return repr(char)[1:-1] if char not in "'\"" else char


def format_path(path: PathKey) -> str:
    """`('a', 'b', 0, 'c')` -> `a.b[0].c` (empty path -> `(top)`); control characters in keys escaped."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + escape_controls(str(part))
    return text or "(top)"


def _owner_model(model_cls: type[BaseModel], path: PathKey) -> type[BaseModel] | None:
    """The pydantic model whose field is the last part of `path` (walking fields, dict values, list items)."""
    current: Any = model_cls
    for part in path[:-1]:
        model = _unwrap_model(current)
        if model is not None:
            field = model.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            current = field.annotation
        else:
            current = _item_type(current)  # `part` is a dict key or a list index
            if current is None:
                return None
    return _unwrap_model(current)


def _strip(annotation: Any) -> Any:
    """Remove `Annotated[...]` and `| None` around a type."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _item_type(annotation: Any) -> Any:
    annotation = _strip(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and len(args) == 1:
        return args[0]
    return None


def _message(error: Mapping[str, Any], owner: type[BaseModel] | None, field: str | int | None) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        if owner is not None and isinstance(field, str):
            # Suggest what the file would say: the alias when a model has one (e.g. `hakit:regions`).
            names = [info.alias or name for name, info in owner.model_fields.items()]
            close = difflib.get_close_matches(field, names, n=1, cutoff=0.6)
            if close:
                return f"unknown field (did you mean {close[0]!r}?)"
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return " ".join(msg.split())


def error_lines(
    err: ValidationError,
    data: Any,
    *,
    source: str,
    lines: LineIndex | None,
    model_cls: type[BaseModel] | None = None,
) -> list[str]:
    """Turn a pydantic `ValidationError` into sorted, de-duplicated `FILE:LINE: path: problem` lines.

    With `model_cls`, an unknown field gets a "did you mean" hint from the fields of its model.
    """
    found: list[tuple[int, str]] = []
    seen: set[str] = set()
    for error in err.errors(include_url=False):
        path = _data_path(error.get("loc", ()), data)
        line = (lines.line(path) if lines is not None else None) or 1
        owner = _owner_model(model_cls, path) if model_cls is not None and path else None
        problem = escape_controls(_message(error, owner, path[-1] if path else None))
        text = f"{escape_controls(source)}:{line}: {format_path(path)}: {problem}"
        if text not in seen:
            seen.add(text)
            found.append((line, text))
    found.sort(key=lambda item: item[0])
    return [text for _, text in found]


def validate_data(model_cls: type[ModelT], data: Any, *, source: str, lines: LineIndex | None) -> ModelT:
    """Validate parsed data into `model_cls`; raise `SpecError` listing every problem with file and line."""
    try:
        return model_cls.model_validate(_plain(data))
    except ValidationError as err:
        raise SpecError(error_lines(err, data, source=source, lines=lines, model_cls=model_cls)) from None


def load_model(path: str | Path, model_cls: type[ModelT], *, document: YamlDocument | None = None) -> ModelT:
    """Load a YAML file and validate it into `model_cls` (errors: `SpecError`, exit code 2).

    `document`: the file already read (by `read_ahead`); None reads it here.
    """
    with _no_gc_pauses():
        return _load_model(path, model_cls, document)


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file becomes objects.

    Building hundreds of thousands of dicts, lists and models triggers full collections that walk the
    whole heap again and again (quadratic in the file size); nothing built here needs them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_model(path: str | Path, model_cls: type[ModelT], document: YamlDocument | None) -> ModelT:
    if document is None:
        document = _read_document(path)
    data = document.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        found = "a list" if isinstance(data, list) else f"the single value {escape_controls(repr(data))[:60]}"
        raise SpecError(
            f"{escape_controls(str(path))}:1: (top): the file must be a mapping of sections, not {found}"
        )
    lines = LineIndex(document.lines)
    if document.strings_checked:
        with strings_already_checked():
            return validate_data(model_cls, data, source=str(path), lines=lines)
    return validate_data(model_cls, data, source=str(path), lines=lines)


def _plain(node: Any) -> Any:
    """Plain dict/list for pydantic (the YAML reader already builds them; other callers may pass Mappings)."""
    if type(node) is dict or type(node) is list:
        return node
    if isinstance(node, Mapping):
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, tuple):
        return [_plain(value) for value in node]
    return node

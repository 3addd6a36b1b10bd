"""The input promise under mutation: any inventory or stack file is either valid and renders without an
injected line, or it is refused with `FILE:LINE: ...` lines only (exit 2, no traceback, nothing written).

Hypothesis mutates the example inventory and the prod stack config: hostile strings (control characters,
quotes, braces, comment signs, `;`, `!`, `$`, huge values, IPv6 scope ids) into values and keys, wrong
types, deep nesting, aliases and raw bytes into the text. A few thousand examples in well under a minute.
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hakit.errors import SpecError
from hakit.render import render_inventory
from hakit.spec.inventory import load_inventory
from hakit.spec.loader import load_yaml
from hakit.spec.stack import stack_config_from_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import HakitCli

REPO = Path(__file__).resolve().parents[2]
INVENTORY, _ = load_yaml(REPO / "examples" / "inventory.yaml")
STACK, _ = load_yaml(REPO / "Pulumi.prod.yaml")

MARK = "INJECTED"
ATOMS = [
    "a",
    "lb1",
    "web",
    "/etc/x",
    "\r",
    "\n",
    "\t",
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "'",
    '"',
    "{",
    "}",
    "#",
    ";",
    "!",
    "$",
    "`",
    "\\",
    " ",
    "%",
    f"\n{MARK}",
    f"\r{MARK} x",
    f"}}\n{MARK} {{",
    f"; {MARK}",
    f"# {MARK}",
    f'" {MARK}',
    "x" * 5000,
    "::1%lo bind *:1",
    "fe80::1%eth0",
    "/a'b'c",
    "198.18.1.100",
    "80",
    "1s",
]
hostile_text = st.lists(st.sampled_from(ATOMS), min_size=1, max_size=4).map("".join)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


hostile_value = st.one_of(
    hostile_text,
    st.sampled_from([None, 0, -1, 70000, 10**30, True, 1.5, [], {}, ["a", "b"], {"a": 1}]),
    st.integers(min_value=90, max_value=130).map(nested),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key/item path of a document (depth first)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for position, value in enumerate(node):
            yield (*prefix, position)
            yield from paths(value, (*prefix, position))


INVENTORY_PATHS = list(paths(INVENTORY))
STACK_PATHS = list(paths(STACK))


def mutated(document: Any, all_paths: list[tuple[Any, ...]], data: st.DataObject) -> tuple[Any, str]:
    """A copy of `document` with one value or key replaced (or the whole top level); the kind of change."""
    draw = data.draw
    kind = draw(st.sampled_from(["value", "value", "value", "key", "top"]))
    if kind == "top":
        return draw(st.sampled_from([[], ["a"], "text", 42, None, [{"hosts": {}}]])), kind
    changed = copy.deepcopy(document)
    path = draw(st.sampled_from(all_paths))
    parent = changed
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if kind == "key" and isinstance(parent, dict):
        new_key = draw(hostile_text)
        parent[new_key] = parent.pop(last)
    else:
        value = draw(hostile_value)
        kind = "value" if isinstance(value, str) else "structure"
        parent[last] = value
    return changed, kind


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1_000_000)


def assert_error_lines(lines: list[str], source: str) -> None:
    """Each line is `FILE:LINE: ...` or `FILE: ...`, printable (control characters escaped)."""
    assert lines
    pattern = re.compile(rf"{re.escape(source)}(:\d+)?: \S.*")
    for line in lines:
        assert pattern.fullmatch(line), line
        assert line.isprintable(), repr(line)


_SECTION = re.compile(
    r"(global|defaults|frontend|backend|listen|peers|userlist|global_defs|vrrp_instance|vrrp_script"
    r"|vrrp_sync_group|virtual_server|events|http|stream|server|upstream|location|map)\b"
)


def outside_quotes(line: str) -> str:
    """The line without its double-quoted parts (backslash escapes honoured)."""
    kept, quoted, escaped = [], False, False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted:
            kept.append(char)
    return "".join(kept)


def shape(tree: Any) -> dict[tuple[str, str], int]:
    """Sections per config file: an injected value would add or remove one."""
    counts: dict[tuple[str, str], int] = {}
    for host, files in tree.items():
        for name, rendered in files.items():
            counts[(host, str(name))] = sum(
                1 for line in rendered.content.splitlines() if _SECTION.match(line.strip())
            )
    return counts


def assert_not_injected(tree: Any) -> None:
    for files in tree.values():
        for name, rendered in files.items():
            config = str(name).endswith((".cfg", ".conf"))
            comment = "#!" if "keepalived" in str(name) else "#"
            for line in rendered.content.splitlines():
                text = line.strip()
                assert not text.startswith(MARK), (name, line)
                if config and text and text[0] not in comment:
                    bare = outside_quotes(text)
                    assert not any(sign in bare for sign in comment), (name, line)


BASELINE = shape(
    render_inventory(load_inventory(REPO / "examples" / "inventory.yaml"), source="inventory.yaml")
)
WORK = Path(tempfile.mkdtemp(prefix="hakit-fuzz-"))


def check_inventory_text(text: str, kind: str) -> None:
    path = WORK / "inventory.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        inv = load_inventory(path)
    except SpecError as err:
        assert err.exit_code == 2
        assert_error_lines(err.lines, str(path))
        return
    tree = render_inventory(inv, source="inventory.yaml")
    assert_not_injected(tree)
    if kind == "value":
        assert shape(tree) == BASELINE


FUZZ = settings(max_examples=400, suppress_health_check=list(HealthCheck), deadline=None, derandomize=True)


@FUZZ
@given(st.data())
def test_mutated_inventories_keep_the_promise(data: st.DataObject) -> None:
    document, kind = mutated(INVENTORY, INVENTORY_PATHS, data)
    check_inventory_text(dump(document), kind)


RAW_SNIPPETS = [
    "\x00",
    "\r",
    "\t",
    "\ufeff",
    "{",
    "}",
    "[" * 200,
    "&a ",
    "*a ",
    "*nope\n",
    "<<: *x\n",
    "!!python/object:os.system ",
    "! ",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "? ",
    ": ",
    "- ",
    "#",
    "'",
    '"',
    "\\",
    "\n  ",
    "x-a: &a [1, 2]\nx-b: *a\n",
    "x-l: &l [x, x, x, x, x, x, x, x, x, x]\nx-m: &m [*l, *l, *l, *l, *l, *l, *l, *l, *l, *l]\n" * 1,
]

INVENTORY_TEXT = (REPO / "examples" / "inventory.yaml").read_text(encoding="utf-8")


@FUZZ
@given(st.data())
def test_raw_text_edits_keep_the_promise(data: st.DataObject) -> None:
    text = INVENTORY_TEXT
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        at = data.draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + data.draw(st.sampled_from(RAW_SNIPPETS)) + text[at:]
    check_inventory_text(text, "raw")


@settings(max_examples=700, suppress_health_check=list(HealthCheck), deadline=None, derandomize=True)
@given(st.data())
def test_mutated_stack_configs_keep_the_promise(data: st.DataObject) -> None:
    document, _ = mutated(STACK, STACK_PATHS, data)
    path = WORK / "Pulumi.fuzz.yaml"
    path.write_text(dump(document), encoding="utf-8")
    try:
        stack_config_from_file(path)
    except SpecError as err:
        assert err.exit_code == 2
        assert_error_lines(err.lines, str(path))


@settings(max_examples=30, suppress_health_check=list(HealthCheck), deadline=None, derandomize=True)
@given(data=st.data())
def test_the_render_command_keeps_the_promise(hakit_cli: HakitCli, data: st.DataObject) -> None:
    """Through the real CLI: exit 2, only FILE:LINE lines on stderr, no traceback, OUT never created."""
    document, _ = mutated(INVENTORY, INVENTORY_PATHS, data)
    work = Path(tempfile.mkdtemp(prefix="hakit-fuzz-cli-", dir=WORK))
    inventory, out = work / "inventory.yaml", work / "out"
    inventory.write_text(dump(document), encoding="utf-8")
    result = hakit_cli(
        "render", str(inventory), "-o", str(out), "--no-validate", "--source-name", "inventory.yaml"
    )
    assert "Traceback" not in result.err + result.out
    if result.code == 0:
        assert out.is_dir()
        return
    assert result.code == 2, result.err
    assert_error_lines(result.err.splitlines(), str(inventory))
    assert not out.exists()


@pytest.fixture(scope="module", autouse=True)
def _clean_work() -> Iterator[None]:
    yield
    import shutil

    shutil.rmtree(WORK, ignore_errors=True)

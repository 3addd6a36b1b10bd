"""Whole block-style documents, as people and generators write inventories, read fast or left to libyaml.

`test_yaml_fast_path` throws line soup and `yaml.safe_dump` output at the fast reader; this one builds
documents from subtrees that repeat at several depths (the fast reader reads each distinct line once and
reuses what it read), with indentless and indented lists, `- key:` items, flow lists, comments and blank
lines, then perturbs one line (a near miss). Unperturbed documents must take the fast path; every
document must come out exactly as libyaml's walk builds it, with no list or dict shared between places.
"""

from __future__ import annotations

from typing import Any

from hakit.spec import yaml_reader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_yaml_fast_path import assert_same_or_declined, typed

DOCUMENTS = settings(
    max_examples=int(__import__("os").environ.get("FAST_YAML_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KEYS = ["a", "b", "port", "name", "1", "0x1f", "false", "x-y", "hakit:env", "2024-01-02", "é"]
SCALARS = [
    "8080",
    "-1",
    "+12",
    "1_000",
    "0o17",
    "1.5",
    "1e3",
    ".inf",
    "-.Inf",
    ".nan",
    "true",
    "False",
    "~",
    "null",
    "yes",
    "NO",
    "eth0",
    "two words",
    "x # a comment",
    "198.18.0.11/24",
    "198.18.0.11",
    "1.2.3",
    "2024-01-02.5.6",
    "fd00::1",
    "2024-01-02",
    "2024-01-02 10:00:00",
    "2024-01-02T10:00:00Z",
    "2024-13-45",
    "'quoted: # text'",
    "'it''s'",
    '"double"',
    "''",
    "[a, b]",
    "[1, 2.5, true, null]",
    "[198.18.0.1/24, fd00::1]",
    "[ ]",
    "[]",
    "{}",
    "a'b",
    "é",
]

# A tree is a scalar text, None (a key with nothing after it), a dict of key to tree, or a list of trees.
SCALAR = st.sampled_from(SCALARS)
TREES = st.recursive(
    st.one_of(SCALAR, st.none()),
    lambda inner: (
        st.dictionaries(st.sampled_from(KEYS), inner, min_size=1, max_size=4)
        | st.lists(
            inner.filter(lambda tree: tree is not None and not isinstance(tree, list)), min_size=1, max_size=3
        )
    ),
    max_leaves=12,
)


def emit(tree: Any, indent: int, step: int, indentless: bool, out: list[str]) -> None:
    """Block YAML lines for a mapping or list `tree` whose entries start at column `indent`."""
    pad = " " * indent
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, dict):
                out.append(f"{pad}{key}:")
                emit(value, indent + step, step, indentless, out)
            elif isinstance(value, list):
                out.append(f"{pad}{key}:")
                emit(value, indent if indentless else indent + step, step, indentless, out)
            else:
                out.append(f"{pad}{key}:" if value is None else f"{pad}{key}: {value}")
        return
    for item in tree:
        if isinstance(item, dict):
            lines: list[str] = []
            emit(item, indent + 2, step, indentless, lines)
            out.append(f"{pad}- {lines[0][indent + 2 :]}")  # the first key on the dash's line
            out.extend(lines[1:])
        else:
            out.append(f"{pad}- {item}")


@st.composite
def block_documents(draw: st.DrawFn) -> tuple[str, bool]:
    """A document whose sections reuse a few subtrees, and whether one of its lines was perturbed."""
    pool = draw(st.lists(TREES.filter(lambda tree: isinstance(tree, dict | list)), min_size=1, max_size=3))
    step, indentless = draw(st.sampled_from([1, 2, 4])), draw(st.booleans())
    lines: list[str] = []
    for section in range(draw(st.integers(1, 3))):
        lines.append(f"s{section}:")
        hosts = {f"h{host}": draw(st.sampled_from(pool)) for host in range(draw(st.integers(1, 4)))}
        deeper = draw(st.booleans())  # the same subtrees one level further in: same text, other indent
        emit({"group": hosts} if deeper else hosts, step, step, indentless, lines)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from(["", "# note", "   # indented note", "  "])))
    if draw(st.booleans()):
        lines.insert(0, "---")
    perturbed = draw(st.integers(0, 3)) == 0
    if perturbed:
        at = draw(st.integers(0, len(lines) - 1))
        line = lines[at]
        lines[at] = draw(
            st.sampled_from(
                [
                    " " + line,  # one column deeper: a continuation or a misplaced entry
                    line[1:] if line.startswith(" ") else line,
                    line.replace(": ", ":", 1),
                    line.replace(": ", ": &x ", 1),
                    line.replace(": ", ": !!str ", 1),
                    line.replace("- ", "-\t", 1),
                    line + " x: y",
                    line + "\n" + line,  # the same key twice, or one more item
                    line + "\n" + " " * (len(line) - len(line.lstrip(" ")) + 1) + "more",
                    line + "\n---",
                    line + "\n...",
                    line.replace("'", ""),
                    line.replace("]", ""),
                ]
            )
        )
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""])), perturbed


def assert_no_shared_containers(data: Any) -> None:
    """Every list and dict of the fast reader's data is its own object, as libyaml's walk builds them."""
    seen: set[int] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            assert id(node) not in seen, "a list or dict appears twice in the data"
            seen.add(id(node))
            stack.extend(node.values() if isinstance(node, dict) else node)


@DOCUMENTS
@given(block_documents())
def test_block_documents_are_read_like_libyaml_reads_them(document: tuple[str, bool]) -> None:
    text, perturbed = document
    read = assert_same_or_declined(text)
    assert read or perturbed, f"the fast reader declined a plain block document:\n{text}"
    if read:
        fast = yaml_reader._simple_block_yaml(text)
        assert fast is not None
        assert_no_shared_containers(fast.data)


def test_lines_past_the_remembered_ones_read_the_same(monkeypatch: Any) -> None:
    """Past `_SEEN_LINES` distinct lines, each line is read on its own: same data, same lines."""
    text = "".join(
        f"h{host}:\n  port: 8080\n  tags: [a, b]\n  up: true\n  at: 198.18.0.{host}\n" for host in range(9)
    )
    full = yaml_reader._simple_block_yaml(text)
    monkeypatch.setattr(yaml_reader, "_SEEN_LINES", 3)
    capped = yaml_reader._simple_block_yaml(text)
    assert full is not None and capped is not None
    assert typed(capped.data) == typed(full.data)
    assert dict(capped.lines.items()) == dict(full.lines.items())
    assert_no_shared_containers(capped.data)

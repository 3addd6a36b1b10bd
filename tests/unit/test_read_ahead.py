"""A large inventory read in a forked child while the command line loads: the same document, or none.

`hakit.launch` starts `read_ahead` before importing typer and pydantic. Whatever the child sends must
be exactly what the command's own read gives (data, every line, the strings flag); whatever it cannot
read must leave the read to the command, with no child left behind. Forking needs a process with one
thread, so each case runs in a fresh Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hakit.launch import READ_AHEAD_OPTIONS, inventory_argument

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

COMPARE = """
import json, os, sys
from hakit.spec.read_ahead import read_ahead
from hakit.spec.yaml_reader import read_document

def no_children():
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False

path = sys.argv[1]
early = read_ahead(path, min_bytes=0)
started = early.started
document = early.take(sys.argv[2] if len(sys.argv) > 2 else path)
result = {"started": started, "got": document is not None, "no_children": no_children()}
if document is not None:
    reference = read_document(path)
    result["same_data"] = repr(document.data) == repr(reference.data)
    result["same_lines"] = dict(document.lines) == dict(reference.lines)
    result["each_line"] = all(document.lines[key] == line for key, line in reference.lines.items())
    result["same_flag"] = document.strings_checked == reference.strings_checked
    result["lines_type"] = type(document.lines).__name__
print(json.dumps(result))
"""


def _run(code: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _synthetic(tmp_path: Path, hosts: int) -> Path:
    from render import synthetic_inventory  # bench/render.py

    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(synthetic_inventory(hosts), sort_keys=False), encoding="utf-8")
    return path


def test_a_plain_inventory_arrives_as_the_command_would_read_it(tmp_path: Path) -> None:
    """The fast reader's document, container sizes included (60 hosts: large mappings are recorded)."""
    result = _run(COMPARE, str(_synthetic(tmp_path, 60)))
    assert result == {
        "started": True,
        "got": True,
        "no_children": True,
        "same_data": True,
        "same_lines": True,
        "each_line": True,
        "same_flag": True,
        "lines_type": "DocumentLines",
    }


def test_a_document_with_anchors_arrives_with_its_lines(tmp_path: Path) -> None:
    """The libyaml path (anchors, merge keys) sends its line of every path too."""
    path = tmp_path / "anchors.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            x-check: &check {interval: 2s, fall: 3}
            hosts:
              lb1:
                interfaces: {eth0: {address: 198.18.0.11/24}}
                <<: {description: merged}
            extra: [1, 2.5, true, null, "x"]
            check: *check
            """
        ),
        encoding="utf-8",
    )
    result = _run(COMPARE, str(path))
    assert result["got"] and result["same_data"] and result["same_lines"] and result["each_line"]
    assert result["lines_type"] == "dict" and result["no_children"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("when: 2026-12-08\n", "a date: marshal cannot carry it"),
        ("a: [1, 2\nb: 3\n", "not YAML: the command's own read reports the error"),
        ("a: 1\na: 2\n", "a duplicate key: the same"),
    ],
)
def test_what_the_child_cannot_send_is_read_by_the_command(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    result = _run(COMPARE, str(path))
    assert result == {"started": True, "got": False, "no_children": True}, why


def test_a_read_of_another_path_is_not_used_and_its_child_is_stopped(tmp_path: Path) -> None:
    path = _synthetic(tmp_path, 20)
    result = _run(COMPARE, str(path), str(tmp_path / "other.yaml"))
    assert result == {"started": True, "got": False, "no_children": True}


NOT_STARTED = """
import json, os, sys, threading
from hakit.spec.read_ahead import read_ahead
path, case = sys.argv[1], sys.argv[2]
if case == "fifo":
    os.mkfifo(path)
if case == "thread":
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
early = read_ahead(path, min_bytes=None if case == "small" else 0)
started = early.started
early.close()
if case == "thread":
    stop.set()
    worker.join()
print(json.dumps({"started": started}))
"""


@pytest.mark.parametrize("case", ["fifo", "small", "missing", "directory", "thread"])
def test_no_child_where_it_cannot_help_or_would_harm(tmp_path: Path, case: str) -> None:
    """A FIFO would be emptied by the child; a small file is read sooner in-process; a forked child of a
    threaded program could inherit a held lock."""
    path = tmp_path / "inventory.yaml"
    if case in ("small", "thread"):
        path.write_text("hosts: {}\n", encoding="utf-8")
    elif case == "directory":
        path.mkdir()
    assert _run(NOT_STARTED, str(path), case) == {"started": False}


def test_closing_stops_a_child_still_reading(tmp_path: Path) -> None:
    code = """
import json, os, sys
from hakit.spec.read_ahead import read_ahead
early = read_ahead(sys.argv[1], min_bytes=0)
pid, started = early._pid, early.started
early.close()
try:
    os.kill(pid, 0)
    gone = False
except ProcessLookupError:
    gone = True
print(json.dumps({"started": started, "gone": gone, "again": early.take(sys.argv[1]) is None}))
"""
    assert _run(code, str(_synthetic(tmp_path, 400))) == {"started": True, "gone": True, "again": True}


# ------------------------------------------------------------------ the console script


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["render", "inv.yaml"], "inv.yaml"),
        (["render", "-o", "out", "inv.yaml", "--check"], "inv.yaml"),
        (["render", "--out=out", "--jobs", "2", "--no-validate", "inv.yaml"], "inv.yaml"),
        (["render", "--root", "/x", "--", "-odd.yaml"], "-odd.yaml"),
        (["render", "--json", "--source-name=a", "inv.yaml", "--root", "/x"], "inv.yaml"),
        (["render", "--validate", "inv.yaml"], None),  # the value of --validate is optional: unsure
        (["render", "--help", "inv.yaml"], None),
        (["render", "-oout", "inv.yaml"], None),  # an attached short value: unsure, so no read-ahead
        (["render", "--check=yes", "inv.yaml"], None),
        (["render", "-o"], None),
        (["render"], None),
        (["validate", "out"], None),
        ([], None),
    ],
)
def test_the_inventory_argument_is_found_or_left_alone(args: list[str], expected: str | None) -> None:
    assert inventory_argument(args) == expected


def test_the_option_table_matches_the_commands() -> None:
    """Every option of a read-ahead command, and whether it takes a value, as click itself has them."""
    from hakit.cli import cli_command

    for name, table in READ_AHEAD_OPTIONS.items():
        command = cli_command([name]).commands[name]  # type: ignore[attr-defined]
        options = {
            option: not (param.is_flag or param.count)
            for param in command.params
            if param.param_type_name == "option" and param.name != "validate"
            for option in (*param.opts, *param.secondary_opts)
        }
        assert table == options


LAUNCH = """
import sys
import hakit.spec.read_ahead as read_ahead
import hakit.spec.loader as loader
read_ahead.MIN_BYTES = 0

def refuse(path):
    raise AssertionError("the command read the file itself")

loader._read_document = refuse
sys.argv = ["hakit", *sys.argv[1:]]
from hakit.launch import entry
entry()
"""


def test_hakit_render_validates_the_document_read_ahead(tmp_path: Path) -> None:
    """The console script's read reaches `render`: same files, same error line, no read of its own."""
    from hakit.render import render_inventory
    from hakit.spec.inventory import load_inventory
    from render import synthetic_inventory

    path = _synthetic(tmp_path, 12)
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, "render", str(path), "-o", str(tmp_path / "out"), "--no-validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    expected = render_inventory(load_inventory(path), source="inventory.yaml")
    for host, files in expected.items():
        for relative, rendered in files.items():
            written = tmp_path / "out" / host / relative
            assert written.read_bytes() == rendered.content.encode(), written

    data = synthetic_inventory(12)
    next(iter(data["load_balancers"].values()))["vrrp"]["instances"]["VI_1"]["vrid"] = 256
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, "render", str(path), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "load_balancers.c0000.vrrp.instances.VI_1.vrid: Input should be less than or equal to 255"
    ), done.stderr
    assert "Traceback" not in done.stderr

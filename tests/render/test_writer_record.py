"""The record beside OUT: a re-render checks the spare by stat, and nothing done to the spare slips by."""

from __future__ import annotations

import marshal
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hakit.render import writer
from hakit.render.tree import RenderedFile, RenderedTree
from hakit.render.writer import record_path, spare_path, write_tree
from test_writer_atomic import _snapshot, generation, tree_generation


@pytest.fixture
def full_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the renders that checked the spare in full (listing and reading it) instead of by record."""
    calls: list[str] = []
    real = writer._update

    def update(*args: Any) -> None:
        calls.append("full")
        real(*args)

    monkeypatch.setattr(writer, "_update", update)
    return calls


def _expected(tree: RenderedTree, tmp_path: Path) -> dict[str, tuple[str, int]]:
    expected = tmp_path / "expected"
    write_tree(tree, expected)
    return _snapshot(expected)


def test_steady_renders_rewrite_only_what_changed(tmp_path: Path, full_checks: list[str]) -> None:
    out = tmp_path / "out"
    for number in range(3):  # a first render, a first replacement, then the spare is an earlier render
        write_tree(generation(number), out)
    assert full_checks == ["full"]  # the spare of the third render predates any record
    assert record_path(out).stat().st_mode & 0o777 == 0o600
    tree = generation(3)
    tree["h000"]["etc/d0/f0.conf"] = RenderedFile("only this one differs\n")
    tree["h001"] = {"etc/new/only.conf": RenderedFile("a host whose files all changed\n")}
    for _ in range(2):  # the spare is checked by its record, and brought to `tree` from it
        write_tree(tree, out)
        assert _snapshot(out) == _expected(tree, tmp_path)
    # Now the spare already holds `tree`: a render of the same tree writes no file.
    spare = spare_path(out)
    inodes = {p.relative_to(spare).as_posix(): p.stat().st_ino for p in spare.rglob("*")}
    write_tree(tree, out)
    assert {p.relative_to(out).as_posix(): p.stat().st_ino for p in out.rglob("*")} == inodes
    assert full_checks == ["full"]


def _same_size_edit_with_times_put_back(path: Path) -> None:
    info = path.stat()
    data = path.read_bytes()
    with open(path, "r+b") as handle:
        handle.write(b"X" * len(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # mtime back; ctime cannot be set back


def _swap_for_a_copy(path: Path) -> None:
    copy = path.with_name(path.name + ".copy")
    copy.write_bytes(path.read_bytes())
    copy.chmod(path.stat().st_mode & 0o777)
    os.utime(copy, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    copy.replace(path)


def _chmod_there_and_back(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    path.chmod(0o666)
    path.chmod(mode)


def _stray_file_removed_again(path: Path) -> None:
    stray = path.parent / "stray"
    stray.write_text("x")
    stray.unlink()


def _directory_made_a_link(path: Path) -> None:
    directory = path.parent
    directory.rename(directory.with_name("elsewhere"))
    directory.symlink_to(directory.with_name("elsewhere"))


@pytest.mark.parametrize(
    "tamper",
    [
        _same_size_edit_with_times_put_back,
        _swap_for_a_copy,
        _chmod_there_and_back,
        _stray_file_removed_again,
        _directory_made_a_link,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_anything_done_to_the_spare_sends_it_to_the_full_check(
    tmp_path: Path, full_checks: list[str], tamper: Any
) -> None:
    out = tmp_path / "out"
    for number in range(4):
        write_tree(generation(number), out)
    assert full_checks == ["full"]
    tamper(spare_path(out) / "h002/etc/d1/f1.conf")
    write_tree(generation(4), out)
    assert full_checks == ["full", "full"]
    assert _snapshot(out) == _expected(generation(4), tmp_path)
    assert tree_generation(out) == 4


def _forge(out: Path, relative: str) -> None:
    """Edit a spare file in place (same size), then rewrite the record to match what is there now."""
    spare = spare_path(out)
    path = spare / relative
    path.write_bytes(path.read_bytes().replace(b"generation", b"GENERATION"))
    info, top = path.stat(), spare.stat()
    found = marshal.loads(record_path(out).read_bytes())
    key = (top.st_dev, top.st_ino)
    record = marshal.loads(found["trees"][key])
    entry = record["files"][relative]
    entry[0], entry[1], entry[3], entry[4] = info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns
    record["newest"] = max(record["newest"], info.st_mtime_ns, info.st_ctime_ns)
    found["trees"][key] = marshal.dumps(record)
    record_path(out).write_bytes(marshal.dumps(found))
    later = time.time_ns() + 10**9
    os.utime(record_path(out), ns=(later, later))


@pytest.mark.parametrize("kind", ["own (trusted)", "readable by others", "a link to a copy", "garbage"])
def test_only_this_users_own_private_record_is_trusted(
    tmp_path: Path, full_checks: list[str], kind: str
) -> None:
    out = tmp_path / "out"
    for number in range(4):
        write_tree(generation(number), out)
    assert full_checks == ["full"]
    _forge(out, "h002/etc/d1/f1.conf")  # the spare holds generation 2; its record now hides the edit
    record = record_path(out)
    if kind == "readable by others":
        record.chmod(0o644)
    elif kind == "a link to a copy":
        copy = tmp_path / "copy"
        record.rename(copy)
        record.symlink_to(copy)
    elif kind == "garbage":
        record.write_bytes(b"{\xe9\x03\x00\x00not marshal data")
    write_tree(generation(2), out)
    if kind == "own (trusted)":
        # The record is trusted as this user's own file: the forged one is used (the test's control).
        assert full_checks == ["full"]
        assert b"GENERATION" in (out / "h002/etc/d1/f1.conf").read_bytes()
    else:
        assert full_checks == ["full", "full"]
        assert _snapshot(out) == _expected(generation(2), tmp_path)

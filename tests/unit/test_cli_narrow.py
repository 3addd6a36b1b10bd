"""`main` builds only the subcommand it runs: help, errors and exit codes match the whole tree's."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest
from hakit.cli import cli_command


def _outcome(command: Any, args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setenv("COLUMNS", "120")
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            command(args, prog_name="hakit")
        except SystemExit as done:
            code = int(done.code or 0)
    return code, out.getvalue(), err.getvalue()


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    for name, sub in getattr(command, "commands", {}).items():
        found.extend(_paths(sub, (*prefix, name)))
    return found


WHOLE = cli_command()


@pytest.mark.parametrize("path", _paths(WHOLE), ids=" ".join)
def test_help_of_a_narrowed_tree_is_the_whole_trees(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [*path, "--help"]
    narrowed = cli_command(args)
    assert list(narrowed.commands) == [path[0]]
    assert _outcome(narrowed, args, monkeypatch) == _outcome(cli_command(), args, monkeypatch)


@pytest.mark.parametrize(
    "args",
    [
        ["render"],  # missing argument: usage error, exit 2
        ["render", "--no-such-option", "x.yaml"],
        ["schema", "nope"],
        ["failover"],  # a group without its subcommand
    ],
    ids=" ".join,
)
def test_errors_of_a_narrowed_tree_are_the_whole_trees(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    narrowed = _outcome(cli_command(args), args, monkeypatch)
    assert narrowed == _outcome(cli_command(), args, monkeypatch)
    assert narrowed[0] == 2


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["rendr", "x"], ["--", "render"]], ids=repr)
def test_anything_but_a_subcommand_first_gets_the_whole_tree(args: list[str]) -> None:
    assert list(cli_command(args).commands) == list(WHOLE.commands)


def test_shell_completion_gets_the_whole_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_HAKIT_COMPLETE", "complete_bash")
    assert list(cli_command(["render"]).commands) == list(WHOLE.commands)

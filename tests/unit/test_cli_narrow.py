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


# `hakit --help` lists commands, then groups, in the order the modules registered them before `main`
# imported only the one it runs.
HELP_ORDER = [
    *("render", "validate", "plan", "report", "diagram", "deploy"),
    *("schema", "failover", "backup", "lab", "drill"),
]


def test_every_subcommand_is_mapped_to_its_module() -> None:
    from hakit.cli import COMMAND_MODULES

    assert [*WHOLE.commands] == HELP_ORDER
    assert set(HELP_ORDER) == set(COMMAND_MODULES)
    for name, sub in WHOLE.commands.items():
        callbacks = [sub.callback, *(c.callback for c in getattr(sub, "commands", {}).values())]
        modules = {
            c.__module__ for c in callbacks if c is not None and c.__module__.startswith("hakit.commands")
        }
        assert modules == {f"hakit.commands.{COMMAND_MODULES[name]}"}, name


def _in_a_new_process(code: str) -> str:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_hakit_render_imports_no_other_command_module() -> None:
    code = (
        "import sys; from hakit.cli import cli_command; cli_command(['render', 'x.yaml']); "
        "print(*sorted(m for m in sys.modules if m.startswith('hakit.commands.')))"
    )
    assert _in_a_new_process(code).split() == ["hakit.commands.console", "hakit.commands.render"]


def test_help_order_does_not_depend_on_what_was_imported_first() -> None:
    code = (
        "from hakit.cli import cli_command; cli_command(['drill']); cli_command(['plan']); "
        "print(*cli_command().commands)"
    )
    assert _in_a_new_process(code).split() == HELP_ORDER

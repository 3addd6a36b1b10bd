"""The `hakit` command line: --version, and help that names values as words, not Python types."""

from __future__ import annotations

import re
import sys

import pytest
from hakit import __version__
from hakit.cli import cli_command, main

# What Typer prints for Python types: `<bool>`, `<path>`, `{inventory}`, `<list[str]>`.
TYPE_NOISE = re.compile(r"<(bool|str|int|float|path|list\[[a-z]+\])>|\{[a-z_]+\}|list\[")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys, "argv", ["hakit", *argv])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code in (0, None)
    return capsys.readouterr().out


def _command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


def test_version(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(["--version"], capsys, monkeypatch).strip() == f"hakit {__version__}"


def test_completion_is_offered(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert "--install-completion" in _run(["--help"], capsys, monkeypatch)


@pytest.mark.parametrize("path", _command_paths(cli_command()), ids=lambda p: " ".join(p) or "hakit")
def test_help_has_no_type_noise(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _run([*path, "--help"], capsys, monkeypatch)
    assert "Usage: hakit" in text
    noise = TYPE_NOISE.findall(text)
    assert not noise, f"type noise {noise} in `hakit {' '.join(path)} --help`:\n{text}"


def test_error_lines_print_as_given() -> None:
    """`FILE:LINE: field: rule` lines must not turn `:name:` pairs into emoji (rich's default)."""
    import io

    from hakit.commands.console import console

    buffer = io.StringIO()
    line = "inv:smile:.yaml:100: hosts.a:thumbs_up:b: control character '\\r' is not allowed"
    console(file=buffer).print(line, markup=False)
    assert buffer.getvalue() == line + "\n"

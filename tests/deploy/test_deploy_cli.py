"""`hakit deploy` refuses bad input with one line and exit 2, before any host is contacted."""

from __future__ import annotations

from pathlib import Path


def test_bad_input_is_one_line_exit_2(hakit_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (["deploy", "examples/inventory.yaml", "--yes", "--limit", "nope"], "unknown host or cluster 'nope'"),
        (["deploy", "examples/inventory.yaml"], "needs --yes when not run from a terminal"),
        (["deploy", "examples/inventory.yaml", "--yes", "--ssh-key", str(tmp_path / "k")], "no such file"),
        (["deploy", "examples/inventory.yaml", "--yes", "--tree", str(tmp_path)], "not a tree written by"),
    ]
    for args, expected in cases:
        result = hakit_cli(*args)
        assert result.code == 2, (args, result)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (args, result.err)
        assert "Traceback" not in result.err

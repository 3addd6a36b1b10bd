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


def test_start_stopped_reaches_the_playbook(hakit_cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """--start-stopped is the playbook's hakit_start_stopped; without it the playbook's default (false)."""
    from hakit.deploy import runner

    seen: list[list[str]] = []

    def fake_run(inventory: dict, **options: object) -> tuple[runner.Progress, int]:  # type: ignore[type-arg]
        seen.append(list(options["extra_vars"]))  # type: ignore[call-overload]
        return runner.Progress(), 0

    monkeypatch.setattr(runner, "run_playbook", fake_run)
    for flag in ([], ["--start-stopped"]):
        result = hakit_cli("deploy", "examples/inventory.yaml", "--yes", "--json", *flag, "-e", "x=1")
        assert result.code == 0, result.err
    assert seen == [["x=1"], ["hakit_start_stopped=true", "x=1"]]
    monkeypatch.setenv("COLUMNS", "400")  # one line per option: the phrase is not wrapped
    help_text = hakit_cli("deploy", "--help").out
    assert "--start-stopped" in help_text and "first install" in help_text

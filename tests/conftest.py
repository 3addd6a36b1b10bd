"""Suite-wide pytest configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from support import CliResult, HakitCli

settings.register_profile(
    "hakit", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=25
)
settings.load_profile("hakit")


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def hakit_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> HakitCli:
    """Run `hakit ARGS` in-process from the repository root, exactly like the console script."""
    from hakit import cli

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["hakit", *args])
        monkeypatch.chdir(REPO)
        code = 0
        try:
            cli.main()
        except SystemExit as done:
            code = int(done.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run

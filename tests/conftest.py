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

PHASES = ("parallel", "serial")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--phase",
        choices=PHASES,
        default=None,
        help="make test's two phases: 'parallel' leaves out the tests marked serial, 'serial' runs only them",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--phase: keep the serial tests (timing drills, run alone) or everything else (run by xdist workers)."""
    phase = config.getoption("phase")
    if phase is None:
        return
    keep = [item for item in items if (item.get_closest_marker("serial") is not None) == (phase == "serial")]
    if len(keep) < len(items):
        kept = set(keep)
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = keep


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

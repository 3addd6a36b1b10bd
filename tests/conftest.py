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
SERIAL_MARK = "mark.serial"
"""How a module marks its serial tests (pytestmark, decorator): the serial phase imports only those."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--phase",
        choices=PHASES,
        default=None,
        help="make test's two phases: 'parallel' leaves out the tests marked serial, 'serial' runs only them",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """--phase=serial: skip importing test modules that mark nothing serial (importing all costs ~10 s)."""
    if config.getoption("phase") != "serial" or not collection_path.name.startswith("test_"):
        return None
    if collection_path.suffix != ".py" or SERIAL_MARK in collection_path.read_text(errors="replace"):
        return None
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--phase: keep the serial tests (timing drills, run alone) or everything else (run by xdist workers)."""
    phase = config.getoption("phase")
    if phase is None:
        return
    serial = [item for item in items if item.get_closest_marker("serial") is not None]
    # A test marked serial elsewhere (a conftest hook) would run in neither phase (its module is skipped).
    unseen = sorted(
        {str(item.path) for item in serial if SERIAL_MARK not in item.path.read_text(errors="replace")}
    )
    if unseen:
        raise pytest.UsageError(f"mark serial tests in their own module ({SERIAL_MARK}): {', '.join(unseen)}")
    keep = (
        serial if phase == "serial" else [item for item in items if item.get_closest_marker("serial") is None]
    )
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

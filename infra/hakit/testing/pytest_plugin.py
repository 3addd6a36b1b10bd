"""pytest plugin (auto-loaded via the `pytest11` entry point): the `synth` fixture for graph tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hakit.testing.graph import ResourceGraph


@pytest.fixture
def synth() -> Callable[..., ResourceGraph]:
    """Synthesize a program under recording mocks: `graph = synth(program, config={...})`."""
    # Imported here: every pytest run in an environment with hakit loads this plugin, and most of them
    # (a database host's backup-agent checks, say) have no Pulumi SDK and never ask for the fixture.
    from hakit.testing.harness import synth as _synth

    def run(program: Callable[[], Any], **kwargs: Any) -> ResourceGraph:
        return _synth(program, **kwargs)

    return run

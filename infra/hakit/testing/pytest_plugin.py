"""pytest plugin (auto-loaded via the `pytest11` entry point): the `synth` fixture for graph tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hakit.testing.graph import ResourceGraph
from hakit.testing.harness import synth as _synth


@pytest.fixture
def synth() -> Callable[..., ResourceGraph]:
    """Synthesize a program under recording mocks: `graph = synth(program, config={...})`."""

    def run(program: Callable[[], Any], **kwargs: Any) -> ResourceGraph:
        return _synth(program, **kwargs)

    return run

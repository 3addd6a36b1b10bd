"""Unit-test Pulumi programs offline: `synth(program) -> ResourceGraph` under faithful recording mocks.

Names are loaded on first use, so that pytest's auto-loaded plugin (`hakit.testing.pytest_plugin`)
costs nothing, and needs no Pulumi SDK, in a project that never asks for the `synth` fixture.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hakit.testing.graph import (
        DuplicateUrnError,
        Node,
        Options,
        ResourceGraph,
        camel_to_snake,
        snake_to_camel,
    )
    from hakit.testing.harness import load_stack_config, normalize_config, synth

_WHERE = {
    "DuplicateUrnError": "graph",
    "Node": "graph",
    "Options": "graph",
    "ResourceGraph": "graph",
    "camel_to_snake": "graph",
    "snake_to_camel": "graph",
    "load_stack_config": "harness",
    "normalize_config": "harness",
    "synth": "harness",
}

__all__ = [
    "DuplicateUrnError",
    "Node",
    "Options",
    "ResourceGraph",
    "camel_to_snake",
    "load_stack_config",
    "normalize_config",
    "snake_to_camel",
    "synth",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hakit.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hakit.testing.{module}"), name)

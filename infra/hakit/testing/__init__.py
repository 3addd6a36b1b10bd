"""Unit-test Pulumi programs offline: `synth(program) -> ResourceGraph` under faithful recording mocks."""

from hakit.testing.graph import (
    DuplicateUrnError,
    Node,
    Options,
    ResourceGraph,
    camel_to_snake,
    snake_to_camel,
)
from hakit.testing.harness import load_stack_config, normalize_config, synth

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

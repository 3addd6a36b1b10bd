"""Shared fixtures for the render tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hakit.spec.inventory import Inventory, load_inventory

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "inventory.yaml"
EXAMPLE_SOURCE = "examples/inventory.yaml"


@pytest.fixture(scope="session")
def example() -> Inventory:
    """The example inventory, validated."""
    return load_inventory(EXAMPLE)

"""Shared fixtures for the render tests."""

from __future__ import annotations

import pytest
from hakit.spec.inventory import Inventory, load_inventory
from render_support import EXAMPLE


@pytest.fixture(scope="session")
def example() -> Inventory:
    """The example inventory, validated."""
    return load_inventory(EXAMPLE)

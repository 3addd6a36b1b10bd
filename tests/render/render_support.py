"""Paths shared by the render tests (a uniquely named module: every test directory has a conftest.py)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "inventory.yaml"
EXAMPLE_SOURCE = "examples/inventory.yaml"

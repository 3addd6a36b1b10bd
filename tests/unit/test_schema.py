"""Schema inference over every public component, compared with the checked-in snapshot.

Regenerate after an intended change of a component's Args or outputs:
    HAKIT_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_schema.py
and review the diff of tests/unit/snapshots/schema.json like code (it is the contract with other languages).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hakit.provider import PACKAGE, components, schema

SNAPSHOT = Path(__file__).parent / "snapshots" / "schema.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return schema()


def test_every_public_component_is_in_the_schema(document: dict[str, Any]) -> None:
    names = {f"{PACKAGE}:index:{component.__name__}" for component in components()}
    assert set(document["resources"]) == names
    assert len(names) == 7
    for token, resource in document["resources"].items():
        assert resource["isComponent"], token
        assert resource.get("description"), f"{token} has no description"
        for prop, spec in resource.get("inputProperties", {}).items():
            assert spec.get("description"), f"{token}.{prop} has no description"


def test_schema_matches_the_snapshot(document: dict[str, Any]) -> None:
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if os.environ.get("HAKIT_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), "no snapshot yet: run HAKIT_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_schema.py"
    expected = json.loads(SNAPSHOT.read_text())
    changed = sorted(
        key
        for section in ("resources", "types")
        for key in set(expected.get(section, {})) | set(document.get(section, {}))
        if expected.get(section, {}).get(key) != document.get(section, {}).get(key)
    )
    assert not changed, f"schema changed for {changed}: review, then regenerate (see the module docstring)"
    assert document == expected

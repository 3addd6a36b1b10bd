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
    assert len(names) == 10
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


def test_the_provider_constructs_components_for_other_languages() -> None:
    """What `new hakit.LocalLab(...)` in TypeScript triggers: Construct, camelCase inputs, schema token."""
    import pulumi
    from hakit.provider import hosted_components
    from hakit.testing import synth
    from pulumi.provider.experimental.component import ComponentProvider

    results: list[object] = []

    def program() -> None:
        provider = ComponentProvider(hosted_components(), PACKAGE)
        inputs = {"backends": 3.0, "httpPort": 9000.0, "vip": "172.30.57.90"}  # the engine sends floats
        results.append(
            provider.construct("lab", f"{PACKAGE}:index:LocalLab", inputs, pulumi.ResourceOptions())
        )

    graph = synth(program)
    lab = graph.one(f"{PACKAGE}:index:LocalLab", "lab")
    assert len([n for n in graph.descendants(lab) if n.type == "docker:index/container:Container"]) == 3 + 4
    proxy = graph.one("docker:index/container:Container", "lab-lb-a-haproxy")
    assert proxy.input("ports.0.external") == 9000
    conf = {
        u["file"]: u["content"]
        for u in graph.one("docker:index/container:Container", "lab-lb-a-keepalived").input("uploads")
    }
    assert "172.30.57.90/24 dev eth0" in conf["/etc/keepalived/keepalived.conf"]
    assert set(results[0].state) == {"vip", "urls", "networkName"}  # type: ignore[attr-defined]


def test_plugin_manifest_points_at_a_runnable_entry() -> None:
    """PulumiPlugin.yaml's `main` starts the provider (it then waits for the engine's address)."""
    import subprocess
    import sys

    from ruamel.yaml import YAML

    root = Path(__file__).resolve().parents[2]
    manifest = YAML(typ="safe").load((root / "PulumiPlugin.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    entry = root / manifest["main"]
    result = subprocess.run(
        [sys.executable, str(entry)], capture_output=True, text=True, timeout=120, check=False, cwd=root
    )
    # Schema inference ran at start-up; argparse then asks for the engine address the CLI would pass.
    assert result.returncode == 2, result.stderr
    assert "the following arguments are required: engine" in result.stderr

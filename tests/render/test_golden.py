"""Golden files: the render of examples/inventory.yaml must match tests/golden/example/ byte for byte.

Regenerate after an intended change (and review the diff before committing):

    HAKIT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

from hakit.render import render_inventory
from hakit.render.writer import MARKER, lock_path, write_tree
from hakit.spec.inventory import Inventory
from render_support import EXAMPLE_SOURCE, REPO

GOLDEN = REPO / "tests" / "golden" / "example"


def _on_disk(top: Path) -> dict[str, tuple[str, bool]]:
    return {
        p.relative_to(top).as_posix(): (p.read_bytes().decode(), bool(p.stat().st_mode & 0o100))
        for p in sorted(top.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def test_example_matches_golden_files(example: Inventory) -> None:
    tree = render_inventory(example, source=EXAMPLE_SOURCE)
    if os.environ.get("HAKIT_UPDATE_GOLDEN") == "1":
        write_tree(tree, GOLDEN)
        lock_path(GOLDEN).unlink()  # the writer's lock file beside OUT is not a golden file
    expected = _on_disk(GOLDEN)
    # git keeps only the executable bit, so that is what is compared besides the bytes.
    rendered = {
        f"{host}/{path}": (rendered.content, bool(rendered.effective_mode & 0o100))
        for host, files in tree.items()
        for path, rendered in files.items()
    }
    assert sorted(rendered) == sorted(expected), "file set differs: HAKIT_UPDATE_GOLDEN=1 regenerates"
    for path, value in rendered.items():
        assert value == expected[path], f"{path} differs from tests/golden: HAKIT_UPDATE_GOLDEN=1 regenerates"

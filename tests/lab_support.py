"""A running lab of an inventory under tests/lab/, for module-scoped fixtures, removed even on failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hakit.lab import netns
from hakit.lab.runtime import Lab
from hakit.lab.session import create_lab, open_inventory, tune
from support import require_binaries, require_root


@contextmanager
def running_lab(inventory: Path, *binaries: str, nopreempt: bool = False) -> Iterator[Lab]:
    """Bring up the lab of `inventory`'s only cluster; afterwards no namespace or daemon of it is left."""
    require_root()
    require_binaries("ip", "keepalived", *binaries)
    inv, cluster = open_inventory(inventory, None)
    if nopreempt:
        inv = tune(inv, cluster, nopreempt=True)
    # The default base (/run/hakit-lab) is traversable: nginx workers (www-data) read the error pages there
    # (pytest's 0700 temp directories turned every 429 into a dropped connection).
    lab = create_lab(inv, cluster, source=f"tests/lab/{inventory.name}")
    try:
        lab.up()
        yield lab
    finally:
        lab.remove()
        assert not set(lab.topology.namespaces()) & netns.existing_namespaces()
        assert not any(lab.supervisor.alive(n) for n in lab.supervisor.records)

"""Render an inventory into per-host file trees (pure: no I/O besides reading templates).

`render_inventory` runs every producer in `PRODUCERS` and merges their trees host by host.
To plug in another renderer (backup timers, MariaDB configs), append a function
`(inventory, source, root) -> RenderedTree` to `PRODUCERS` (or pass `producers=`).
"""

from __future__ import annotations

from collections.abc import Sequence

from hakit.render.backup import render_backups
from hakit.render.loadbalancer import proxy_files, render_cluster, render_load_balancers, runtime_dirs
from hakit.render.mariadb import render_databases
from hakit.render.tree import HostFiles, Producer, RenderedFile, RenderedTree, merge_trees
from hakit.spec.inventory import Inventory

PRODUCERS: list[Producer] = [render_load_balancers, render_backups, render_databases]
"""The renderers `render_inventory` runs by default, in order."""

__all__ = [
    "PRODUCERS",
    "HostFiles",
    "Producer",
    "RenderedFile",
    "RenderedTree",
    "proxy_files",
    "render_cluster",
    "render_host",
    "render_inventory",
    "runtime_dirs",
]


def render_inventory(
    inv: Inventory, *, source: str, root: str = "", producers: Sequence[Producer] | None = None
) -> RenderedTree:
    """Render every host's files. `root` prefixes each absolute path inside the configs (labs)."""
    chosen = PRODUCERS if producers is None else producers
    return merge_trees(producer(inv, source, root) for producer in chosen)


def render_host(inv: Inventory, host_name: str, *, source: str, root: str = "") -> HostFiles:
    """The files of one host (empty when no section concerns it)."""
    if host_name not in inv.hosts:
        raise KeyError(f"unknown host {host_name!r}")
    # Every producer sees the whole inventory (a host's files may depend on its peers): render all.
    return render_inventory(inv, source=source, root=root).get(host_name, {})

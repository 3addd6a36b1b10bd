"""The rendered output: per host, relative path -> file content, mode and secrecy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hakit.spec.inventory import Inventory


@dataclass(frozen=True)
class RenderedFile:
    """One file for a host. `secret` files are written 0600 whatever `mode` says."""

    content: str
    mode: int = 0o644
    secret: bool = False

    @property
    def effective_mode(self) -> int:
        """The mode written to disk: 0600 for secrets, else `mode`."""
        return 0o600 if self.secret else self.mode


HostFiles = dict[str, RenderedFile]
"""Relative path (e.g. `etc/haproxy/haproxy.cfg`) -> file."""

RenderedTree = dict[str, HostFiles]
"""Host name -> its files."""

Producer = Callable[["Inventory", str, str], RenderedTree]
"""A renderer plugged into `render_inventory`: `(inventory, source, root) -> tree`."""


def merge_trees(trees: Iterable[RenderedTree]) -> RenderedTree:
    """Merge producer outputs host by host; two producers writing the same path is a bug."""
    merged: RenderedTree = {}
    for tree in trees:
        for host, files in tree.items():
            target = merged.setdefault(host, {})
            for path, rendered in files.items():
                if path in target and target[path] != rendered:
                    raise ValueError(f"two renderers produce {host}/{path}")
                target[path] = rendered
    return {host: dict(sorted(files.items())) for host, files in sorted(merged.items())}

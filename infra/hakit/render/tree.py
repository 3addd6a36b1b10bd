"""The rendered output: per host, relative path -> file content, mode and secrecy."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
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


def project_root(start: Path) -> Path:
    """The git work tree holding `start` (a directory with `.git`), else `start` itself."""
    for directory in (start, *start.parents):
        if os.path.lexists(directory / ".git"):
            return directory
    return start


def stable_source_name(inventory: str | Path, *, cwd: str | Path | None = None) -> str:
    """How file headers name the inventory, the same however its path was typed.

    The path relative to the project root (`project_root` of the current directory) when the file is
    inside it, else the file's own name: never an absolute path, so another checkout renders the same
    bytes. Characters that are not printable become `?`.
    """
    here = Path(os.path.realpath(cwd if cwd is not None else os.getcwd()))
    path = Path(inventory)
    # Resolve the directory, keep the file's own name (an inventory may be a link to another file).
    real = Path(os.path.realpath(here / path.parent)) / path.name
    root = project_root(here)
    name = real.relative_to(root).as_posix() if real.is_relative_to(root) else path.name
    return "".join(char if char.isprintable() else "?" for char in name)

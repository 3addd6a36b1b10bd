"""A spinner on stderr for commands that sit silent for seconds (SDK import, synthesis)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hakit.commands.console import console


@contextlib.contextmanager
def working(what: str) -> Iterator[None]:
    """Show `what` with a spinner on stderr while the block runs; nothing when stderr is not a terminal."""
    err = console(stderr=True)
    if not err.is_terminal:
        yield
        return
    with err.status(what):
        yield

"""The one way commands make a rich Console: plain text for what users and scripts read."""

from __future__ import annotations

from typing import Any

from rich.console import Console


def console(*, stderr: bool = False, **options: Any) -> Console:
    """A Console that prints text as given: no highlighting, no emoji codes, no wrapping.

    Error lines look like `inventory.yaml:100: field: rule`; with rich's defaults a `:name:` pair in them
    can become an emoji or be recoloured, which would change what a script or a person reads.
    """
    options.setdefault("soft_wrap", True)
    return Console(stderr=stderr, highlight=False, emoji=False, **options)

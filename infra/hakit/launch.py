"""The `hakit` console script: start reading a large inventory, then load and run the command line.

Importing typer, pydantic and the models takes about as long as reading a 5 MB inventory, and neither
needs the other: a child forked here, while this process is still small, reads the file meanwhile
(`hakit.spec.read_ahead`). Forked later, after those imports, the two processes spent the gain copying
the memory pages they shared. So this module imports nothing heavy, and reads the command line itself.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

READ_AHEAD_OPTIONS: dict[str, dict[str, bool]] = {
    "render": {
        "--out": True,
        "-o": True,
        "--root": True,
        "--source-name": True,
        "--jobs": True,
        "--check": False,
        "--no-validate": False,
        "--json": False,
    },
}
"""Subcommands whose first argument is a file read ahead: each option, and whether it takes a value.

A test holds this against the commands themselves; an option missing here only costs the read-ahead.
"""


def inventory_argument(args: Sequence[str]) -> str | None:
    """The file argument of a `READ_AHEAD_OPTIONS` subcommand in `args`, or None when unsure.

    A hint, never the command's own parse: the command reads the file itself unless it got this path,
    so `--help`, `--validate` (whose value is optional), unknown or clustered options just go without.
    """
    options = READ_AHEAD_OPTIONS.get(args[0]) if args else None
    if options is None:
        return None
    rest = list(args[1:])
    position = 0
    while position < len(rest):
        token = rest[position]
        if token == "--":
            return rest[position + 1] if position + 1 < len(rest) else None
        if token.startswith("-") and token != "-":
            name, equals, _ = token.partition("=")
            takes_value = options.get(name)
            if takes_value is None or (equals and not takes_value):
                return None
            position += 2 if takes_value and not equals else 1
            continue
        return token
    return None


def entry() -> None:
    """The `hakit` console script."""
    from hakit.spec.read_ahead import read_ahead

    with read_ahead(inventory_argument(sys.argv[1:])) as early:  # stopped even if an import fails
        from hakit.cli import entry as run

        run(early)


if __name__ == "__main__":
    entry()

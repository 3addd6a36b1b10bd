"""Errors that the CLI turns into clean one-line messages and an exit code (never a traceback)."""

from __future__ import annotations


class HakitError(Exception):
    """A user-facing failure: one or more one-line messages and the exit code to use."""

    exit_code = 1

    def __init__(self, lines: list[str] | str, exit_code: int | None = None) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__("\n".join(self.lines))


class SpecError(HakitError):
    """Invalid input (inventory, stack config): every problem as `FILE:LINE: path.to.field: rule`."""

    exit_code = 2

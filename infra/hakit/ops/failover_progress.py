"""How runbooks report progress: a small protocol the CLI implements with rich and tests record."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """Receives runbook progress; must not raise."""

    def info(self, message: str) -> None:
        """A step started or finished."""
        ...

    def warn(self, message: str) -> None:
        """Something the operator should know (a retry, a skipped step)."""
        ...

    def wait_started(self, title: str, timeout: float) -> None:
        """A bounded wait began (e.g. for the writer to flip)."""
        ...

    def wait_progress(self, elapsed: float, detail: str) -> None:
        """One poll of a wait: seconds elapsed and what was observed."""
        ...

    def wait_finished(self, ok: bool, detail: str) -> None:
        """The wait ended (ok=False on timeout)."""
        ...


class NullReporter:
    """Discards progress (library use without output)."""

    def info(self, message: str) -> None:
        """Ignore."""

    def warn(self, message: str) -> None:
        """Ignore."""

    def wait_started(self, title: str, timeout: float) -> None:
        """Ignore."""

    def wait_progress(self, elapsed: float, detail: str) -> None:
        """Ignore."""

    def wait_finished(self, ok: bool, detail: str) -> None:
        """Ignore."""

"""Read a large YAML file in a forked child while this process imports what will validate it.

On a large inventory, reading the YAML and importing pydantic with the models take about as long as
each other, and neither needs the other: with two cores they overlap. Fork while the process is still
small (`hakit.launch` does, before typer and pydantic): a page the two processes share is copied on
the first write by either, and that ate the whole gain when the fork came after the imports.

The child runs `yaml_reader.read_document`, the read a serial load runs, and sends
the document back in `marshal` form. Whatever is unusual leaves the read to the caller, so the
document is never different, only sooner: no `fork` on this system, other threads running, not a
regular file, a small file, a file the reader refuses (the caller's own read reports it), a value
`marshal` cannot carry, a dead child.
"""

from __future__ import annotations

import gc
import os
import signal
import stat
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hakit.spec.yaml_reader import YamlDocument

MIN_BYTES = 1 << 20
"""Smaller files are read in-process: a 1 MB inventory reads in ~0.1 s, not worth a process."""


class ReadAhead:
    """A read of one file, started in a child process (or not started at all)."""

    def __init__(self, path: Path | None = None, pid: int = 0, fd: int = -1) -> None:
        self.path = path
        self._pid = pid
        self._fd = fd

    @property
    def started(self) -> bool:
        """True while a child is reading (or has read and not been collected)."""
        return self._pid > 0

    def take(self, path: str | os.PathLike[str]) -> YamlDocument | None:
        """The document of `path` if this is a read of that path and it succeeded; None: read it yourself."""
        if not self.started or self.path != Path(path):
            self.close()
            return None
        chunks: list[bytes] = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                chunks.append(chunk)
        except BaseException:  # interrupted: the child must not outlive the wait for it
            self._collect(kill=True)
            raise
        status = self._collect(kill=False)
        if status != 0 or not chunks:
            return None
        from hakit.spec.yaml_reader import document_from_bytes

        try:
            return document_from_bytes(b"".join(chunks))
        except (ValueError, EOFError, TypeError):
            return None

    def close(self) -> None:
        """Stop the child if it still runs and collect it (nothing is left behind)."""
        if self.started:
            self._collect(kill=True)

    def _collect(self, *, kill: bool) -> int:
        """Close the pipe and wait for the child (killed first if asked); its exit status."""
        pid, self._pid = self._pid, 0
        os.close(self._fd)
        self._fd = -1
        if kill:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def read_ahead(path: str | os.PathLike[str] | None, *, min_bytes: int | None = None) -> ReadAhead:
    """Start reading `path` in a child when that can only help (see the module); else a read not started.

    Only for a program that runs no other threads yet (a command line at its start): a forked child
    gets one thread, and a lock another thread held would stay locked in it. `min_bytes`: `MIN_BYTES`.
    """
    if path is None or not hasattr(os, "fork") or threading.active_count() > 1:
        return ReadAhead()
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return ReadAhead()
    # A FIFO or a device would be consumed by the child and then be empty for the caller's own read.
    if not stat.S_ISREG(info.st_mode) or info.st_size < (MIN_BYTES if min_bytes is None else min_bytes):
        return ReadAhead()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: read, send, and leave without running the parent's exit handlers
        os.close(read_end)
        os._exit(_read_into(path, write_end))
    os.close(write_end)
    return ReadAhead(Path(path), pid, read_end)


def _read_into(path: str | os.PathLike[str], fd: int) -> int:
    """In the child: parse `path` and write its document to `fd`; the exit status (0: sent)."""
    try:
        gc.disable()  # the parse builds no cycles; a short-lived process need not look for them
        from hakit.spec.yaml_reader import document_bytes, read_document

        # Not blocking on a FIFO that replaced the file since the parent looked, and only a regular file.
        source = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(source).st_mode):
            return 1
        blob = document_bytes(read_document(source))
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view) :]
        return 0
    except BaseException:  # any failure means "read it yourself": that read reports it
        return 1

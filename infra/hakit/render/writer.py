"""Write a rendered tree atomically (temp dir next to OUT, then swap) and compare a tree with disk."""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hakit.errors import HakitError
from hakit.render.tree import RenderedTree

MARKER = ".hakit-tree"
"""File at the top of every output tree; a directory without it is never replaced."""
_MARKER_TEXT = "Written by `hakit render`. This whole directory is replaced on every render.\n"


def _check_replaceable(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise HakitError(f"{out}: exists and is not a directory; refusing to replace it")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise HakitError(
            f"{out}: not empty and not a hakit output tree (no {MARKER}); refusing to replace it"
        )


def _make_dirs(top: Path, directory: Path) -> None:
    """Create `directory` and its parents below `top` as 0755 whatever the umask.

    keepalived's script security refuses scripts in directories writable by group or others.
    """
    missing = []
    while directory != top and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
        os.chmod(path, 0o755)


def write_file(path: Path, content: str, mode: int, *, exclusive: bool = False) -> None:
    """Write `content` to `path` with `mode` from its creation on (a secret is never readable by others).

    `exclusive` refuses a file that already exists (O_EXCL).
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, mode)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        # The umask may have narrowed the mode and O_CREAT keeps an existing file's: set it before writing.
        os.fchmod(fd, mode)
        handle.write(content)


def _populate(tree: RenderedTree, top: Path) -> None:
    (top / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
    for host in sorted(tree):
        for relative in sorted(tree[host]):
            rendered = tree[host][relative]
            target = top / host / relative
            _make_dirs(top, target.parent)
            write_file(target, rendered.content, rendered.effective_mode, exclusive=True)


def write_tree(tree: RenderedTree, out_dir: str | Path) -> Path:
    """Write `tree` to `out_dir/<host>/<path>`: all or nothing; secrets 0600; previous tree replaced.

    The new tree is built in a temporary directory next to `out_dir` and swapped in with renames, so a
    failure while writing leaves the previous tree untouched.
    """
    out = Path(out_dir)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        os.chmod(staging, 0o755)
        _populate(tree, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not out.exists():
        os.rename(staging, out)
        return out
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(retired)
    os.rename(out, retired)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired, out)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)
    return out


@dataclass(frozen=True)
class TreeChange:
    """One difference between a rendered tree and the tree on disk."""

    path: str
    kind: str  # "added", "removed", "changed", "mode"
    diff: str = ""


def diff_tree(tree: RenderedTree, out_dir: str | Path) -> list[TreeChange]:
    """What writing `tree` to `out_dir` would change (secret contents are never shown)."""
    out = Path(out_dir)
    on_disk: set[str] = set()
    if out.is_dir():
        for path in out.rglob("*"):
            if path.is_file() and path.name != MARKER:
                on_disk.add(path.relative_to(out).as_posix())
    wanted = {
        f"{host}/{relative}": rendered for host, files in tree.items() for relative, rendered in files.items()
    }
    changes: list[TreeChange] = []
    for key in sorted(on_disk | set(wanted)):
        if key not in wanted:
            changes.append(TreeChange(key, "removed"))
            continue
        rendered = wanted[key]
        if key not in on_disk:
            changes.append(TreeChange(key, "added"))
            continue
        current_path = out / key
        current = current_path.read_bytes().decode("utf-8", errors="replace")
        if current != rendered.content:
            if rendered.secret:
                text = f"(secret file: {key} differs, content not shown)\n"
            else:
                text = "".join(
                    difflib.unified_diff(
                        current.splitlines(keepends=True),
                        rendered.content.splitlines(keepends=True),
                        fromfile=f"a/{key}",
                        tofile=f"b/{key}",
                    )
                )
            changes.append(TreeChange(key, "changed", text))
        elif (current_path.stat().st_mode & 0o7777) != rendered.effective_mode:
            mode = current_path.stat().st_mode & 0o7777
            changes.append(TreeChange(key, "mode", f"mode {mode:04o} -> {rendered.effective_mode:04o}\n"))
    return changes

"""Write a rendered tree atomically and compare a tree with what is on disk.

How `write_tree` replaces OUT (every step under an exclusive lock on `PARENT/.OUT.hakit-lock`):

1. staging directories left by earlier runs that died (`.OUT.hakit-new-*`, `.OUT.hakit-old-*`) are
   removed; if a run died between the two renames of the fallback below, its old tree is put back first;
2. the new tree is staged, in a directory that stays 0700 until step 3: either the spare tree
   `PARENT/.OUT.hakit-spare` (the generation before OUT) brought up to date file by file, every file
   and directory checked, so only what changed is written and a spare left half-updated by a killed
   run is repaired; or, on a first render, a new `PARENT/.OUT.hakit-new-XXXX` (directories created
   once, each file opened once with its final mode);
3. the filesystem is flushed (`syncfs`), the staging directory made 0755;
4. staging and OUT trade places in one `renameat2(RENAME_EXCHANGE)`, so OUT is at every instant
   either the complete old or the complete new tree, and always a plain directory; the parent
   directory is fsynced;
5. the old tree, now under the staging name, becomes the spare (0700) for the next render;
6. what each tree holds is recorded in `PARENT/.OUT.hakit-record` (0600): per directory and file its
   inode, size, mode, mtime and ctime, and a digest of each file's content. The next render checks the
   spare against its record with one `stat` per entry instead of listing every directory and reading
   every file, and rewrites only the files whose digest changed. Anything the record does not match
   exactly (a killed run, an edit, a touch, a missing or foreign record) falls back to the full check.

Where the kernel or filesystem has no RENAME_EXCHANGE, OUT is renamed aside (`.OUT.hakit-old-*`) and
the new tree renamed in; a kill between the two leaves OUT missing until the next run puts the old
tree back (step 1).
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import errno
import fcntl
import hashlib
import marshal
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hakit.errors import HakitError
from hakit.render.tree import RenderedTree

MARKER = ".hakit-tree"
"""File at the top of every output tree; a directory without it is never replaced."""
_MARKER_TEXT = "Written by `hakit render`. This whole directory is replaced on every render.\n"

LOCK_WAIT_S = 120.0
"""How long a render waits for another render of the same OUT before giving up."""
_LOCK_POLL_S = 0.02

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def lock_path(out: Path) -> Path:
    """The lock file of OUT: beside it, never inside (OUT itself is swapped)."""
    return out.parent / f".{out.name}.hakit-lock"


def _staging_re(name: str) -> re.Pattern[str]:
    # Ours, plus the names the writer used before it took a lock (`.OUT.new-XXXXXXXX`).
    escaped = re.escape(name)
    return re.compile(rf"\.{escaped}\.(?:hakit-(?:new|old)-[A-Za-z0-9_]+|(?:new|old)-[a-z0-9_]{{8}})")


@contextlib.contextmanager
def tree_lock(out: Path, *, shared: bool = False, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold OUT's lock: exclusive to write, shared to read; wait at most `wait_s`, then one-line error.

    A reader that cannot create the lock file (read-only parent) reads without it.
    """
    path = lock_path(out)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        if shared:
            yield
            return
        raise
    try:
        deadline = time.monotonic() + wait_s
        operation = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        while True:
            try:
                fcntl.flock(fd, operation)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                    raise HakitError(
                        f"{out}: another hakit process (pid {holder}) holds {path.name}; "
                        f"gave up after {wait_s:g}s"
                    ) from None
                time.sleep(_LOCK_POLL_S)
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _check_replaceable(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise HakitError(f"{out}: exists and is not a directory; refusing to replace it")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise HakitError(
            f"{out}: not empty and not a hakit output tree (no {MARKER}); refusing to replace it"
        )


def _current_umask() -> int:
    """The process umask without changing it (changing it would race with other threads)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_file(path: Path, content: str, mode: int, *, exclusive: bool = False) -> None:
    """Write `content` to `path` with `mode` from its creation on (a secret is never readable by others).

    `exclusive` refuses a file that already exists (O_EXCL).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, mode)
    try:
        # The umask may have narrowed the mode and O_CREAT keeps an existing file's: set it before writing.
        os.fchmod(fd, mode)
        _write_fd(fd, content.encode("utf-8"))
    finally:
        os.close(fd)


def _relative_parts(relative: str) -> list[str]:
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a plain relative path inside the tree: {relative!r}")
    return parts


Wanted = tuple[dict[str, tuple[bytes, int]], set[str]]
"""Relative path -> (content, mode) of every file, and every directory, of a tree to write."""


def _wanted(tree: RenderedTree) -> Wanted:
    files: dict[str, tuple[bytes, int]] = {MARKER: (_MARKER_TEXT.encode(), 0o644)}
    directories: set[str] = set()
    # Fleets repeat the same relative paths and contents on every host: split and check each path,
    # and encode each content, once.
    parents_of: dict[str, tuple[str, ...]] = {}
    encoded: dict[str, bytes] = {}
    for host, host_files in tree.items():
        host_parts = _relative_parts(host)
        directories.update("/".join(host_parts[:depth]) for depth in range(1, len(host_parts) + 1))
        below: set[str] = set()
        for relative, rendered in host_files.items():
            parents = parents_of.get(relative)
            if parents is None:
                parts = _relative_parts(relative)
                parents = parents_of[relative] = tuple(
                    "/".join(parts[:depth]) for depth in range(1, len(parts))
                )
            below.update(parents)
            content = rendered.content
            data = encoded.get(content)
            if data is None:
                data = encoded[content] = content.encode("utf-8")
            files[f"{host}/{relative}"] = (data, rendered.effective_mode)
        directories.update(f"{host}/{directory}" for directory in below)
    return files, directories


def _make_directories(directories: Iterable[str], top_fd: int, umask: int) -> None:
    # Sorted, a parent comes before its children. keepalived's script security refuses scripts in
    # directories writable by group or others: 0755 whatever the umask.
    for directory in sorted(directories):
        os.mkdir(directory, 0o755, dir_fd=top_fd)
        if umask & 0o755:
            os.chmod(directory, 0o755, dir_fd=top_fd)


def _create_file(relative: str, data: bytes, mode: int, top_fd: int, umask: int) -> None:
    fd = os.open(relative, _FILE_FLAGS, mode, dir_fd=top_fd)
    try:
        if umask & mode:
            os.fchmod(fd, mode)
        written = os.write(fd, data)
        if written < len(data):
            _write_fd(fd, data[written:])
    finally:
        os.close(fd)


def _populate(wanted: Wanted, top_fd: int) -> None:
    """Write every file below the empty directory `top_fd`: each directory made once, each file opened
    once with its final mode."""
    files, directories = wanted
    umask = _current_umask()
    _make_directories(directories, top_fd, umask)
    for relative, (data, mode) in files.items():
        _create_file(relative, data, mode, top_fd, umask)


def _same_file(relative: str, data: bytes, mode: int, top_fd: int) -> bool:
    fd = os.open(relative, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=top_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o7777 != mode or info.st_size != len(data):
            return False
        return os.read(fd, len(data) + 1) == data
    finally:
        os.close(fd)


def _listing(prefix: str, top_fd: int) -> list[tuple[str, bool, bool]]:
    """(name, is a directory, is a regular file) for the entries of `prefix` (links are not followed)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(prefix, flags, dir_fd=top_fd) if prefix else top_fd
    try:
        with os.scandir(fd) as entries:
            return [
                (e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False)) for e in entries
            ]
    finally:
        if prefix:
            os.close(fd)


def _update(wanted: Wanted, top_fd: int) -> None:
    """Make the directory `top_fd` (the spare tree: an earlier generation) hold exactly `wanted`.

    Everything is checked, so a spare left half-updated by a killed run is repaired. A file that
    differs is unlinked and created anew (a reader of that generation keeps its inode); anything
    unexpected (a link, a FIFO, a stray file or directory) is removed, never followed.
    """
    files, directories = wanted
    umask = _current_umask()
    kept_files: set[str] = set()
    kept_directories: set[str] = set()
    pending = [""]
    while pending:
        prefix = pending.pop()
        for name, is_directory, is_file in _listing(prefix, top_fd):
            relative = prefix + name
            if is_directory and relative in directories:
                kept_directories.add(relative)
                pending.append(relative + "/")
                if os.stat(relative, dir_fd=top_fd, follow_symlinks=False).st_mode & 0o7777 != 0o755:
                    os.chmod(relative, 0o755, dir_fd=top_fd)
            elif is_file and relative in files and _same_file(relative, *files[relative], top_fd):
                kept_files.add(relative)
            elif is_directory:
                shutil.rmtree(relative, dir_fd=top_fd)
            else:
                os.unlink(relative, dir_fd=top_fd)
    _make_directories(directories - kept_directories, top_fd, umask)
    for relative, (data, mode) in files.items():
        if relative not in kept_files:
            _create_file(relative, data, mode, top_fd, umask)


RECORD_VERSION = 2
_RECORD_STAMP_TRIES = 200


def record_path(out: Path) -> Path:
    """Where the stats of OUT's and the spare's entries are kept (0600), beside OUT."""
    return out.parent / f".{out.name}.hakit-record"


Record = dict[str, Any]
"""One tree's entries: `dirs` rel -> [ino, mode, mtime, ctime]; `files` rel -> [ino, size, mode, mtime,
ctime, digest]; `dev`, `ino` and `mtime` of the top directory; `newest`: the latest time in it."""


def _digest(data: bytes, digests: dict[bytes, str]) -> str:
    found = digests.get(data)
    if found is None:
        found = digests[data] = hashlib.blake2b(data, digest_size=16).hexdigest()
    return found


def _record_tree(
    wanted: Wanted,
    top_fd: int,
    digests: dict[bytes, str],
    known: Record | None = None,
    touched: Collection[str] = (),
) -> Record | None:
    """The record of the tree below `top_fd`, which holds exactly `wanted`; None if it does not.

    Entries of `known` (a verified record of the same tree) are reused unless their path, or for a
    directory one of its entries, is in `touched`.
    """
    files, directories = wanted
    known_dirs: dict[str, list[int]] = known["dirs"] if known else {}
    known_files: dict[str, list[Any]] = known["files"] if known else {}
    dirs: dict[str, list[int]] = {}
    for relative in directories:
        entry = known_dirs.get(relative)
        if entry is None or relative in touched:
            info = os.stat(relative, dir_fd=top_fd, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o7777 != 0o755:
                return None
            entry = [info.st_ino, 0o755, info.st_mtime_ns, info.st_ctime_ns]
        dirs[relative] = entry
    recorded: dict[str, list[Any]] = {}
    for relative, (data, mode) in files.items():
        item = known_files.get(relative)
        if item is None or relative in touched:
            info = os.stat(relative, dir_fd=top_fd, follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o7777 != mode or info.st_size != len(data):
                return None
            item = [
                info.st_ino,
                info.st_size,
                mode,
                info.st_mtime_ns,
                info.st_ctime_ns,
                _digest(data, digests),
            ]
        recorded[relative] = item
    top = os.fstat(top_fd)
    newest = max(
        [top.st_mtime_ns]
        + [max(entry[2], entry[3]) for entry in dirs.values()]
        + [max(item[3], item[4]) for item in recorded.values()]
    )
    return {
        "dev": top.st_dev,
        "ino": top.st_ino,
        "mtime": top.st_mtime_ns,
        "newest": newest,
        "dirs": dirs,
        "files": recorded,
    }


def _read_records(out: Path) -> tuple[dict[tuple[int, int], bytes], int]:
    """The records in OUT's record file by (dev, ino) of the tree they describe, and the file's mtime.

    Only a regular file of this user that nobody else can write is read (never through a link). It is
    marshal data: the fastest to read and write (JSON cost ~40 ms a render at 1000 hosts), and this
    user's own file; anything unreadable counts as no record.
    """
    try:
        fd = os.open(record_path(out), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return {}, 0
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            return {}, 0
        with open(fd, "rb", closefd=False) as handle:
            data = handle.read()
    finally:
        os.close(fd)
    try:
        found = marshal.loads(data)
        trees = found["trees"] if found["version"] == RECORD_VERSION else {}
        records = {key: blob for key, blob in trees.items() if isinstance(blob, bytes)}
    except (ValueError, EOFError, TypeError, KeyError, AttributeError, MemoryError, OverflowError):
        return {}, 0  # a damaged file: no record
    return records, info.st_mtime_ns


def _parse_record(blob: bytes | None, stamp: int, top: os.stat_result) -> Record | None:
    """The record in `blob` if it describes the tree `top` and was stamped after its newest entry."""
    if blob is None:
        return None
    try:
        record = marshal.loads(blob)
        valid = (
            (record["dev"], record["ino"]) == (top.st_dev, top.st_ino)
            and record["newest"] < stamp
            and isinstance(record["dirs"], dict)
            and isinstance(record["files"], dict)
        )
    except (ValueError, EOFError, KeyError, TypeError, MemoryError, OverflowError):
        return None
    return record if valid else None


def _matches(record: Record, top_fd: int) -> bool:
    """True when every directory and file of `record` is there with the same inode, size, mode and times.

    A content change, a chmod, a new or removed entry (its directory's mtime), a link or rename all change
    one of them; the record was stamped after its newest time, so a later change cannot look the same.
    """
    top = os.fstat(top_fd)
    if (top.st_dev, top.st_ino, top.st_mtime_ns) != (record["dev"], record["ino"], record["mtime"]):
        return False
    try:
        for relative, (ino, mode, mtime, ctime) in record["dirs"].items():
            info = os.stat(relative, dir_fd=top_fd, follow_symlinks=False)
            if (
                info.st_ino != ino
                or info.st_mtime_ns != mtime
                or info.st_ctime_ns != ctime
                or info.st_mode != stat.S_IFDIR | mode
            ):
                return False
        for relative, (ino, size, mode, mtime, ctime, _digest_hex) in record["files"].items():
            info = os.stat(relative, dir_fd=top_fd, follow_symlinks=False)
            if (
                info.st_ino != ino
                or info.st_size != size
                or info.st_mtime_ns != mtime
                or info.st_ctime_ns != ctime
                or info.st_mode != stat.S_IFREG | mode
            ):
                return False
    except (OSError, ValueError, TypeError):
        return False
    return True


def _apply_record(
    record: Record | None, wanted: Wanted, top_fd: int, digests: dict[bytes, str]
) -> set[str] | None:
    """Bring the spare `top_fd` to `wanted` using its record: the paths touched, or None when the spare
    does not match its record (then `_update` checks everything)."""
    if record is None or not _matches(record, top_fd):
        return None
    files, directories = wanted
    recorded_files: dict[str, list[Any]] = record["files"]
    recorded_dirs: dict[str, list[int]] = record["dirs"]
    touched: set[str] = set()
    kept: set[str] = set()
    for relative, entry in recorded_files.items():
        want = files.get(relative)
        if want is not None and entry[2] == want[1] and entry[5] == _digest(want[0], digests):
            kept.add(relative)
            continue
        os.unlink(relative, dir_fd=top_fd)
        touched.add(relative)
        touched.add(relative.rpartition("/")[0])
    for relative in sorted(recorded_dirs.keys() - directories, reverse=True):  # children first
        os.rmdir(relative, dir_fd=top_fd)
        touched.add(relative.rpartition("/")[0])
    umask = _current_umask()
    created = directories - recorded_dirs.keys()
    _make_directories(created, top_fd, umask)
    touched.update(created)
    touched.update(directory.rpartition("/")[0] for directory in created)
    for relative, (data, mode) in files.items():
        if relative not in kept:
            _create_file(relative, data, mode, top_fd, umask)
            touched.add(relative)
            touched.add(relative.rpartition("/")[0])
    return touched


def _save_records(out: Path, record: Record | None, kept: dict[tuple[int, int], bytes]) -> None:
    """Write OUT's record file: `record` (the tree now OUT) and the records in `kept` (the spare's).

    Its mtime is made later than every time `record` holds: timestamps tick coarsely, and a change in
    the same tick as the record would otherwise look unchanged to `_matches`. The record only saves
    time: when it cannot be written, the next render checks the spare in full.
    """
    trees = dict(kept)
    newest = 0
    if record is not None:
        trees[(record["dev"], record["ino"])] = marshal.dumps(record)
        newest = record["newest"]
    path = record_path(out)
    temporary = path.with_name(path.name + ".tmp")
    with contextlib.suppress(OSError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            _write_fd(fd, marshal.dumps({"version": RECORD_VERSION, "trees": trees}))
            for _ in range(_RECORD_STAMP_TRIES):
                if os.fstat(fd).st_mtime_ns > newest:
                    break
                time.sleep(0.001)
                os.utime(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def _syncfs(fd: int) -> None:
    """Flush the filesystem holding `fd` (one call instead of an fsync per file)."""
    function = getattr(_LIBC, "syncfs", None)
    if function is None or function(fd) != 0:
        os.sync()


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directory entries atomically; False when the kernel or filesystem cannot."""
    function = getattr(_LIBC, "renameat2", None)
    if function is None:
        return False
    result = function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first))


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_tree(path: Path) -> None:
    # Secrets inside stay unreadable to others while the tree is being deleted.
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def _recover_and_clean(out: Path) -> None:
    """Under the lock: put back an old tree orphaned between two renames, then drop stale staging dirs."""
    pattern = _staging_re(out.name)
    leftovers = [
        entry
        for entry in os.scandir(out.parent)
        if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
    ]
    if not os.path.lexists(out):
        retired = [e for e in leftovers if "old-" in e.name and os.path.isfile(Path(e.path) / MARKER)]
        if retired:
            newest = max(retired, key=lambda entry: entry.stat(follow_symlinks=False).st_mtime)
            os.rename(newest.path, out)
            leftovers.remove(newest)
    for entry in leftovers:
        _remove_tree(Path(entry.path))


def spare_path(out: Path) -> Path:
    """The previous generation of OUT, kept beside it (0700) and updated into the next one."""
    return out.parent / f".{out.name}.hakit-spare"


def _usable_spare(spare: Path) -> bool:
    """True when `spare` is a directory this user's earlier render left (never a link)."""
    try:
        info = os.lstat(spare)
    except FileNotFoundError:
        return False
    marker = spare / MARKER
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.geteuid()
        or marker.is_symlink()
        or not marker.is_file()
    ):
        raise HakitError(
            f"{spare}: not a spare tree left by `hakit render`; refusing to reuse it (remove it)"
        )
    return True


def write_tree(tree: RenderedTree, out_dir: str | Path, *, lock_wait_s: float = LOCK_WAIT_S) -> Path:
    """Write `tree` to `out_dir/<host>/<path>`: all or nothing; secrets 0600; previous tree replaced.

    Safe against a kill at any point (OUT is the complete old or new tree) and against concurrent
    renders of the same OUT (they take turns; one that waits over `lock_wait_s` fails with one line).
    The previous tree is kept beside OUT (`.OUT.hakit-spare`, 0700) and brought up to date by the next
    render, so a re-render touches only the files that changed instead of deleting and creating all.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tree_lock(out, wait_s=lock_wait_s):
        _recover_and_clean(out)
        _check_replaceable(out)
        wanted = _wanted(tree)
        spare = spare_path(out)
        reuse = _usable_spare(spare)
        lines, stamp = _read_records(out)
        digests: dict[bytes, str] = {}
        replacing = os.path.lexists(out)
        if reuse:
            os.chmod(spare, 0o700)
            staging = spare
        else:
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.hakit-new-", dir=out.parent))  # 0700
        try:
            top_fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                known = None
                touched: set[str] | None = set()
                if reuse:
                    top = os.fstat(top_fd)
                    known = _parse_record(lines.get((top.st_dev, top.st_ino)), stamp, top)
                    touched = _apply_record(known, wanted, top_fd, digests)
                    if touched is None:
                        known = None
                        _update(wanted, top_fd)
                else:
                    _populate(wanted, top_fd)
                _syncfs(top_fd)
                os.fchmod(top_fd, 0o755)
                # Only a tree that replaces another will become a spare: a first render records nothing.
                record = _record_tree(wanted, top_fd, digests, known, touched or ()) if replacing else None
            finally:
                os.close(top_fd)
            _swap_in(staging, out)
        except BaseException:
            if not reuse:
                _remove_tree(staging)  # a spare left half-updated is repaired by the next run
            raise
        # The staging name now holds the previous tree (unless OUT did not exist): the next spare.
        if os.path.lexists(staging):
            os.chmod(staging, 0o700)
            if staging != spare:
                os.rename(staging, spare)
        kept: dict[tuple[int, int], bytes] = {}
        with contextlib.suppress(OSError):
            previous = os.lstat(spare)
            key = (previous.st_dev, previous.st_ino)
            if key in lines:
                kept[key] = lines[key]
        if record is not None or kept:
            _save_records(out, record, kept)
    return out


def _swap_in(staging: Path, out: Path) -> None:
    """Make `staging` OUT; the previous OUT (if any) ends up under the staging name."""
    if not os.path.lexists(out):
        os.rename(staging, out)
    elif not _exchange(staging, out):
        retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.hakit-old-", dir=out.parent))
        os.rmdir(retired)
        os.rename(out, retired)
        try:
            os.rename(staging, out)
        except BaseException:
            os.rename(retired, out)
            raise
        os.rename(retired, staging)
    _fsync_directory(out.parent)


@dataclass(frozen=True)
class TreeChange:
    """One difference between a rendered tree and the tree on disk."""

    path: str
    kind: str  # "added", "removed", "changed", "mode", "refused" (a link or special file in OUT)
    diff: str = ""


SECRET_CHANGED = "secret file changed (content not shown)\n"


@dataclass(frozen=True)
class DiskFile:
    """A regular file found in an output tree (read without following links)."""

    content: bytes
    mode: int

    @property
    def secret(self) -> bool:
        """Unreadable to group and others on disk: treated as a secret."""
        return not self.mode & 0o077


def scan_tree(out: Path) -> tuple[dict[str, DiskFile], dict[str, str]]:
    """Regular files below `out` (relative path -> file) and what was refused (path -> why).

    Symbolic links are never followed (a link to /etc/passwd must not be printed or validated), and
    FIFOs and devices are never opened: `hakit render` writes neither.
    """
    found: dict[str, DiskFile] = {}
    refused: dict[str, str] = {}
    pending = [""]
    while pending:
        prefix = pending.pop()
        with os.scandir(out / prefix if prefix else out) as entries:
            for entry in entries:
                relative = f"{prefix}{entry.name}"
                if entry.is_symlink():
                    refused[relative] = "a symbolic link (not followed)"
                elif entry.is_dir(follow_symlinks=False):
                    pending.append(relative + "/")
                elif entry.is_file(follow_symlinks=False):
                    read = _read_regular(Path(entry.path))
                    if read is None:
                        refused[relative] = "replaced while being read (not followed)"
                    else:
                        found[relative] = read
                else:
                    refused[relative] = "not a regular file (not opened)"
    return found, refused


def _read_regular(path: Path) -> DiskFile | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOENT):
            return None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return DiskFile(b"".join(chunks), info.st_mode & 0o7777)
    finally:
        os.close(fd)


def diff_tree(tree: RenderedTree, out_dir: str | Path) -> list[TreeChange]:
    """What writing `tree` to `out_dir` would change.

    A file is secret when either side is (marked secret in `tree`, or not readable by others on disk):
    its change is reported without any content. Links and special files in OUT are reported, not read.
    """
    out = Path(out_dir)
    on_disk: dict[str, DiskFile] = {}
    refused: dict[str, str] = {}
    if out.is_dir() and not out.is_symlink():
        with tree_lock(out, shared=True):
            on_disk, refused = scan_tree(out)
    on_disk.pop(MARKER, None)
    wanted = {
        f"{host}/{relative}": rendered for host, files in tree.items() for relative, rendered in files.items()
    }
    changes: list[TreeChange] = []
    for key in sorted(set(on_disk) | set(wanted) | set(refused)):
        if key in refused:
            changes.append(TreeChange(key, "refused", refused[key] + "\n"))
            continue
        if key not in wanted:
            changes.append(TreeChange(key, "removed"))
            continue
        rendered = wanted[key]
        if key not in on_disk:
            changes.append(TreeChange(key, "added"))
            continue
        disk = on_disk[key]
        current = disk.content.decode("utf-8", errors="replace")
        if current != rendered.content:
            if rendered.secret or disk.secret:
                text = SECRET_CHANGED
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
        elif disk.mode != rendered.effective_mode:
            changes.append(
                TreeChange(key, "mode", f"mode {disk.mode:04o} -> {rendered.effective_mode:04o}\n")
            )
    return changes

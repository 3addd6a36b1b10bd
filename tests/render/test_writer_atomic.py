"""The writer under kill -9 and concurrency: OUT is always a complete tree, nothing is left beside it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hakit.render.tree import RenderedFile, RenderedTree
from hakit.render.writer import MARKER, write_tree
from render_support import REPO

HOSTS = 6
FILES_PER_HOST = 12


def generation(number: int) -> RenderedTree:
    """A tree whose every file names its generation (some of them secret)."""
    return {
        f"h{host:03d}": {
            f"etc/d{index % 4}/f{index}.conf": RenderedFile(
                f"generation {number}\n{'x' * 300}\n", secret=index % 7 == 0
            )
            for index in range(FILES_PER_HOST)
        }
        for host in range(HOSTS)
    }


def tree_generation(out: Path) -> int:
    """The generation OUT holds; fails unless it is one whole generation with the right modes."""
    assert out.is_dir() and not out.is_symlink(), f"{out} is missing"
    assert (out / MARKER).is_file()
    seen: set[int] = set()
    count = 0
    for path in out.rglob("*.conf"):
        seen.add(int(path.read_text().split("\n", 1)[0].split()[1]))
        index = int(path.stem[1:])
        assert path.stat().st_mode & 0o777 == (0o600 if index % 7 == 0 else 0o644), path
        count += 1
    assert len(seen) == 1, f"a mix of generations {sorted(seen)}"
    assert count == HOSTS * FILES_PER_HOST, f"{count} files: an incomplete tree"
    return seen.pop()


@pytest.fixture
def small_inventory(tmp_path: Path) -> Path:
    """20 load balancers in HAProxy pairs (JSON is YAML), independent of the example's contents."""
    hosts: dict[str, object] = {}
    clusters: dict[str, object] = {}
    for pair in range(10):
        net = f"198.18.{pair}"
        names = [f"lb{pair:04d}a", f"lb{pair:04d}b"]
        for number, name in enumerate(names, start=1):
            hosts[name] = {"interfaces": {"eth0": {"address": f"{net}.{10 + number}/24"}}}
        clusters[f"c{pair}"] = {
            "nodes": {names[0]: {"priority": 150}, names[1]: {"priority": 100}},
            "vrrp": {"instances": {"VI_1": {"interface": "eth0", "vrid": 51, "vips": [f"{net}.100/24"]}}},
            "proxy": {
                "kind": "haproxy",
                "frontends": {"www": {"addresses": [f"{net}.100"], "port": 80, "backend": "app"}},
                "backends": {
                    "app": {"servers": {f"app{n}": {"address": f"{net}.2{n}", "port": 8080} for n in (1, 2)}}
                },
            },
        }
    path = tmp_path / "inventory" / "inventory.yaml"
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "hosts": hosts, "load_balancers": clusters}, indent=1))
    return path


def leftovers(out: Path) -> list[str]:
    """Entries beside OUT other than OUT, its lock file, the spare and their record."""
    kept = (out.name, f".{out.name}.hakit-lock", f".{out.name}.hakit-spare", f".{out.name}.hakit-record")
    return sorted(p.name for p in out.parent.iterdir() if p.name not in kept)


WRITER_LOOP = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_writer_atomic import generation
    from hakit.render.writer import write_tree
    write_tree(generation(1), {out!r})
    print("ready", flush=True)
    number = 2
    while True:
        write_tree(generation(number), {out!r})
        number += 1
    """
)


def test_kill_9_at_random_points_leaves_a_complete_tree(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(generation(0), out)
    script = WRITER_LOOP.format(tests=str(REPO / "tests" / "render"), out=str(out))
    rng = random.Random(1313)
    for _ in range(6):
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait()
        tree_generation(out)  # the complete old or the complete new tree, never missing
        write_tree(generation(1000), out)  # the next render cleans what the killed one left
        assert tree_generation(out) == 1000
        assert leftovers(out) == []


def _kill_once_staging_appears(command: list[str], parent: Path, delay: float) -> None:
    """Start `command`, SIGKILL it `delay` s after a staging directory shows up beside OUT."""
    process = subprocess.Popen(command, cwd=parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if any(".out." in name and "lock" not in name for name in os.listdir(parent)):
            time.sleep(delay)
            break
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_kill_9_of_hakit_render_while_it_writes(tmp_path: Path, small_inventory: Path) -> None:
    out = tmp_path / "render" / "out"
    command = [sys.executable, "-m", "hakit.cli", "render", str(small_inventory), "-o", str(out)]
    command.append("--validate=no")
    assert subprocess.run(command, capture_output=True, cwd=tmp_path, check=False).returncode == 0
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    for delay in (0.0, 0.05):
        _kill_once_staging_appears(command, out.parent, delay)
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    done = subprocess.run(command, capture_output=True, cwd=tmp_path, check=False, text=True)
    assert done.returncode == 0, done.stderr
    assert leftovers(out) == []


def test_concurrent_writers_take_turns(tmp_path: Path) -> None:
    out = tmp_path / "out"
    errors: list[BaseException] = []

    def render(number: int) -> None:
        try:
            write_tree(generation(number), out)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=render, args=(number,)) for number in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert 0 <= tree_generation(out) < 16
    assert leftovers(out) == []


def test_a_waiting_render_gives_up_with_one_line(tmp_path: Path) -> None:
    import fcntl

    from hakit.errors import HakitError
    from hakit.render.writer import lock_path

    out = tmp_path / "out"
    write_tree(generation(0), out)
    with open(lock_path(out), "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        holder.write("4242\n")
        holder.flush()
        with pytest.raises(HakitError) as raised:
            write_tree(generation(1), out, lock_wait_s=0.2)
    assert raised.value.lines == [
        f"{out}: another hakit process (pid 4242) holds .out.hakit-lock; gave up after 0.2s"
    ]
    assert tree_generation(out) == 0


FALLBACK_CRASH = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    from test_writer_atomic import generation
    from hakit.render import writer
    writer._exchange = lambda first, second: False  # a filesystem without RENAME_EXCHANGE
    real_rename = os.rename
    def rename(source, target):
        if str(target) == {out!r}:
            os._exit(9)  # killed between moving OUT aside and moving the new tree in
        real_rename(source, target)
    os.rename = rename
    writer.write_tree(generation(1), {out!r})
    """
)


def test_without_rename_exchange_the_next_run_puts_the_old_tree_back(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(generation(0), out)
    script = FALLBACK_CRASH.format(tests=str(REPO / "tests" / "render"), out=str(out))
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 9
    assert not out.exists()
    from hakit.render.writer import _recover_and_clean

    _recover_and_clean(out)
    assert tree_generation(out) == 0
    assert leftovers(out) == []


def test_staging_directory_is_private_while_it_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hakit.render import writer

    seen: list[int] = []

    def spying(real: Any) -> Any:
        def spy(*args: Any) -> Any:
            top_fd = next(arg for arg in args if isinstance(arg, int))
            seen.append(os.fstat(top_fd).st_mode & 0o777)
            return real(*args)

        return spy

    monkeypatch.setattr(writer, "_populate", spying(writer._populate))
    monkeypatch.setattr(writer, "_update", spying(writer._update))
    monkeypatch.setattr(writer, "_apply_record", spying(writer._apply_record))
    write_tree(generation(0), tmp_path / "out")
    write_tree(generation(1), tmp_path / "out")  # out of the spare: private again while updated
    write_tree(generation(2), tmp_path / "out")
    assert len(seen) >= 3 and set(seen) == {0o700}  # each render, whichever way it fills the tree
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / ".out.hakit-spare").stat().st_mode & 0o777 == 0o700


def _snapshot(top: Path) -> dict[str, tuple[str, int]]:
    return {
        p.relative_to(top).as_posix(): ("dir" if p.is_dir() else p.read_text(), p.lstat().st_mode & 0o7777)
        for p in sorted(top.rglob("*"))
    }


def test_the_spare_tree_is_repaired_whatever_happened_to_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(generation(0), out)
    write_tree(generation(1), out)
    spare = tmp_path / ".out.hakit-spare"
    assert tree_generation(spare) == 0  # the generation before OUT
    # A killed update, or anyone with write access, may leave anything there.
    (spare / "h000/etc/d0/f0.conf").write_text("generation 2\nwrong content")
    (spare / "h000/etc/d1/f1.conf").chmod(0o666)
    (spare / "h001/etc/d1/f1.conf").unlink()
    (spare / "h002/etc/d2").rename(spare / "h002/etc/moved")
    (spare / "h003/stray.conf").write_text("x")
    (spare / "h003/passwd").symlink_to("/etc/passwd")
    (spare / "h004/etc/d0").chmod(0o777)
    (spare / "h005/etc/d3/f3.conf").unlink()
    (spare / "h005/etc/d3/f3.conf").mkdir()
    write_tree(generation(2), out)
    expected = tmp_path / "expected"
    write_tree(generation(2), expected)
    assert _snapshot(out) == _snapshot(expected)
    assert Path("/etc/passwd").is_file()


def test_a_spare_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    from hakit.errors import HakitError

    victim = tmp_path / "victim"
    write_tree(generation(0), victim)  # looks like a tree, marker and all
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    (out.parent / ".out.hakit-spare").symlink_to(victim)
    with pytest.raises(HakitError, match="not a spare tree left by `hakit render`"):
        write_tree(generation(1), out)
    assert tree_generation(victim) == 0 and not out.exists()

"""Throwaway network namespaces for daemon checks.

keepalived -t needs the interfaces its config names (veth links of those names: `dummy` links are not
available here); nginx -t binds its listeners, VIPs included (`ip_nonlocal_bind=1` in the namespace).
"""

from __future__ import annotations

import ctypes
import os
import queue
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from hakit.errors import HakitError
from hakit.render.sandbox import TIMEOUT_S, find_binary, require_binary

_CLONE_NEWNET = 0x40000000


def _libc_setns() -> Callable[[int, int], int] | None:
    try:
        function: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).setns
    except (OSError, AttributeError):
        return None
    return function


_SETNS = _libc_setns()


def _setns(fd: int) -> None:
    if _SETNS is None or _SETNS(fd, _CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns: {os.strerror(code)}")


@contextmanager
def inside_netns(name: str) -> Iterator[None]:
    """Move the calling thread, and only it, into network namespace `name` for the block.

    A network namespace belongs to a thread, and a child process starts in its parent thread's: a daemon
    started here checks its config inside `name` with no `ip netns exec` in between (that costs a
    process, a private mount namespace and a sysfs mount per check).
    """
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(original)


def keepalived_interfaces(keepalived_conf: str) -> set[str]:
    """Interface names a keepalived config refers to (instances, VIP `dev`, track_interface blocks)."""
    names: set[str] = set()
    in_track = False
    for raw in keepalived_conf.splitlines():
        line = raw.split("!")[0].split("#")[0].strip()
        if in_track:
            if line.startswith("}"):
                in_track = False
            elif line:
                names.add(line.split()[0])
            continue
        words = line.split()
        if words[:1] == ["interface"] and len(words) > 1:
            names.add(words[1])
        elif words[:1] == ["track_interface"]:
            in_track = True
        if "dev" in words[:-1]:
            names.add(words[words.index("dev") + 1])
    return names


class NetnsPool:
    """Network namespaces for checks: loopback up, nonlocal bind on, veth links with the wanted names."""

    def __init__(self, size: int, interfaces: set[str]) -> None:
        self._names = [f"hakit-v{os.getpid()}-{index}-{os.urandom(2).hex()}" for index in range(size)]
        self._free: queue.Queue[str] = queue.Queue()
        self._interfaces = sorted(interfaces)

    def __enter__(self) -> NetnsPool:
        ip = require_binary("ip")
        try:
            # In parallel: each namespace costs two `ip` processes, a fixed cost small validations feel.
            with ThreadPoolExecutor(len(self._names) or 1) as executor:
                for future in [executor.submit(self._make, ip, name) for name in self._names]:
                    future.result()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        for name in self._names:
            self._free.put(name)
        return self

    def _make(self, ip: str, name: str) -> None:
        _run([ip, "netns", "add", name])
        # One `ip -batch` per namespace: a process per link would dominate small validations.
        batch = ["link set lo up"]
        # A host has addresses of its own: without one, getaddrinfo(AI_ADDRCONFIG) answers nothing
        # for either family and nginx refuses upstream names like `localhost` it would resolve there.
        batch += ["link add hkva type veth peer name hkvb", "link set hkva up", "link set hkvb up"]
        batch += ["addr add 192.0.2.1/32 dev hkva", "addr add 2001:db8::1/128 dev hkva nodad"]
        for index, interface in enumerate(self._interfaces):
            peer = f"hkvp{index}"
            batch += [f"link add {interface} type veth peer name {peer}", f"link set {interface} up"]
            batch.append(f"link set {peer} up")
        _run([ip, "-n", name, "-batch", "-"], "\n".join(batch) + "\n")
        # sysctl through /proc from a thread inside the namespace (net.* entries are the opener's
        # namespace's): no `ip netns exec sysctl` process, and no sysctl binary to find on cron's PATH.
        with inside_netns(name):
            for family in ("ipv4", "ipv6"):
                knob = Path(f"/proc/sys/net/{family}/ip_nonlocal_bind")
                if family == "ipv4" or knob.exists():
                    try:
                        knob.write_text("1\n", encoding="ascii")
                    except OSError as err:
                        raise HakitError(f"cannot prepare a namespace for checks: {knob}: {err}") from None

    def __exit__(self, *_: object) -> None:
        ip = find_binary("ip") or "ip"
        for name in self._names:
            if Path("/run/netns", name).exists():
                subprocess.run([ip, "netns", "del", name], capture_output=True, timeout=TIMEOUT_S)

    @contextmanager
    def lease(self) -> Iterator[str]:
        """Borrow a namespace for one check (one at a time: nginx binds its ports)."""
        name = self._free.get()
        try:
            yield name
        finally:
            self._free.put(name)


def _run(command: list[str], stdin: str | None = None) -> None:
    """Run a namespace setup step; a failure is one line naming the command and what it said."""
    try:
        done = subprocess.run(command, input=stdin, text=True, capture_output=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise HakitError(f"cannot prepare a network namespace for checks: {err}") from None
    if done.returncode != 0:
        said = " ".join(done.stderr.split()) or f"exit {done.returncode}"
        raise HakitError(f"cannot prepare a network namespace for checks: `{' '.join(command)}`: {said}")

"""Which namespace holds a VIP and when it moved: `ip monitor address` per LB namespace, timed on arrival."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass

from hakit.lab.netns import addresses


@dataclass(frozen=True)
class AddressEvent:
    """An address added to or removed from a namespace, at CLOCK_MONOTONIC time `at`."""

    at: float
    netns: str
    address: str
    added: bool


def _parse(line: str) -> tuple[str, bool] | None:
    """`[Deleted ]N: IFACE    inet A.B.C.D/LEN ...` -> (address, added); None for other lines."""
    words = line.split()
    if "inet" not in words:
        return None
    address = words[words.index("inet") + 1].split("/")[0]
    return address, words[0] != "Deleted"


class VipWatcher:
    """Follows the IPv4 addresses of a set of namespaces; answers who holds a VIP and since when."""

    def __init__(self, namespaces: list[str]) -> None:
        self.namespaces = list(namespaces)
        self.events: list[AddressEvent] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._procs: list[subprocess.Popen[str]] = []
        self._threads: list[threading.Thread] = []
        self._held: dict[str, set[str]] = {}

    def __enter__(self) -> VipWatcher:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start one monitor per namespace, then take a snapshot (events that race it are idempotent)."""
        for ns in self.namespaces:
            proc = subprocess.Popen(
                ["ip", "-n", ns, "monitor", "address"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
            self._procs.append(proc)
            thread = threading.Thread(target=self._follow, args=(ns, proc), daemon=True)
            thread.start()
            self._threads.append(thread)
        time.sleep(0.05)  # let the monitors subscribe before the snapshot
        for ns in self.namespaces:
            held = {a for addrs in addresses(ns).values() for a in addrs}
            with self._lock:
                self._held.setdefault(ns, set()).update(held)

    def _follow(self, ns: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            parsed = _parse(line)
            if parsed is None:
                continue
            event = AddressEvent(time.monotonic(), ns, parsed[0], parsed[1])
            with self._changed:
                self.events.append(event)
                held = self._held.setdefault(ns, set())
                if event.added:
                    held.add(event.address)
                else:
                    held.discard(event.address)
                self._changed.notify_all()

    def holders(self, vip: str) -> list[str]:
        """Namespaces that hold the VIP now."""
        with self._lock:
            return [ns for ns in self.namespaces if vip in self._held.get(ns, set())]

    def wait_for(self, vip: str, netns: str, *, present: bool = True, timeout: float = 10.0) -> float | None:
        """Wait until `netns` holds (or no longer holds) the VIP; return the time that happened, or None."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (vip in self._held.get(netns, set())) != present:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
            for event in reversed(self.events):
                if event.netns == netns and event.address == vip and event.added == present:
                    return event.at
            return time.monotonic()

    def close(self) -> None:
        """Stop the monitors (they are our own children)."""
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        self._procs.clear()

"""Failover benchmark: the lab drills for advert_int 1 and 0.1 with HAProxy and nginx (Linux, root).

Prints, per drill, the measured time-to-detect, the protocol's theoretical limit (3 x advert + skew for a
crash, one advert for a clean stop), their ratio, and the lost (failed) requests. Goal: ratio <= 1.05 and
0 lost on backend failures. First, the lab's stdlib backend against http.server's defaults (wrk, loopback).
Usage: `python bench/failover.py [--drills 1-12] [--adverts 1,0.1] [--proxies haproxy,nginx]`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from hakit.lab.drills import DrillResult, parse_drills, run_drills
from hakit.lab.session import create_lab, open_inventory, tune
from rich.console import Console
from rich.table import Table

INVENTORIES = Path(__file__).resolve().parents[1] / "tests" / "lab"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def backend_rate(naive: bool) -> float:
    """Requests/s `wrk -t1 -c10 -d2s` gets from one lab backend on loopback."""
    port = _free_port()
    argv = [sys.executable, "-m", "hakit.lab.backend", "--bind", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*argv, *(["--naive"] if naive else [])])
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.02)
        out = subprocess.run(
            ["wrk", "-t1", "-c10", "-d2s", "--timeout", "2s", f"http://127.0.0.1:{port}/"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=5)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else 0.0


def run(proxy: str, advert: float, drills: list[int]) -> list[DrillResult]:
    """Build one lab, run the drills, tear it down."""
    inv, cluster = open_inventory(INVENTORIES / f"{proxy}.yaml", None)
    lab = create_lab(tune(inv, cluster, advert_int=advert), cluster, source=f"tests/lab/{proxy}.yaml")
    try:
        lab.up()
        return run_drills(lab, drills)
    finally:
        lab.remove()


def table(results: list[DrillResult]) -> Table:
    """Measured vs theoretical, and losses."""
    out = Table(title="hakit failover benchmark (lab, VRRPv3 unicast, priorities 150/100)")
    for name in ("drill", "proxy", "advert", "detect ms", "limit ms", "ratio", "recover ms", "sent", "lost"):
        out.add_column(name, justify="left" if name in ("drill", "proxy") else "right")
    for r in results:
        out.add_row(
            f"{r.drill} {r.name}",
            r.proxy,
            f"{r.advert_int:g}s",
            "-" if r.detect_s is None else f"{r.detect_s * 1000:.0f}",
            "-" if r.limit_s is None else f"{r.limit_s * 1000:.0f}",
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            "-" if r.recover_s is None else f"{r.recover_s * 1000:.0f}",
            str(r.sent),
            _lost(r),
        )
    return out


def _lost(result: DrillResult) -> str:
    """Failed requests, with what they were (no answer, or the 5xx status)."""
    kinds = [f"{code}:{n}" for code, n in result.statuses.items() if code == "fail" or int(code) >= 500]
    return f"{result.failed} ({', '.join(kinds)})" if kinds else str(result.failed)


def main() -> None:
    """Run every combination and print the table and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drills", default="all")
    parser.add_argument("--adverts", default="1,0.1")
    parser.add_argument("--proxies", default="haproxy,nginx")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/failover.py needs root (network namespaces)")
    drills = parse_drills(args.drills)
    console = Console(width=160)
    if shutil.which("wrk"):
        fast, naive = backend_rate(naive=False), backend_rate(naive=True)
        console.print(
            f"lab backend (Nagle off, buffered writes): {fast:,.0f} req/s; "
            f"http.server defaults: {naive:,.0f} req/s ({fast / max(naive, 1):.0f}x)"
        )
    results: list[DrillResult] = []
    started = time.monotonic()
    for proxy in args.proxies.split(","):
        for advert in (float(a) for a in args.adverts.split(",")):
            results += run(proxy, advert, drills)
    console.print(table(results))
    ratios = [r.ratio for r in results if r.ratio is not None and r.drill in (4, 5, 6)]
    backend_lost = sum(r.failed for r in results if r.drill in (1, 2, 3))
    console.print(
        f"worst ratio (drills 4-6): {max(ratios):.2f} (goal <= 1.05); "
        f"lost on backend failures (drills 1-3): {backend_lost} (goal 0); {time.monotonic() - started:.0f}s"
        if ratios
        else f"lost on backend failures: {backend_lost}"
    )

    # Issue 12's safe defaults, compared across the proxies of this run.
    def key(r: DrillResult) -> str:
        return f"{r.proxy}@{r.advert_int:g}s"

    replayed = {key(r): r.extra["posts_replayed"] for r in results if r.drill == 10}
    if replayed:
        console.print(f"POSTs replayed (drill 10, goal 0): {replayed}")
    admitted = {
        key(r): f"{r.extra['admitted']}/{r.extra['sent']} (expected {r.extra['expected']})"
        for r in results
        if r.drill == 11 and "admitted" in r.extra
    }
    if admitted:
        console.print(f"rate-limit parity (drill 11, same pattern): {admitted}")
    survived = {
        key(r): f"reload {r.extra['after_reload']}, failover {r.extra['after_failover']}"
        for r in results
        if r.drill == 12 and "after_reload" in r.extra
    }
    if survived:
        console.print(f"client over its limit (drill 12, 429 = state kept): {survived}")


if __name__ == "__main__":
    main()

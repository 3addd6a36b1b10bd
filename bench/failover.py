"""Failover benchmark: the lab drills for advert_int 1 and 0.1 with HAProxy and nginx (Linux, root).

Prints, per drill, the measured time-to-detect, the protocol's theoretical limit (3 x advert + skew for a
crash, one advert for a clean stop), their ratio, and the lost (failed) requests. Goal: ratio <= 1.05 and
0 lost on backend failures. Usage: `python bench/failover.py [--drills 1-7] [--adverts 1,0.1]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from hakit.lab.drills import DrillResult, parse_drills, run_drills
from hakit.lab.session import create_lab, open_inventory, tune
from rich.console import Console
from rich.table import Table

INVENTORIES = Path(__file__).resolve().parents[1] / "tests" / "lab"


def run(proxy: str, advert: float, drills: list[int]) -> list[DrillResult]:
    """Build one lab, run the drills, tear it down."""
    inv, cluster = open_inventory(INVENTORIES / f"{proxy}.yaml", None)
    lab = create_lab(tune(inv, cluster, advert_int=advert), cluster, source=f"tests/lab/{proxy}.yaml")
    try:
        lab.up()
        return run_drills(lab, drills)
    finally:
        lab.down()
        shutil.rmtree(lab.workdir, ignore_errors=True)


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
    results: list[DrillResult] = []
    started = time.monotonic()
    for proxy in args.proxies.split(","):
        for advert in (float(a) for a in args.adverts.split(",")):
            results += run(proxy, advert, drills)
    console = Console(width=160)
    console.print(table(results))
    ratios = [r.ratio for r in results if r.ratio is not None and r.drill in (4, 5, 6)]
    backend_lost = sum(r.failed for r in results if r.drill in (1, 2, 3))
    console.print(
        f"worst ratio (drills 4-6): {max(ratios):.2f} (goal <= 1.05); "
        f"lost on backend failures (drills 1-3): {backend_lost} (goal 0); {time.monotonic() - started:.0f}s"
        if ratios
        else f"lost on backend failures: {backend_lost}"
    )


if __name__ == "__main__":
    main()

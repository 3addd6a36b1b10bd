"""Open a lab from an inventory, keep its state for `lab down`, and print drill results."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import FrameType

from rich.table import Table

from hakit.errors import HakitError
from hakit.lab.drills import DrillResult
from hakit.lab.from_inventory import build_plan, choose_cluster
from hakit.lab.netns import existing_namespaces, new_prefix
from hakit.lab.procs import ProcRecord, is_running
from hakit.lab.runtime import DEFAULT_BASE, Lab, destroy_from_state, load_state, new_workdir
from hakit.spec.inventory import Inventory, load_inventory


def state_path(prefix: str, base: Path = DEFAULT_BASE) -> Path:
    """Where `lab up` records a lab for `lab down`."""
    return base / f"{prefix}.json"


def saved_states(base: Path = DEFAULT_BASE) -> list[Path]:
    """State files of labs left running by `lab up`."""
    return sorted(base.glob("*.json")) if base.is_dir() else []


def tune(
    inv: Inventory, cluster: str, *, advert_int: float | None = None, nopreempt: bool | None = None
) -> Inventory:
    """A copy of the inventory with the cluster's VRRP timing or preemption overridden (for drills/bench)."""
    copy = inv.model_copy(deep=True)
    vrrp = copy.load_balancers[cluster].vrrp
    if advert_int is not None:
        vrrp.advert_int = Decimal(str(advert_int))
    if nopreempt is not None:
        for instance in vrrp.instances.values():
            instance.nopreempt = nopreempt
    return copy


def create_lab(
    inv: Inventory, cluster: str, *, source: str, base: Path = DEFAULT_BASE, frontend: str | None = None
) -> Lab:
    """Render the cluster into a fresh work directory and return the (not yet started) lab."""
    prefix = new_prefix()
    workdir = new_workdir(prefix, base)
    plan = build_plan(inv, cluster, source=source, workdir=workdir, frontend=frontend)
    return Lab(plan, workdir, prefix)


def attach_lab(path: Path) -> Lab:
    """The lab recorded in a state file, re-planned from its inventory (the configs on disk are kept)."""
    state = load_state(path)
    inventory = state.get("inventory")
    if not isinstance(inventory, str):
        raise HakitError(f"{path}: the lab records no inventory; drill it with an INVENTORY argument")
    inv = load_inventory(inventory)
    cluster = str(state["cluster"])
    workdir = Path(str(state["workdir"]))
    plan = build_plan(inv, choose_cluster(inv, cluster), source=inventory, workdir=workdir)
    lab = Lab(plan, workdir, str(state["prefix"]))
    lab.attach(state)
    return lab


def recorded_lab(base: Path = DEFAULT_BASE, prefix: str | None = None) -> Path:
    """The state file of the lab to use: the one named, or the only one recorded."""
    paths = [p for p in saved_states(base) if prefix is None or p.stem == prefix]
    if len(paths) != 1:
        found = ", ".join(p.stem for p in saved_states(base)) or "none"
        raise HakitError(f"lab: name one lab with --lab (recorded in {base}: {found})")
    return paths[0]


def open_inventory(path: Path, cluster: str | None) -> tuple[Inventory, str]:
    """Load the inventory and pick the cluster."""
    inv = load_inventory(path)
    return inv, choose_cluster(inv, cluster)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so `finally` blocks clean the lab up."""

    def raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def lab_status(path: Path) -> dict[str, object]:
    """What a recorded lab is and how much of it still runs (processes matched by PID and start time)."""
    state = load_state(path)
    records = [ProcRecord.from_dict(r) for r in state.get("processes", [])]  # type: ignore[attr-defined]
    namespaces = [str(n) for n in state.get("namespaces", [])]  # type: ignore[attr-defined]
    present = existing_namespaces()
    running = sum(1 for r in records if is_running(r))
    found = sum(1 for n in namespaces if n in present)
    return {
        "prefix": path.stem,
        "cluster": state.get("cluster"),
        "proxy": state.get("proxy"),
        "vip": state.get("vip"),
        "inventory": state.get("inventory"),
        "processes": {"running": running, "recorded": len(records)},
        "namespaces": {"present": found, "recorded": len(namespaces)},
        "intact": running == len(records) and found == len(namespaces),
    }


def down_all(base: Path = DEFAULT_BASE, prefix: str | None = None) -> list[str]:
    """Tear down the labs recorded under `base` (or the one with `prefix`); return their prefixes."""
    removed = []
    for path in saved_states(base):
        if prefix is not None and path.stem != prefix:
            continue
        destroy_from_state(load_state(path))
        path.unlink(missing_ok=True)
        removed.append(path.stem)
    if prefix is not None and not removed:
        raise HakitError(f"lab: no lab {prefix!r} recorded in {base}")
    return removed


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}ms"


def results_table(results: list[DrillResult], title: str = "hakit lab drills") -> Table:
    """The drill results as a rich table (times in ms; limit = the VRRP protocol bound)."""
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("drill")
    table.add_column("proxy")
    table.add_column("advert", justify="right")
    for column in ("detect", "recover", "limit", "ratio", "sent", "failed", "retried", "reconn"):
        table.add_column(column, justify="right")
    table.add_column("detail")
    for r in results:
        table.add_row(
            str(r.drill),
            r.name,
            r.proxy,
            f"{r.advert_int:g}s",
            _ms(r.detect_s),
            _ms(r.recover_s),
            _ms(r.limit_s),
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            str(r.sent),
            str(r.failed),
            str(r.retried),
            str(r.reconnects),
            r.detail,
        )
    return table

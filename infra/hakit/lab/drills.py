"""The failure drills: inject one fault under bounded load through the VIP, measure, restore.

Every drill returns a `DrillResult`: time-to-detect (the system noticed: VIP on the standby, server marked
down, first 429...), time-to-recover (the last request the fault impaired has completed), the protocol limit
where one exists, and the requests sent / failed / retried. Drills leave the lab as they found it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from hakit.errors import HakitError
from hakit.lab import netns
from hakit.lab.load import LoadConfig, Record
from hakit.lab.plan import lb_host
from hakit.lab.runtime import Lab, LoadHandle

WARMUP_S = 0.3
"""Load before the fault: the baseline latency comes from it."""


@dataclass
class DrillResult:
    """Measurements of one drill."""

    drill: int
    name: str
    proxy: str
    advert_int: float
    detect_s: float | None = None
    recover_s: float | None = None
    limit_s: float | None = None
    sent: int = 0
    ok: int = 0
    failed: int = 0
    retried: int = 0
    reconnects: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    detail: str = ""
    extra: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Measured detection time over the protocol limit."""
        if self.detect_s is None or not self.limit_s:
            return None
        return self.detect_s / self.limit_s

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (with the ratio)."""
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


DRILLS: dict[int, str] = {
    1: "backend-killed",
    2: "backend-hung",
    3: "backup-server",
    4: "lb-clean-stop",
    5: "lb-crash",
    6: "lb-node-death",
    7: "lb-return",
    8: "circuit-breaker",
    9: "rate-limit",
}


def parse_drills(spec: str) -> list[int]:
    """`all`, `1,2,5`, `1-3`, or drill names -> drill numbers in the order given."""
    if spec.strip() == "all":
        return list(DRILLS)
    by_name = {name: number for number, name in DRILLS.items()}
    chosen: list[int] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part in by_name:
            chosen.append(by_name[part])
        elif "-" in part and all(s.isdigit() for s in part.split("-", 1)):
            low, high = (int(s) for s in part.split("-", 1))
            chosen.extend(range(low, high + 1))
        elif part.isdigit():
            chosen.append(int(part))
        else:
            raise HakitError(f"unknown drill {part!r}: use numbers 1-9 or {', '.join(by_name)}", exit_code=2)
    unknown = [n for n in chosen if n not in DRILLS]
    if unknown:
        raise HakitError(f"unknown drill number(s) {unknown}: drills are 1-9", exit_code=2)
    return chosen


# ------------------------------------------------------------------ helpers


def _wait(predicate: Callable[[], bool], timeout: float, step: float = 0.005) -> float | None:
    """Poll until `predicate()`; return the time it became true, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if predicate():
                return time.monotonic()
        time.sleep(step)
    return None


def _load_config(lab: Lab, **overrides: object) -> LoadConfig:
    plan = lab.plan
    config = LoadConfig(
        host=plan.vip,
        port=plan.port,
        deadline_ms=plan_deadline_ms(lab),
        max_seconds=30.0,
        source=plan.client_addresses[0].split("/")[0],
    )
    return dataclasses.replace(config, **overrides)  # type: ignore[arg-type]


def plan_deadline_ms(lab: Lab) -> float:
    """A client's patience: long enough for the proxy's own retry sequence, at least 1 s."""
    return lab.plan.client_deadline_ms


def _account(result: DrillResult, records: list[Record], fault_at: float) -> None:
    """Fill sent/ok/failed/reconnects/statuses and time-to-recover from the client's records."""
    result.sent = len(records)
    codes = Counter(str(r[3]) if r[3] else "fail" for r in records)
    result.statuses = dict(sorted(codes.items()))
    result.ok = sum(n for code, n in codes.items() if code != "fail" and int(code) < 400)
    result.failed = sum(n for code, n in codes.items() if code == "fail" or int(code) >= 500)
    result.reconnects = sum(r[4] for r in records)
    before = [r[2] - r[1] for r in records if r[2] < fault_at and r[3]]
    baseline = statistics.median(before) if before else 0.005
    slow = max(0.05, 10 * baseline)
    impaired = [
        r[2] for r in records if r[2] >= fault_at and (not r[3] or r[3] >= 500 or r[4] or r[2] - r[1] > slow)
    ]
    result.recover_s = (max(impaired) - fault_at) if impaired else 0.0
    result.extra["baseline_ms"] = round(baseline * 1000, 2)
    failures = [r for r in records if not r[3] or r[3] >= 500]
    if failures:
        # kind (n: new connection, k: keep-alive) @ start relative to the fault / duration / status or why
        result.extra["failures"] = " ".join(
            f"{r[0]}@{(r[1] - fault_at) * 1000:+.0f}ms/{(r[2] - r[1]) * 1000:.0f}ms/{r[3] or r[5]}"
            for r in failures[:5]
        )


class DrillRunner:
    """Runs drills on one lab (shared between drills: each restores what it broke)."""

    def __init__(self, lab: Lab, settle_s: float = 0.6) -> None:
        self.lab = lab
        self.plan = lab.plan
        self.settle_s = settle_s

    def run(self, number: int) -> DrillResult:
        """Run one drill by number."""
        method = getattr(self, f"drill_{number}")
        result: DrillResult = method()
        return result

    def _result(self, number: int) -> DrillResult:
        return DrillResult(number, DRILLS[number], self.plan.proxy, self.plan.advert_int)

    # ------------------------------------------------------------- proxy-side observations

    def _retries(self) -> int:
        return self.lab.proxy_retries(self._holder())

    def _holder(self) -> str:
        holders = self.lab.vip_holders()
        return holders[0] if holders else self.plan.master.name

    def _server_down(self, node: str, server: str) -> Callable[[], bool]:
        return lambda: self.lab.server_states(node).get(server) not in ("UP", None)

    def _all_up(self, timeout: float = 15.0) -> None:
        """Every primary server back in rotation (HAProxy: UP; nginx: answering again through the VIP)."""
        if self.plan.proxy != "haproxy":
            primaries = {b.name for b in self.plan.backends if not b.backup}

            def serving() -> bool:
                probe = self.lab.run_load(
                    _load_config(self.lab, keepalive=0, new_interval_ms=5, max_requests=20)
                )
                return primaries <= {r[5] for r in probe}

            if _wait(serving, timeout, 0.2) is None:
                raise HakitError("lab: nginx does not use every server again")
            return
        for node in self.plan.nodes:

            def all_up(name: str = node.name) -> bool:
                return all(state == "UP" for state in self.lab.server_states(name).values())

            if _wait(all_up, timeout, 0.05) is None:
                raise HakitError(f"lab: servers did not come back UP on {node.name}")

    def _with_load(
        self,
        result: DrillResult,
        fault: Callable[[], None],
        detect: Callable[[float], float | None],
        **load: object,
    ) -> float:
        """Start load, warm up, inject the fault, detect, settle, stop the load; return the fault time."""
        retries_before = self._retries()
        handle: LoadHandle = self.lab.start_load(_load_config(self.lab, **load))
        try:
            time.sleep(WARMUP_S)
            fault_at = time.monotonic()
            fault()
            detected = detect(fault_at)
            result.detect_s = None if detected is None else detected - fault_at
            time.sleep(self.settle_s)
        finally:
            records = handle.stop()
        _account(result, records, fault_at)
        with contextlib.suppress(OSError):
            result.retried = max(0, self._retries() - retries_before)
        return fault_at

    def _backend_detect(self, server: str, timeout: float) -> Callable[[float], float | None]:
        """HAProxy: the server is marked DOWN; nginx: its first logged upstream failure."""
        if self.plan.proxy == "haproxy":
            node = self._holder()
            return lambda _t: _wait(self._server_down(node, server), timeout)
        node = self._holder()
        size = self.lab.nginx_error_log_size(node)
        return lambda _t: _wait(lambda: self.lab.nginx_error_log_size(node) > size, timeout)

    # ------------------------------------------------------------- drills 1-3, 8: backends

    def _primary(self) -> str:
        return next(b.name for b in self.plan.backends if not b.backup)

    def drill_1(self) -> DrillResult:
        """A backend is killed (SIGKILL)."""
        result = self._result(1)
        server = self._primary()
        name = f"backend-{server}"
        self._with_load(result, lambda: self.lab.supervisor.crash(name), self._backend_detect(server, 10.0))
        result.detail = f"{server} killed"
        self.lab.start_backend(server)
        self._all_up()
        return result

    def drill_2(self) -> DrillResult:
        """A backend hangs (SIGSTOP): it accepts connections and never answers."""
        result = self._result(2)
        server = self._primary()
        name = f"backend-{server}"
        try:
            self._with_load(
                result,
                lambda: self.lab.supervisor.signal(name, signal.SIGSTOP),
                self._backend_detect(server, 10.0),
            )
        finally:
            self.lab.supervisor.signal(name, signal.SIGCONT)
        result.detail = f"{server} frozen"
        self._all_up()
        return result

    def drill_3(self) -> DrillResult:
        """Every primary backend dies: the backup ('sorry') server must serve."""
        result = self._result(3)
        primaries = [b.name for b in self.plan.backends if not b.backup]
        backups = {b.name for b in self.plan.backends if b.backup}
        if not backups:
            result.detail = "skipped: the backend has no backup server"
            return result
        handle = self.lab.start_load(_load_config(self.lab))
        retries_before = self._retries()
        try:
            time.sleep(WARMUP_S)
            fault_at = time.monotonic()
            self.lab.supervisor.crash(*(f"backend-{name}" for name in primaries))
            time.sleep(self.settle_s + 0.5)
        finally:
            records = handle.stop()
        _account(result, records, fault_at)
        with contextlib.suppress(OSError):
            result.retried = max(0, self._retries() - retries_before)
        served = [r for r in records if r[5] in backups and r[2] >= fault_at]
        result.detect_s = (min(r[2] for r in served) - fault_at) if served else None
        result.extra["served_by_backup"] = len(served)
        result.detail = f"{len(served)} answers from {', '.join(sorted(backups))}"
        for name in primaries:
            self.lab.start_backend(name)
        self._all_up()
        return result

    def drill_8(self) -> DrillResult:
        """A backend answers 500 on live traffic (health checks pass): the circuit breaker takes it out."""
        result = self._result(8)
        server = self._primary()
        name = f"backend-{server}"
        node = self._holder()
        detect: Callable[[float], float | None]
        if self.plan.proxy == "haproxy":
            detect = lambda _t: _wait(self._server_down(node, server), 10.0)  # noqa: E731
        else:
            # nginx logs (warn) when max_fails errors take a server out for fail_timeout.
            offset = self.lab.nginx_error_log_size(node)
            detect = lambda _t: _wait(  # noqa: E731
                lambda: self.lab.nginx_log_has(node, "temporarily disabled", offset), 10.0
            )
        try:
            self._with_load(result, lambda: self.lab.supervisor.signal(name, signal.SIGUSR1), detect)
        finally:
            self.lab.supervisor.signal(name, signal.SIGUSR2)
        result.detail = f"{server} answers 500"
        self._all_up()
        return result

    # ------------------------------------------------------------- drill 9: rate limit

    def drill_9(self) -> DrillResult:
        """A client above the rate limit gets 429 while a polite client is served."""
        result = self._result(9)
        port = self.plan.rate_limit_port
        per_s = self.plan.rate_limit_per_s
        if port is None or per_s is None or len(self.plan.client_addresses) < 2:
            result.detail = "skipped: no frontend with a rate limit (or one client address only)"
            return result
        polite_source = self.plan.client_addresses[1].split("/")[0]
        polite = self.lab.start_load(
            _load_config(
                self.lab,
                port=port,
                source=polite_source,
                keepalive=0,
                new_interval_ms=max(50.0, 4000.0 / per_s),
                max_seconds=10.0,
            )
        )
        try:
            start = time.monotonic()
            abusive = self.lab.start_load(
                _load_config(
                    self.lab,
                    port=port,
                    keepalive=2,
                    keepalive_interval_ms=0,
                    new_interval_ms=0,
                    max_seconds=2.0,
                ),
                ready_timeout=0,
            )
            abusive_records = abusive.wait()
        finally:
            polite_records = polite.stop()
        _account(result, polite_records, start)
        limited = [r for r in abusive_records if r[3] == 429]
        result.detect_s = (min(r[2] for r in limited) - start) if limited else None
        result.recover_s = None
        result.extra.update(
            {
                "abusive_sent": len(abusive_records),
                "abusive_429": len(limited),
                "abusive_ok": sum(1 for r in abusive_records if r[3] == 200),
                "abusive_failed": sum(1 for r in abusive_records if not r[3] or r[3] >= 500),
                "polite_sent": len(polite_records),
                "polite_ok": sum(1 for r in polite_records if r[3] == 200),
                "polite_429": sum(1 for r in polite_records if r[3] == 429),
                "limit_per_s": per_s,
            }
        )
        result.detail = (
            f"abusive: {len(limited)}/{len(abusive_records)} got 429; polite: "
            f"{result.extra['polite_ok']}/{len(polite_records)} served"
        )
        return result

    # ------------------------------------------------------------- drills 4-7: LB nodes

    def _vip_on(self, node: str, timeout: float) -> float | None:
        assert self.lab.watcher is not None
        return self.lab.watcher.wait_for(self.plan.vip, self.lab.node_ns(node), timeout=timeout)

    def _lb_drill(self, number: int, fault: Callable[[], None], limit: float) -> DrillResult:
        result = self._result(number)
        master, standby = self.plan.master.name, self.plan.standby.name
        self.ensure_master()
        result.limit_s = limit
        self._with_load(result, fault, lambda _t: self._vip_on(standby, timeout=10 * limit + 5))
        result.detail = f"VIP {master} -> {standby}"
        self.restore_lbs()
        return result

    def drill_4(self) -> DrillResult:
        """The master's keepalived stops cleanly (priority-0 advert): the standby takes over at once."""
        node = self.plan.master.name
        return self._lb_drill(
            4, lambda: self.lab.supervisor.stop(f"keepalived-{node}"), self.plan.clean_stop_limit()
        )

    def drill_5(self) -> DrillResult:
        """The master crashes: keepalived and the proxy are SIGKILLed (no priority-0 advert)."""
        node = self.plan.master.name

        def fault() -> None:
            self.lab.supervisor.crash(f"keepalived-{node}", f"proxy-{node}")

        return self._lb_drill(5, fault, self.plan.crash_limit())

    def drill_6(self) -> DrillResult:
        """The master node dies: its daemons crash and its links go down."""
        node = self.plan.master.name

        def fault() -> None:
            # Frozen daemons cannot react to the link going down (keepalived would leave cleanly: FAULT).
            self.lab.supervisor.crash(
                f"keepalived-{node}",
                f"proxy-{node}",
                between=lambda: netns.link_down(self.lab.topology, lb_host(node)),
            )

        return self._lb_drill(6, fault, self.plan.crash_limit())

    def drill_7(self) -> DrillResult:
        """The old master returns: it preempts (VIP back on it), or with nopreempt it stays backup."""
        result = self._result(7)
        master, standby = self.plan.master.name, self.plan.standby.name
        self.ensure_master()
        self.lab.supervisor.stop(f"keepalived-{master}")
        if self._vip_on(standby, timeout=10.0) is None:
            raise HakitError("lab: the standby did not take the VIP before the return drill")
        limit = self.plan.crash_limit()
        result.limit_s = None if self.plan.nopreempt else limit
        window = max(1.0, 5 * limit)

        def detect(fault_at: float) -> float | None:
            assert self.lab.watcher is not None
            at = self._vip_on(master, timeout=window)
            if at is None or self.plan.nopreempt:
                time.sleep(max(0.0, fault_at + window - time.monotonic()))
            return at

        self._with_load(result, lambda: self.lab.start_keepalived(master), detect)
        holders = self.lab.vip_holders()
        result.extra["preempted"] = int(result.detect_s is not None)
        result.extra["holder_after"] = ",".join(holders)
        behaviour = "nopreempt" if self.plan.nopreempt else "preempt"
        if result.detect_s is None:
            result.detail = (
                f"{behaviour}: {master} returned, VIP stayed on {','.join(holders)} for {window:.1f}s"
            )
        else:
            result.detail = f"{behaviour}: {master} returned and took the VIP back"
        self.restore_lbs()
        return result

    # ------------------------------------------------------------- restoring the LB pair

    def ensure_master(self, timeout: float = 15.0) -> None:
        """Every LB daemon running and the VIP on the configured master only."""
        self.restore_lbs(timeout)

    def restore_lbs(self, timeout: float = 15.0) -> None:
        """Bring every LB node back (links, proxy, keepalived) and the VIP home to the master."""
        master = self.plan.master.name
        for node in self.plan.nodes:
            netns.link_up(self.lab.topology, lb_host(node.name))
            if not self.lab.supervisor.alive(f"proxy-{node.name}"):
                self.lab.start_proxy(node.name)
        for node in self.plan.nodes:
            if not self.lab.supervisor.alive(f"keepalived-{node.name}"):
                self.lab.start_keepalived(node.name)

        def home() -> bool:
            return self.lab.vip_holders() == [master]

        # With preemption the master takes the VIP back by itself; with nopreempt it never will.
        patience = 0.2 if self.plan.nopreempt else 3 * self.plan.crash_limit() + 2
        if _wait(home, patience, 0.01) is None:
            # nopreempt: the standby keeps the VIP until it lets go; a clean restart hands it back.
            for node in self.plan.nodes:
                if node.name != master and node.name in self.lab.vip_holders():
                    self.lab.supervisor.stop(f"keepalived-{node.name}")
                    _wait(home, timeout, 0.01)
                    self.lab.start_keepalived(node.name)
        if _wait(home, timeout, 0.01) is None:
            raise HakitError(f"lab: the VIP is held by {self.lab.vip_holders()}, expected {master} only")
        self._all_up()
        self.lab.wait_healthy(timeout)


def run_drills(lab: Lab, numbers: list[int]) -> list[DrillResult]:
    """Run the given drills in order on one lab."""
    runner = DrillRunner(lab)
    return [runner.run(n) for n in numbers]

"""The failure drills: inject one fault under bounded load through the VIP, measure, restore.

Every drill returns a `DrillResult`: time-to-detect (the system noticed: VIP on the standby, server marked
down, first 429...), time-to-recover (the last request the fault impaired has completed), the protocol limit
where one exists, and the requests sent / failed / retried. Drills leave the lab as they found it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from hakit.errors import HakitError
from hakit.lab import netns
from hakit.lab.load import LoadConfig, Record
from hakit.lab.plan import RateLimitPlan, lb_host
from hakit.lab.runtime import Lab, LoadHandle
from hakit.render.writer import write_file

WARMUP_S = 0.3
"""Load before the fault: the baseline latency comes from it."""

POSTS_503, POSTS_HANG = 12, 4
"""POSTs drill 10 sends while the primaries answer 503, then while they hang."""

_PROBE_USED: dict[tuple[str, str], float] = {}
"""(lab prefix, client address) -> when a rate-limit drill last used it (the parity drill needs it quiet)."""


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
    10: "post-not-replayed",
    11: "rate-limit-parity",
    12: "stick-table-survival",
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
            raise HakitError(f"unknown drill {part!r}: use numbers 1-12 or {', '.join(by_name)}", exit_code=2)
    unknown = [n for n in chosen if n not in DRILLS]
    if unknown:
        raise HakitError(f"unknown drill number(s) {unknown}: drills are 1-12", exit_code=2)
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
    """The drill load (TLS, spread below any per-client limit: `LabPlan.load_config`) with overrides."""
    return lab.plan.load_config(**overrides)


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
        result.extra["last_failure_ms"] = round(max(r[1] - fault_at for r in failures) * 1000, 1)
        # kind (n: new connection, k: keep-alive) @ start relative to the fault / duration / status or why
        result.extra["failures"] = " ".join(
            f"{r[0]}@{(r[1] - fault_at) * 1000:+.0f}ms/{(r[2] - r[1]) * 1000:.0f}ms/{r[3] or r[5]}"
            for r in failures[:5]
        )


def logged_errors(node: str, log: str) -> list[str]:
    """`node:status/termination/retries N/server@time` of each 5xx line of a structured proxy log."""
    found: list[str] = []
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        status = entry.get("status") if isinstance(entry, dict) else None
        if isinstance(status, int) and status >= 500:
            found.append(
                f"{node}:{status}/{entry.get('termination')}/retries {entry.get('retries')}"
                f"/{entry.get('server')}@{entry.get('time')}"
            )
    return found


PROXY_LOG_READ_LIMIT = 4 << 20
"""The most of a proxy's log read after a drill (one drill logs a few hundred lines)."""


class DrillRunner:
    """Runs drills on one lab (shared between drills: each restores what it broke)."""

    def __init__(self, lab: Lab, settle_s: float = 0.6) -> None:
        self.lab = lab
        self.plan = lab.plan
        self.settle_s = settle_s

    def run(self, number: int) -> DrillResult:
        """Run one drill by number; a drill that lost requests carries the proxies' own account of them."""
        method = getattr(self, f"drill_{number}")
        offsets = self.proxy_log_sizes()
        result: DrillResult = method()
        if result.failed:
            errors = self.proxy_errors(offsets)
            if errors:
                result.extra["proxy_errors"] = errors
        return result

    def proxy_log_sizes(self) -> dict[str, int]:
        """How long each node's proxy log is now (`proxy_errors` reads what is written after)."""
        sizes: dict[str, int] = {}
        for node in self.plan.nodes:
            with contextlib.suppress(OSError):
                sizes[node.name] = self.lab.supervisor.log_path(f"proxy-{node.name}").stat().st_size
        return sizes

    def proxy_errors(self, offsets: dict[str, int], limit: int = 5) -> str:
        """The 5xx lines the proxies logged during a drill: node, status, termination state, retries, server.

        A rare loss in CI is explained by HAProxy's termination state (e.g. SH: the server aborted while
        HAProxy waited for headers), which the client's record cannot tell.
        """
        found: list[str] = []
        for node, offset in offsets.items():
            try:
                with open(self.lab.supervisor.log_path(f"proxy-{node}"), "rb") as log:
                    log.seek(offset)
                    written = log.read(PROXY_LOG_READ_LIMIT)
            except OSError:
                continue
            found += logged_errors(node, written.decode("utf-8", "replace"))
        return " ".join(found[:limit])

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
            primaries = {b.name for b in self.plan.pool() if not b.backup}

            def serving() -> bool:
                probe = self.lab.run_load(
                    _load_config(self.lab, keepalive=0, new_interval_ms=5, max_requests=20)
                )
                return primaries <= {r[5] for r in probe}

            # nginx tries a failed server again only after fail_timeout.
            if _wait(serving, max(timeout, 2 * self.plan.server_return_s + 5), 0.2) is None:
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
        return next(b.name for b in self.plan.pool() if not b.backup)

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
        primaries = [b.name for b in self.plan.pool() if not b.backup]
        backups = {b.name for b in self.plan.pool() if b.backup}
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

    def _limit(self, longest: bool = False) -> RateLimitPlan | None:
        """The first rate-limited frontend (or the one with the longest window: its state lasts)."""
        limits = list(self.plan.rate_limits)
        if not limits or len(self.plan.probe_sources) < 3:
            return None
        return max(limits, key=lambda r: r.period_ms / r.requests) if longest else limits[0]

    def _limited_config(self, limit: RateLimitPlan, source: str, **overrides: object) -> LoadConfig:
        """Load to a rate-limited frontend from one client address of its own (TLS if it needs it)."""
        ca = self.plan.certificate if limit.tls else None
        return _load_config(self.lab, port=limit.port, source=source, ca_file=ca, **overrides)

    def drill_9(self) -> DrillResult:
        """A client above the rate limit gets 429 while a polite client is served."""
        result = self._result(9)
        limit = self._limit()
        if limit is None:
            result.detail = "skipped: no frontend with a rate limit (or too few client addresses)"
            return result
        per_s = limit.per_s
        polite = self.lab.start_load(
            self._limited_config(
                limit,
                self.plan.probe_sources[0],
                keepalive=0,
                new_interval_ms=max(50.0, 4000.0 / per_s),
                max_seconds=10.0,
            )
        )
        try:
            start = time.monotonic()
            abusive = self.lab.start_load(
                self._limited_config(
                    limit,
                    self.plan.probe_sources[1],
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

    # ------------------------------------------------------------- drill 10: POST never replayed

    def _set_mode(self, names: list[str], mode: str) -> None:
        """Switch backends to answer `mode` (ok, 500, 503, hang): mode file + SIGHUP."""
        for name in names:
            write_file(self.lab.backend_file(name, "mode"), mode + "\n", 0o600)
            self.lab.supervisor.signal(f"backend-{name}", signal.SIGHUP)

    def _received(self, offsets: dict[str, int]) -> Counter[str]:
        """How often each request id reached any backend since `offsets` (POST logs)."""
        seen: Counter[str] = Counter()
        for name, offset in offsets.items():
            path = self.lab.backend_file(name, "posts")
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
                handle.seek(offset)
                for line in handle.read().decode(errors="replace").splitlines():
                    if line.split():
                        seen[line.split()[0]] += 1
        return seen

    def drill_10(self) -> DrillResult:
        """POSTs while every primary answers 503, then hangs: each reaches a backend exactly once."""
        result = self._result(10)
        primaries = [b.name for b in self.plan.pool() if not b.backup]
        offsets = {
            b.name: (path.stat().st_size if (path := self.lab.backend_file(b.name, "posts")).exists() else 0)
            for b in self.plan.backends
        }
        records: list[Record] = []
        tag = secrets.token_hex(3)
        retries_before = self._retries()
        start = time.monotonic()
        for mode, count, interval_ms in (("503", POSTS_503, 40.0), ("hang", POSTS_HANG, 100.0)):
            self._set_mode(primaries, mode)
            try:
                config = _load_config(
                    self.lab,
                    method="POST",
                    request_id=f"{mode}-{tag}",
                    keepalive=0,
                    new_interval_ms=interval_ms,
                    max_requests=count,
                    max_seconds=count * interval_ms / 1000 + self.plan.client_deadline_ms / 1000 + 1,
                )
                records += self.lab.run_load(config)
                if mode == "hang":
                    # A replay after a timeout comes after the proxy's own timeouts: wait out what the
                    # client's patience did not already cover before counting (a 503 is resent at once).
                    time.sleep(min(2.0, max(0.0, self.plan.replay_window_s - config.deadline_ms / 1000)))
            finally:
                self._set_mode(primaries, "ok")
        received = self._received(offsets)
        _account(result, records, start)
        result.recover_s = None
        with contextlib.suppress(OSError):
            result.retried = max(0, self._retries() - retries_before)
        ours = {key: n for key, n in received.items() if f"-{tag}-" in key}
        replayed = {key: n for key, n in ours.items() if n > 1}
        result.extra.update(
            {
                "posts_sent": len(records),
                "posts_received": sum(ours.values()),
                "posts_distinct": len(ours),
                "posts_replayed": len(replayed),
                "posts_never_received": max(0, len(records) - len(ours)),
                "max_receptions": max(ours.values(), default=0),
            }
        )
        # The 503/504 the client sees are the point (a POST is not retried): what failed here is a POST
        # that reached the backends more than once. (One may reach none: with every server marked down and
        # no backup server the proxy answers 503 itself.)
        result.failed = len(replayed)
        result.detail = (
            f"{len(records)} POSTs (503, then hanging backends): {len(ours)} reached a backend, "
            f"{len(replayed)} more than once"
        )
        self._all_up()
        return result

    # ------------------------------------------------------------- drill 11: rate-limit parity

    def drill_11(self) -> DrillResult:
        """A quiet client sends at 3x the limit for a bounded time: how many requests are admitted."""
        result = self._result(11)
        limit = self._limit()
        if limit is None:
            result.detail = "skipped: no frontend with a rate limit (or too few client addresses)"
            return result
        window = limit.period_ms * limit.capacity / limit.requests / 1000
        # A quiet client: nothing sent from this address for one window (the state has drained).
        source = self.plan.probe_sources[2]
        last = _PROBE_USED.get((self.lab.prefix, source))
        if last is not None:
            time.sleep(max(0.0, last + min(window, 30.0) + 0.2 - time.monotonic()))
        duration = min(max(2.0, 2 * limit.period_ms / 1000), 10.0)
        send_per_s = max(3 * limit.per_s, 1.5 * limit.capacity / duration)
        count = int(send_per_s * duration)
        config = self._limited_config(
            limit,
            source,
            keepalive=1,
            keepalive_interval_ms=1000.0 / send_per_s,
            new_interval_ms=0,
            max_requests=count,
            max_seconds=duration + 5,
        )
        start = time.monotonic()
        try:
            records = self.lab.run_load(config)
        finally:
            _PROBE_USED[(self.lab.prefix, source)] = time.monotonic()
        _account(result, records, start)
        result.recover_s = None
        admitted = sum(1 for r in records if r[3] == 200)
        spent = (max(r[2] for r in records) - min(r[1] for r in records)) if records else 0.0
        result.extra.update(
            {
                "frontend": limit.frontend,
                "sent": len(records),
                "admitted": admitted,
                "rejected_429": sum(1 for r in records if r[3] == 429),
                "seconds": round(spent, 3),
                "capacity": limit.capacity,
                "per_s": limit.per_s,
                # The inventory's meaning: `capacity` at once, then the sustained rate.
                "expected": round(limit.capacity + limit.per_s * spent, 1),
            }
        )
        result.detail = (
            f"{admitted}/{len(records)} admitted in {spent:.2f}s at {send_per_s:.0f}/s "
            f"(limit {limit.per_s:g}/s, {limit.capacity} at once)"
        )
        return result

    # ------------------------------------------------------------- drill 12: stick-table survival

    def _reload_proxy(self, node: str) -> None:
        """Reload a node's proxy the way the Debian unit does (HAProxy master: SIGUSR2; nginx: SIGHUP)."""
        if self.plan.proxy == "haproxy":
            before = self._haproxy_pid(node)
            self.lab.supervisor.signal(f"proxy-{node}", signal.SIGUSR2)
            if _wait(lambda: self._haproxy_pid(node) not in (before, ""), 10.0, 0.02) is None:
                raise HakitError(f"lab: HAProxy on {node} did not come back after the reload")
        else:
            self.lab.supervisor.signal(f"proxy-{node}", signal.SIGHUP)
            time.sleep(0.5)  # new workers start; the old ones finish what they had

    def _haproxy_pid(self, node: str) -> str:
        with contextlib.suppress(OSError):
            for line in self.lab.haproxy_command(node, "show info").splitlines():
                if line.startswith("Pid:"):
                    return line.split(":", 1)[1].strip()
        return ""

    def drill_12(self) -> DrillResult:
        """A client over its limit stays limited across a proxy reload and a VIP failover (peers)."""
        result = self._result(12)
        limit = self._limit(longest=True)
        if limit is None:
            result.detail = "skipped: no frontend with a rate limit (or too few client addresses)"
            return result
        self.ensure_master()
        master, standby = self.plan.master.name, self.plan.standby.name
        source = self.plan.probe_sources[1]

        def probe() -> int:
            records = self.lab.run_load(
                self._limited_config(limit, source, keepalive=0, new_interval_ms=1, max_requests=1)
            )
            return records[0][3] if records else 0

        fill = self.lab.run_load(
            self._limited_config(
                limit,
                source,
                keepalive=1,
                keepalive_interval_ms=0,
                new_interval_ms=0,
                max_requests=limit.capacity + 5,
            )
        )
        records = list(fill)
        over = probe()
        start = time.monotonic()
        self._reload_proxy(master)
        after_reload = probe()
        self.lab.supervisor.stop(f"keepalived-{master}")
        moved = self._vip_on(standby, timeout=10.0)
        result.detect_s = None if moved is None else moved - start
        after_failover = probe() if moved is not None else 0
        self.restore_lbs()
        result.sent = len(records) + 3
        result.recover_s = None
        result.extra.update(
            {
                "frontend": limit.frontend,
                "filled_admitted": sum(1 for r in records if r[3] == 200),
                "over_limit": over,
                "after_reload": after_reload,
                "after_failover": after_failover,
                "survived_reload": int(over == 429 and after_reload == 429),
                "survived_failover": int(over == 429 and after_failover == 429),
            }
        )
        result.detail = (
            f"over the limit: {over}; after a reload of {master}: {after_reload}; "
            f"after the VIP moved to {standby}: {after_failover}"
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

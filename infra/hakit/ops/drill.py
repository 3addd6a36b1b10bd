"""The cloud twin of `hakit lab drill`: start an AWS FIS experiment, watch it and the service's health check.

`run_drill` starts the experiment, polls `get_experiment` until it ends (completed, stopped by a stop
condition, failed, cancelled) and, meanwhile, the Route 53 health check's checkers: the first poll that finds
it unhealthy is the detection, the first healthy poll after that the recovery. Times are measured from the
start call and are as fine as the poll interval. On timeout or Ctrl-C the experiment is stopped (the fault
must not outlive the person watching it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from hakit.errors import HakitError
from hakit.ops.aws import AWS_ERRORS, Clock, describe_error, retry_throttled
from hakit.ops.failover_healthchecks import ROUTE53_HEALTHY_SHARE

# Exit codes (docs/drill.md).
EXIT_NOT_COMPLETED = 1  # the experiment failed, was cancelled or stopped (a stop condition fired)
EXIT_AWS = 3  # AWS refused or did not answer (AccessDenied, no such template, an HTML page ...)
EXIT_TIMEOUT = 4  # still running at --timeout: the experiment was stopped
EXIT_OVER_BUDGET = 5  # completed, but the outage outlasted the budget, or had not ended at --timeout
EXIT_INTERRUPTED = 130

TERMINAL = frozenset({"completed", "stopped", "failed", "cancelled"})


@dataclass(frozen=True)
class DrillSettings:
    """What to run and how long to watch."""

    template_id: str
    region: str
    health_check_id: str | None = None
    timeout: float = 1800.0
    poll_interval: float = 10.0
    budget_seconds: float | None = None


@dataclass
class DrillResult:
    """What the drill measured; seconds are counted from the start_experiment call."""

    template_id: str
    experiment_id: str
    status: str
    reason: str = ""
    elapsed_seconds: float = 0.0
    health_check_id: str | None = None
    detected_seconds: float | None = None
    recovered_seconds: float | None = None
    budget_seconds: float | None = None
    polls: int = 0
    health_timeline: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def outage_seconds(self) -> float | None:
        """Unhealthy -> healthy again (None when the check never went unhealthy or never recovered)."""
        if self.detected_seconds is None or self.recovered_seconds is None:
            return None
        return self.recovered_seconds - self.detected_seconds

    @property
    def within_budget(self) -> bool | None:
        """Whether the outage fit the budget (None without a budget or without a detected outage)."""
        if self.budget_seconds is None or self.detected_seconds is None:
            return None
        outage = self.outage_seconds
        return outage is not None and outage <= self.budget_seconds

    def exit_code(self) -> int:
        """0 for a completed drill within budget; see the EXIT_* constants otherwise."""
        if self.status == "timeout":
            return EXIT_TIMEOUT
        if self.status != "completed":
            return EXIT_NOT_COMPLETED
        never_recovered = self.detected_seconds is not None and self.recovered_seconds is None
        return EXIT_OVER_BUDGET if never_recovered or self.within_budget is False else 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (timeline as [seconds, healthy] pairs)."""
        data = asdict(self)
        data["health_timeline"] = [[t, h] for t, h in self.health_timeline]
        data["outage_seconds"] = self.outage_seconds
        data["within_budget"] = self.within_budget
        return data


def healthy_from_status(answer: dict[str, Any]) -> bool | None:
    """Route 53's verdict from get_health_check_status: healthy when > 18 % of checkers say Success."""
    reports = [o.get("StatusReport", {}).get("Status", "") for o in answer.get("HealthCheckObservations", [])]
    if not reports:
        return None
    ok = sum(1 for r in reports if r.startswith("Success"))
    return ok > ROUTE53_HEALTHY_SHARE * len(reports)


def _aws_error(what: str, err: BaseException) -> HakitError:
    return HakitError(f"{what}: {describe_error(err)}", EXIT_AWS)


def run_drill(
    fis: Any,
    route53: Any | None,
    settings: DrillSettings,
    clock: Clock,
    progress: Callable[[str], None] = lambda _line: None,
) -> DrillResult:
    """Start the experiment and watch it (and the health check) until it ends or `settings.timeout` passes."""
    where = f"fis {settings.template_id} ({settings.region})"
    try:
        started = retry_throttled(
            lambda: fis.start_experiment(
                experimentTemplateId=settings.template_id,
                clientToken=str(uuid.uuid4()),  # a retried start does not start a second experiment
                tags={"hakit:started-by": "hakit drill"},
            ),
            clock,
        )
    except AWS_ERRORS as err:
        raise _aws_error(f"{where}: start_experiment", err) from None
    begin = clock.monotonic()
    experiment_id = str(started["experiment"]["id"])
    result = DrillResult(
        template_id=settings.template_id,
        experiment_id=experiment_id,
        status=str(started["experiment"].get("state", {}).get("status", "pending")),
        health_check_id=settings.health_check_id,
        budget_seconds=settings.budget_seconds,
    )
    progress(f"started experiment {experiment_id} from template {settings.template_id}")
    try:
        _watch(fis, route53, settings, clock, result, begin, progress)
    except KeyboardInterrupt:
        raise HakitError(
            f"{where}: interrupted; {_stop(fis, experiment_id, clock)}", EXIT_INTERRUPTED
        ) from None
    except HakitError as err:
        # Blind while the fault runs: stopping the experiment is the safe default.
        raise HakitError(f"{err.lines[0]}; {_stop(fis, experiment_id, clock)}", err.exit_code) from None
    result.elapsed_seconds = round(clock.monotonic() - begin, 3)
    return result


def _watch(
    fis: Any,
    route53: Any | None,
    settings: DrillSettings,
    clock: Clock,
    result: DrillResult,
    begin: float,
    progress: Callable[[str], None],
) -> None:
    where = f"fis {settings.template_id} ({settings.region})"
    experiment_over = False
    while True:
        now = clock.monotonic() - begin
        if not experiment_over:
            try:
                answer = retry_throttled(lambda: fis.get_experiment(id=result.experiment_id), clock)
            except AWS_ERRORS as err:
                raise _aws_error(f"{where}: get_experiment {result.experiment_id}", err) from None
            state = answer["experiment"].get("state", {})
            status = str(state.get("status", "unknown"))
            if status != result.status:
                progress(f"{now:7.1f} s  experiment {status}")
            result.status, result.reason = status, str(state.get("reason", ""))
            experiment_over = status in TERMINAL
        if route53 is not None and settings.health_check_id:
            _observe_health(route53, settings.health_check_id, clock, result, now, progress)
        result.polls += 1
        recovering = result.detected_seconds is not None and result.recovered_seconds is None
        # After the experiment, keep watching an unhealthy check until it recovers (or time runs out).
        if experiment_over and not recovering:
            return
        if clock.monotonic() - begin >= settings.timeout:
            if not experiment_over:
                result.status = "timeout"
                result.reason = (
                    f"still running after {settings.timeout:g} s; {_stop(fis, result.experiment_id, clock)}"
                )
            return
        clock.sleep(settings.poll_interval)


def _observe_health(
    route53: Any,
    check_id: str,
    clock: Clock,
    result: DrillResult,
    now: float,
    progress: Callable[[str], None],
) -> None:
    try:
        answer = retry_throttled(lambda: route53.get_health_check_status(HealthCheckId=check_id), clock)
    except AWS_ERRORS as err:
        raise _aws_error(f"route53 health check {check_id}: get_health_check_status", err) from None
    healthy = healthy_from_status(answer)
    if healthy is None:
        return
    previous = result.health_timeline[-1][1] if result.health_timeline else None
    if healthy != previous:
        result.health_timeline.append((round(now, 3), healthy))
        progress(f"{now:7.1f} s  health check {check_id} {'healthy' if healthy else 'UNHEALTHY'}")
    if not healthy and result.detected_seconds is None:
        result.detected_seconds = round(now, 3)
    if healthy and result.detected_seconds is not None and result.recovered_seconds is None:
        result.recovered_seconds = round(now, 3)


def _stop(fis: Any, experiment_id: str, clock: Clock) -> str:
    """Stop the experiment; say whether that worked (the operator must act when it did not)."""
    try:
        retry_throttled(lambda: fis.stop_experiment(id=experiment_id), clock)
    except AWS_ERRORS as err:
        why = describe_error(err)
        return f"experiment {experiment_id} could NOT be stopped ({why}): stop it in the FIS console"
    return f"experiment {experiment_id} stopped"


def list_templates(fis: Any, region: str, clock: Clock, limit: int = 1000) -> list[dict[str, str]]:
    """The region's experiment templates: id, description and the `hakit:drill` tag (bounded to `limit`)."""
    templates: list[dict[str, str]] = []
    token: str | None = None
    while len(templates) < limit:
        kwargs: dict[str, Any] = {"maxResults": 100}
        if token:
            kwargs["nextToken"] = token
        try:
            page = retry_throttled(partial(fis.list_experiment_templates, **kwargs), clock)
        except AWS_ERRORS as err:
            raise _aws_error(f"fis ({region}): list_experiment_templates", err) from None
        for item in page.get("experimentTemplates", []):
            templates.append(
                {
                    "id": str(item.get("id", "")),
                    "description": str(item.get("description", "")),
                    "drill": str((item.get("tags") or {}).get("hakit:drill", "")),
                }
            )
        token = page.get("nextToken")
        if not token:
            break
    return templates[:limit]

"""RTO/RPO budget per entry path, computed from the graph's actual settings, with formula and inputs.

A path's stages belong to failure scenarios: `region` stages happen when a region is lost (DNS or CDN
failover, the database promotion), `zone` stages are independent in-region failovers (a target, a
load-balancer node). Every stage is **automatic** (the system does it alone) or **manual** (a person starts
a runbook). Manual stages wait for the page and the operator: a path with one gets an `on-call` stage
(paging detection + operator response) and its manual stages run one after the other behind it, while the
automatic ones run in parallel from the failure on:

    region = max(sum of automatic region stages, on-call + sum of manual region stages)
    RTO    = max(region, largest zone stage)

The *automatic path* exists only when no region stage is manual; the SLO verdict always uses the RTO above
(the path that really happens). Data at risk (RPO) = the worst replication lag of the replicated stores;
an unreplicated store risks its backup interval; a store with neither is unbounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from hakit.analysis import tokens
from hakit.analysis.keepalived import VrrpNode, eip_group, master_down_seconds, user_data_text, vrrp_groups
from hakit.analysis.rules_ha import (
    failover_type,
    global_members,
    routed_groups,
    routing_policy,
    table_regions,
)
from hakit.analysis.schedule import calendar_interval_seconds, schedule_interval_seconds
from hakit.analysis.view import Resource, StackView
from hakit.spec.slo import OPERATOR_RESPONSE_SECONDS

if TYPE_CHECKING:
    from hakit.spec.inventory import Inventory
    from hakit.spec.proxy import Backend, Timeouts

Scenario = Literal["region", "zone", "data", "capacity"]
"""`capacity`: restoring lost capacity (a replaced instance); traffic already left the dead one, so it is
shown per path but not added to the path's RTO."""
Trigger = Literal["automatic", "manual"]

# Documented figures (AWS docs) for managed failovers the graph cannot measure; cited in the formula.
ALIAS_TTL_SECONDS = 60.0
"""Alias records answer with the target's TTL: 60 s for ELB and CloudFront."""
AURORA_GLOBAL_FAILOVER_RTO = 60.0
"""Aurora Global Database cross-Region switchover/failover, once a person starts it: AWS says its RTO "can be
in the order of minutes"; 60 s is the most optimistic figure."""
RUNBOOK_WRITER_POLL_SECONDS = 10.0
"""`hakit failover` polls for the new writer every 10 s (RunbookSettings.poll_interval_s) before it moves
traffic: up to one poll on top of the database's own failover time."""
AURORA_GLOBAL_LAG_RPO = 1.0
"""Aurora Global Database storage replication lag: 'typically under a second'."""
DYNAMODB_GLOBAL_LAG_RPO = 1.0
"""DynamoDB global tables (eventual, MREC): replication 'typically within a second'."""
MARIADB_ASYNC_LAG_RPO = 1.0
"""Dual-primary MariaDB: asynchronous replication; the tail not yet shipped when a node's disk is lost.
An assumption for a healthy LAN pair (measure `Seconds_Behind_Master` under your load); a node that
restarts keeps its binary log (sync_binlog=1) and the lab measured 0 acknowledged rows lost."""
ROUTE53_DEFAULTS = {"requestInterval": 30.0, "failureThreshold": 3.0}
MAX_CHECK_NESTING = 4
"""Calculated health checks nested deeper than this (or in a cycle) count as unbounded."""
TARGET_GROUP_DEFAULTS = {"interval": 30.0, "unhealthyThreshold": 2.0}
ASG_DEFAULTS = {"healthCheckGracePeriod": 300.0}
INSTANCE_LAUNCH_SECONDS = 60.0
"""Assumed time from an Auto Scaling group's launch request to a booting instance (measure with a drill)."""
CLOUDFRONT_DEFAULTS = {"connectionAttempts": 3.0, "connectionTimeout": 10.0, "originReadTimeout": 30.0}
PAGING_ALARM_DEFAULT = (60.0, 1.0)
"""Assumed paging alarm when the stack holds none on the path's health check: one 60 s period of Route 53's
`HealthCheckStatus` metric (published once a minute), one evaluation period: the fastest such page."""
EIP_NOTIFY_DEADLINE_SECONDS = 30.0
"""scripts/eip_notify.py: every AWS/IMDS step of the Elastic IP move retries until this deadline (default)."""


@dataclass(frozen=True)
class Measurement:
    """A figure a drill measured for a stage (or a documented lab range), shown next to the formula."""

    low: float
    high: float
    source: str

    def text(self) -> str:
        """`measured 1.27-1.42 s (docs/mariadb.md, 5 runs)`."""
        shown = f"{self.low:g} s" if self.low == self.high else f"{self.low:g}-{self.high:g} s"
        return f"measured {shown} ({self.source})"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {"low": self.low, "high": self.high, "source": self.source}


MARIADB_VIP_MEASURED = Measurement(
    1.27,
    1.42,
    "docs/mariadb.md: write VIP lab, MariaDB SIGKILLed, 5 runs at check 1 s, fall 2, advert_int 0.2",
)
MARIADB_CATCH_UP_MEASURED = Measurement(
    0.38, 1.53, "docs/mariadb.md: catch-up after a restart, 0 rows lost, 5 runs"
)


@dataclass(frozen=True)
class Stage:
    """One layer's contribution: a figure in seconds (None: unbounded), its formula and inputs.

    A manual stage's figure is its runbook's own duration; the wait for the page and the person is the
    path's `on-call` stage (counted once per path)."""

    layer: str
    resource: str
    scenario: Scenario
    metric: Literal["rto", "rpo"]
    seconds: float | None
    formula: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    trigger: Trigger = "automatic"
    measured: tuple[Measurement, ...] = ()
    verified_by: tuple[str, ...] = ()
    """FIS experiment templates (`FaultDrills`) whose drill exercises this stage (run with `hakit drill`)."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "layer": self.layer,
            "resource": self.resource,
            "scenario": self.scenario,
            "metric": self.metric,
            "trigger": self.trigger,
            "seconds": self.seconds,
            "formula": self.formula,
            "inputs": dict(self.inputs),
            "measured": [m.as_dict() for m in self.measured],
            "verified_by": list(self.verified_by),
        }


@dataclass(frozen=True)
class Slo:
    """Declared objectives (seconds; None: not declared) and the operator response a manual stage costs."""

    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    operator_response_seconds: float = float(OPERATOR_RESPONSE_SECONDS)

    @classmethod
    def from_mapping(cls, raw: Any) -> Slo:
        """From `{rto_seconds, rpo_seconds, operator_response_seconds}` (stack config `slo` or inventory)."""
        if not isinstance(raw, Mapping):
            return cls()
        rto, rpo = raw.get("rto_seconds"), raw.get("rpo_seconds")
        operator = raw.get("operator_response_seconds")
        return cls(
            float(rto) if rto is not None else None,
            float(rpo) if rpo is not None else None,
            float(operator) if operator is not None else float(OPERATOR_RESPONSE_SECONDS),
        )

    @property
    def declared(self) -> bool:
        """True when at least one objective is declared."""
        return self.rto_seconds is not None or self.rpo_seconds is not None


def _sum(figures: list[float | None]) -> float | None:
    return None if None in figures else sum(x for x in figures if x is not None)


@dataclass(frozen=True)
class EntryPath:
    """How clients reach the service (a DNS name, a distribution, a VIP) and what failing over costs."""

    name: str
    kind: str
    stages: tuple[Stage, ...]

    def _rto(self, scenario: str, trigger: str | None = None) -> list[Stage]:
        return [
            s
            for s in self.stages
            if s.metric == "rto" and s.scenario == scenario and (trigger is None or s.trigger == trigger)
        ]

    @property
    def automatic(self) -> bool:
        """True when every region stage happens without a person (the automatic path exists)."""
        return not self._rto("region", "manual")

    @property
    def rto_seconds(self) -> float | None:
        """The path that really happens: max(region, largest zone stage); None when a stage is unbounded."""
        automatic = [s.seconds for s in self._rto("region", "automatic")]
        manual = [s.seconds for s in self._rto("region", "manual")]
        zone = [s.seconds for s in self._rto("zone")]
        if None in zone:
            return None
        candidates: list[float | None] = []
        if automatic:
            candidates.append(_sum(automatic))
        if manual:
            candidates.append(_sum(manual))
        candidates += zone
        if None in candidates:
            return None
        return max((x for x in candidates if x is not None), default=0.0)

    @property
    def automatic_rto_seconds(self) -> float | None:
        """The automatic path's RTO (None when there is none: a region stage needs a person, or unbounded)."""
        return self.rto_seconds if self.automatic else None

    @property
    def rpo_seconds(self) -> float | None:
        """The worst data-at-risk stage (0 when the path holds no data)."""
        figures = [s.seconds for s in self.stages if s.metric == "rpo"]
        if None in figures:
            return None
        return max((x for x in figures if x is not None), default=0.0)

    def rto_formula(self) -> str:
        """How the path RTO combines its stages."""
        automatic = [s.layer for s in self._rto("region", "automatic")]
        manual = [s.layer for s in self._rto("region", "manual")]
        zone = [s.layer for s in self._rto("zone")]
        parts = ([" + ".join(automatic)] if automatic else []) + ([" + ".join(manual)] if manual else [])
        parts += zone
        return f"max({', '.join(parts)})" if len(parts) > 1 else (parts[0] if parts else "0")

    def manual_layers(self) -> list[str]:
        """The layers a person must start (on-call excluded), in order."""
        return [s.layer for s in self._rto("region", "manual") if s.layer != "on-call"]


@dataclass(frozen=True)
class Budget:
    """Entry paths with their figures, compared with the SLO."""

    paths: tuple[EntryPath, ...]
    slo: Slo = Slo()

    def violations(self) -> list[str]:
        """One line per path and objective it is over (unbounded counts as over)."""
        return [line for path in self.paths for line in self.path_violations(path)]

    def path_violations(self, path: EntryPath) -> list[str]:
        """The lines for one path: RTO and/or RPO over the declared objective."""
        lines = []
        for metric, actual, limit in (
            ("RTO", path.rto_seconds, self.slo.rto_seconds),
            ("RPO", path.rpo_seconds, self.slo.rpo_seconds),
        ):
            if limit is None:
                continue
            if actual is None or actual > limit:
                shown = "unbounded" if actual is None else f"{actual:g}s"
                manual = (
                    " (manual path: " + " + ".join(path.manual_layers()) + ")"
                    if metric == "RTO" and not path.automatic
                    else ""
                )
                lines.append(f"{path.name}: {metric} {shown} exceeds the SLO of {limit:g}s{manual}")
        return lines

    def unbounded(self) -> list[str]:
        """One line per path and metric whose figure is unbounded (what --strict fails on without an SLO)."""
        return [
            f"{path.name}: {metric} unbounded"
            for path in self.paths
            for metric, actual in (("RTO", path.rto_seconds), ("RPO", path.rpo_seconds))
            if actual is None
        ]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "slo": {
                "rto_seconds": self.slo.rto_seconds,
                "rpo_seconds": self.slo.rpo_seconds,
                "operator_response_seconds": self.slo.operator_response_seconds,
            },
            "paths": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "rto_seconds": p.rto_seconds,
                    "rto_formula": p.rto_formula(),
                    "automatic_path": p.automatic,
                    "automatic_rto_seconds": p.automatic_rto_seconds,
                    "manual_stages": p.manual_layers(),
                    "rpo_seconds": p.rpo_seconds,
                    "stages": [s.as_dict() for s in p.stages],
                }
                for p in self.paths
            ],
            "violations": self.violations(),
        }


def _num(resource: Resource, key: str, defaults: Mapping[str, float]) -> tuple[float, bool]:
    """(value, is_default) for a numeric prop."""
    value = resource.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value:
        return float(value), False
    return defaults[key], True


def _inputs(**values: tuple[float, bool] | float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, tuple):
            out[key] = value[0] if not value[1] else f"{value[0]:g} (default)"
        else:
            out[key] = value
    return out


# ------------------------------------------------------------------ cloud stages


def dns_stage(view: StackView, records: list[Resource]) -> Stage:
    """Route 53 failover: the health check's detection time + TTL of the answer that must go away.

    Failover sets: the PRIMARY. Latency/weighted/... sets: the slowest answer to leave (worst case). When the
    answer that must take over is gated by an ARC routing control, the stage is manual (see `arc_stage`).
    """
    gated = [r for r in records if routing_gates(view, r)]
    if any(failover_type(r) for r in records):
        primary = next((r for r in records if failover_type(r) == "PRIMARY"), records[0])
        standby = [r for r in records if r is not primary]
        automatic = _answer_stage(view, primary)
        if any(r in gated for r in standby):
            return arc_stage(view, automatic, primary, [r for r in standby if r in gated])
        return automatic
    stages = [_answer_stage(view, record) for record in records]
    unbounded = [s for s in stages if s.seconds is None]
    worst = unbounded[0] if unbounded else max(stages, key=lambda s: s.seconds or 0.0)
    if gated:
        leaving = records[stages.index(worst)]
        return arc_stage(view, worst, leaving, [r for r in gated if r is not leaving] or gated)
    return worst


def routing_gates(view: StackView, record: Resource) -> list[str]:
    """Routing controls an answer needs On to be healthy: its RECOVERY_CONTROL check, or one an all-children
    (AND) calculated check requires."""
    checks = view.referenced(record, "healthCheckId", tokens.HEALTH_CHECK)
    return _gates(view, checks[0], 0) if checks else []


def _gates(view: StackView, check: Resource, depth: int) -> list[str]:
    kind = str(check.get("type") or "").upper()
    if kind == "RECOVERY_CONTROL":
        controls = view.referenced(check, "routingControlArn", tokens.ROUTING_CONTROL)
        return [controls[0].name if controls else check.name]
    if kind != "CALCULATED" or depth >= MAX_CHECK_NESTING:
        return []
    children = view.referenced(check, "childHealthchecks", tokens.HEALTH_CHECK)
    required = check.get("childHealthThreshold")
    if not isinstance(required, (int, float)) or isinstance(required, bool):
        required = len(children)
    if not children or required < len(children):
        return []  # an N-of-M gate (N < M) can stay healthy with one control Off
    return [gate for child in children for gate in _gates(view, child, depth + 1)]


def arc_stage(view: StackView, automatic: Stage, leaving: Resource, standby: list[Resource]) -> Stage:
    """ARC-gated answers: Route 53 cannot fail over by itself (the standby's control is Off), so a person
    flips the controls (`hakit failover`) and clients follow after the TTL of the answer that goes away."""
    ttl = ALIAS_TTL_SECONDS if leaving.items("aliases") else _num(leaving, "ttl", {"ttl": 300.0})[0]
    controls = sorted({gate for record in standby for gate in routing_gates(view, record)})
    return Stage(
        "dns",
        automatic.resource,
        "region",
        "rto",
        ttl,
        "routing-control flip by the runbook (hakit failover: one API call; the check follows at once) + TTL",
        {
            "standby_controls": ", ".join(controls),
            "standby_state": "Off (ARC creates controls Off; hakit failover turns non-target regions Off)",
            "if_standby_on": "unbounded" if automatic.seconds is None else f"{automatic.seconds:g}s",
            "ttl": ttl,
        },
        trigger="manual",
    )


def _answer_stage(view: StackView, primary: Resource) -> Stage:
    checks = view.referenced(primary, "healthCheckId", tokens.HEALTH_CHECK)
    alias = bool(primary.items("aliases"))
    ttl = (ALIAS_TTL_SECONDS, True) if alias else _num(primary, "ttl", {"ttl": 300.0})
    name = f"{primary.get('type')} {primary.get('name')} ({primary.get('setIdentifier')})"
    if not checks:
        return Stage(
            "dns", name, "region", "rto", None, "no health check: Route 53 never fails over", {"ttl": ttl[0]}
        )
    detection = check_detection(view, checks[0])
    inputs = {**detection.inputs, **_inputs(ttl=ttl)}
    if alias:
        inputs["ttl"] = f"{ttl[0]:g} (alias: the target's TTL)"
    if detection.seconds is None:
        return Stage("dns", name, "region", "rto", None, detection.formula, inputs)
    return Stage(
        "dns", name, "region", "rto", detection.seconds + ttl[0], f"{detection.formula} + TTL", inputs
    )


def endpoint_detection(view: StackView, check: Resource, depth: int = 0) -> Detection | None:
    """How long the endpoint probes under a check take to see the failure (routing controls ignored: they
    detect nothing); None when no endpoint probe is underneath."""
    kind = str(check.get("type") or "").upper()
    if kind == "RECOVERY_CONTROL":
        return None
    if kind == "CALCULATED":
        if depth >= MAX_CHECK_NESTING:
            return None
        found = [
            d
            for child in view.referenced(check, "childHealthchecks", tokens.HEALTH_CHECK)
            if (d := endpoint_detection(view, child, depth + 1)) is not None
        ]
        if not found:
            return None
        if any(d.seconds is None for d in found):
            return next(d for d in found if d.seconds is None)
        return max(found, key=lambda d: d.seconds or 0.0)
    return check_detection(view, check, depth)


def paging_alarm(view: StackView, checks: list[Resource]) -> tuple[float, str, dict[str, Any]]:
    """(seconds, formula, inputs) of the alarm that pages someone about these health checks: a CloudWatch
    alarm on Route 53's HealthCheckStatus for one of them, else the assumed fastest such alarm."""
    wanted = {c.urn for c in checks}
    ids = {str(c.physical_id or c.get("id")) for c in checks}
    for alarm in view.of_type(tokens.METRIC_ALARM):
        if str(alarm.get("metricName") or "") != "HealthCheckStatus":
            continue
        dimensions = alarm.get("dimensions")
        refs = set(alarm.refs.get("dimensions", ()))
        value = dimensions.get("HealthCheckId") if isinstance(dimensions, Mapping) else None
        if not (refs & wanted or (isinstance(value, str) and value in ids)):
            continue
        period = _alarm_period(alarm)
        evaluations = alarm.get("evaluationPeriods")
        if period is not None and isinstance(evaluations, (int, float)) and not isinstance(evaluations, bool):
            return (
                period * float(evaluations),
                "alarm period x evaluation_periods",
                {"alarm": alarm.name, "alarm_period": period, "evaluation_periods": float(evaluations)},
            )
    period, evaluations = PAGING_ALARM_DEFAULT
    return (
        period * evaluations,
        "assumed paging alarm 60 x 1 (no HealthCheckStatus alarm in the stack)",
        {"alarm": "none in the stack (assumed: HealthCheckStatus, 60 s x 1)"},
    )


def on_call_stage(view: StackView, checks: list[Resource], slo: Slo) -> Stage:
    """What a manual failover waits for before its runbook starts: the probe sees it, the alarm pages, a
    person responds. Counted once per path (one page, one person, one runbook)."""
    probes = [d for check in checks if (d := endpoint_detection(view, check)) is not None]
    probe = max(probes, key=lambda d: d.seconds or 0.0) if probes else None
    alarm_seconds, alarm_formula, inputs = paging_alarm(view, checks)
    inputs = dict(inputs)
    parts = [alarm_formula, "operator response"]
    seconds: float | None = alarm_seconds + slo.operator_response_seconds
    if probe is not None:
        parts.insert(0, f"probe detection ({probe.formula})")
        inputs["probe"] = probe.summary
        seconds = None if probe.seconds is None or seconds is None else seconds + probe.seconds
    inputs["operator_response"] = f"{slo.operator_response_seconds:g} (SLO operator_response_seconds)"
    return Stage(
        "on-call", "page + operator", "region", "rto", seconds, " + ".join(parts), inputs, trigger="manual"
    )


@dataclass(frozen=True)
class Detection:
    """How long a Route 53 health check takes to report unhealthy (None: unbounded), and why."""

    seconds: float | None
    formula: str
    inputs: Mapping[str, Any]
    summary: str
    """One line for a parent's inputs: `east-hc HTTPS 10 x 3 = 30s`."""


def check_detection(view: StackView, check: Resource, depth: int = 0) -> Detection:
    """Detection time of a health check by type: endpoint probes, routing controls, calculated, alarms.

    A CALCULATED check has no interval: it changes state when its children do. With a threshold of N of
    M children it turns unhealthy once M - N + 1 have failed; a lost region fails them together, so the
    slowest child bounds it (routing controls flip at once: 0). Nested calculated checks recurse.
    """
    kind = str(check.get("type") or "").upper()
    if kind == "RECOVERY_CONTROL":
        controls = view.referenced(check, "routingControlArn", tokens.ROUTING_CONTROL)
        control = controls[0].name if controls else str(check.get("routingControlArn") or "?")
        return Detection(
            0.0,
            "routing control flip (an operator or runbook action: no detection delay)",
            {"routing_control": control},
            f"{check.name} RECOVERY_CONTROL 0s (flipped by an operator)",
        )
    if kind == "CALCULATED":
        return _calculated_detection(view, check, depth)
    if kind == "CLOUDWATCH_METRIC":
        return _alarm_detection(view, check)
    interval = _num(check, "requestInterval", ROUTE53_DEFAULTS)
    threshold = _num(check, "failureThreshold", ROUTE53_DEFAULTS)
    seconds = interval[0] * threshold[0]
    return Detection(
        seconds,
        "request_interval x failure_threshold",
        _inputs(request_interval=interval, failure_threshold=threshold),
        f"{check.name} {kind} {_shown(interval)} x {_shown(threshold)} = {seconds:g}s",
    )


def _calculated_detection(view: StackView, check: Resource, depth: int) -> Detection:
    """The slowest child's detection (routing controls 0); unbounded when a child is unreadable."""
    listed = check.items("childHealthchecks")
    children = view.referenced(check, "childHealthchecks", tokens.HEALTH_CHECK)
    if depth >= MAX_CHECK_NESTING:
        return _unbounded(check, f"calculated checks nested deeper than {MAX_CHECK_NESTING} levels")
    if not children or len(children) < len(listed):
        return _unbounded(check, "calculated check whose children are not all in the stack")
    details = [check_detection(view, child, depth + 1) for child in children]
    required = check.get("childHealthThreshold")
    if not isinstance(required, (int, float)) or isinstance(required, bool):
        required = len(children)
    figures = [d.seconds for d in details]
    seconds = None if None in figures else max(x for x in figures if x is not None)
    shown = "unbounded" if seconds is None else f"{seconds:g}s"
    threshold = f"{required:g} of {len(children)}"
    return Detection(
        seconds,
        "calculated: slowest child (request_interval x failure_threshold; routing control 0)",
        {"child_health_threshold": threshold, "children": "; ".join(d.summary for d in details)},
        f"{check.name} CALCULATED {threshold} [{'; '.join(d.summary for d in details)}] = {shown}",
    )


def _alarm_detection(view: StackView, check: Resource) -> Detection:
    """The alarm's period x evaluation_periods when the alarm is in the stack; unbounded otherwise."""
    alarm_name = check.get("cloudwatchAlarmName")
    alarms = view.referenced(check, "cloudwatchAlarmName", tokens.METRIC_ALARM)
    region = check.get("cloudwatchAlarmRegion")
    alarms = [a for a in alarms if a.region == region] or alarms
    if not alarms:
        return _unbounded(
            check, f"CloudWatch alarm {alarm_name} not in the stack: period x evaluation_periods unknown"
        )
    alarm = alarms[0]
    period = _alarm_period(alarm)
    evaluations = alarm.get("evaluationPeriods")
    if period is None or not isinstance(evaluations, (int, float)) or isinstance(evaluations, bool):
        return _unbounded(check, f"CloudWatch alarm {alarm.name}: period or evaluation_periods unreadable")
    seconds = period * float(evaluations)
    return Detection(
        seconds,
        "alarm period x evaluation_periods",
        {"alarm": alarm.name, "period": period, "evaluation_periods": float(evaluations)},
        f"{check.name} CLOUDWATCH_METRIC {alarm.name} {period:g} x {float(evaluations):g} = {seconds:g}s",
    )


def _alarm_period(alarm: Resource) -> float | None:
    """The alarm's `period`, or that of the metric query it alarms on (metric math)."""
    candidates = [alarm.get("period")] + [
        query.get("metric", {}).get("period")
        for query in alarm.items("metricQueries")
        if isinstance(query, dict) and query.get("returnData") and isinstance(query.get("metric"), dict)
    ]
    for value in candidates:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def _unbounded(check: Resource, formula: str) -> Detection:
    return Detection(None, formula, {"check": check.name}, f"{check.name}: unbounded ({formula})")


def _shown(value: tuple[float, bool]) -> str:
    return f"{value[0]:g} (default)" if value[1] else f"{value[0]:g}"


def cdn_stage(dist: Resource) -> Stage:
    """CloudFront origin failover for the primary origin of the group, the worse of its two failure modes:
    refused connections cost connection_attempts x connection_timeout; a primary that accepts and hangs
    costs connection_attempts x origin_read_timeout (each attempt waits the whole read timeout).

    Origin failover is per request: while the primary is down every request pays this again."""
    groups = [g for g in dist.items("originGroups") if isinstance(g, dict)]
    if not groups:
        return Stage("cdn", dist.name, "region", "rto", None, "no origin group: CloudFront cannot fail over")
    members = groups[0].get("members") or []
    first = members[0].get("originId") if members and isinstance(members[0], dict) else None
    origin = next(
        (o for o in dist.items("origins") if isinstance(o, dict) and o.get("originId") == first),
        {},
    )
    proxy = Resource(urn="", type="", name="", props=origin)
    attempts = _num(proxy, "connectionAttempts", CLOUDFRONT_DEFAULTS)
    timeout = _num(proxy, "connectionTimeout", CLOUDFRONT_DEFAULTS)
    custom = origin.get("customOriginConfig") if isinstance(origin, dict) else None
    if isinstance(custom, Mapping):
        read = _num(
            Resource(urn="", type="", name="", props=custom), "originReadTimeout", CLOUDFRONT_DEFAULTS
        )
    else:
        read = (CLOUDFRONT_DEFAULTS["originReadTimeout"], True)
    refused, hung = attempts[0] * timeout[0], attempts[0] * read[0]
    return Stage(
        "cdn",
        f"{dist.name} ({first})",
        "region",
        "rto",
        max(refused, hung),
        "max(refused: connection_attempts x connection_timeout, "
        "hung: connection_attempts x origin_read_timeout), paid per request",
        _inputs(
            connection_attempts=attempts,
            connection_timeout=timeout,
            origin_read_timeout=read,
            refused=refused,
            hung=hung,
        ),
    )


def target_group_stage(group: Resource) -> Stage:
    """ALB/NLB target failover: health check interval x unhealthy threshold."""
    check = group.get("healthCheck")
    proxy = Resource(urn="", type="", name="", props=check if isinstance(check, dict) else {})
    interval = _num(proxy, "interval", TARGET_GROUP_DEFAULTS)
    threshold = _num(proxy, "unhealthyThreshold", TARGET_GROUP_DEFAULTS)
    return Stage(
        "alb",
        group.name,
        "zone",
        "rto",
        interval[0] * threshold[0],
        "interval x unhealthy_threshold",
        _inputs(interval=interval, unhealthy_threshold=threshold),
    )


def replacement_stages(view: StackView, groups: Iterable[Resource]) -> list[Stage]:
    """Instance dies -> replaced, per Auto Scaling group behind these target groups (ELB health checks only:
    with EC2 checks a hung instance is never replaced, HA014): detection + launch + grace period."""
    stages: list[Stage] = []
    for group in groups:
        detection = target_group_stage(group)
        for asg in view.of_type(tokens.AUTOSCALING_GROUP):
            if group not in view.referenced(asg, "targetGroupArns", *tokens.TARGET_GROUPS):
                continue
            raw = asg.get("healthCheckGracePeriod")
            known = isinstance(raw, int | float) and not isinstance(raw, bool)
            grace = (float(raw), False) if known else (ASG_DEFAULTS["healthCheckGracePeriod"], True)
            elb = asg.get("healthCheckType") == "ELB"
            seconds = (detection.seconds or 0) + INSTANCE_LAUNCH_SECONDS + grace[0] if elb else None
            stages.append(
                Stage(
                    "asg",
                    asg.name,
                    "capacity",
                    "rto",
                    seconds,
                    "interval x unhealthy_threshold + launch + health_check_grace_period"
                    if elb
                    else "EC2 health checks: a hung instance is never replaced",
                    {**detection.inputs, **_inputs(launch=INSTANCE_LAUNCH_SECONDS, grace_period=grace)},
                )
            )
    return stages


def keepalived_stage(name: str, advert: float, backup_priority: int, version: int) -> Stage:
    """VRRP takeover: Master_Down_Interval = 3 x advert_int + skew of the best backup."""
    seconds = master_down_seconds(advert, backup_priority, version)
    skew = "(256 - priority) / 256" + (" x advert_int" if version == 3 else "")
    return Stage(
        "keepalived",
        name,
        "zone",
        "rto",
        round(seconds, 3),
        f"3 x advert_int + {skew}",
        {"advert_int": advert, "backup_priority": backup_priority, "vrrp_version": version},
    )


def data_stages(view: StackView) -> list[Stage]:
    """Database failover (region RTO) and data-at-risk (RPO) stages of every store in the stack."""
    stages: list[Stage] = []
    backup = backup_interval(view)
    covered: set[str] = set()
    for global_cluster in view.of_type(tokens.GLOBAL_CLUSTER):
        members = global_members(view, global_cluster)
        covered |= {m.urn for m in members}
        if len({m.region for m in members}) < 2:
            continue
        stages.append(
            Stage(
                "aurora-global",
                global_cluster.name,
                "region",
                "rto",
                AURORA_GLOBAL_FAILOVER_RTO + RUNBOOK_WRITER_POLL_SECONDS,
                "runbook: global switchover/failover started by a person (AWS: 'can be in the order of "
                "minutes'; 60 s is the most optimistic) + one writer poll of hakit failover",
                {
                    "documented_rto": f"{AURORA_GLOBAL_FAILOVER_RTO:g} (most optimistic)",
                    "writer_poll": RUNBOOK_WRITER_POLL_SECONDS,
                    "members": len(members),
                },
                trigger="manual",
            )
        )
        stages.append(aurora_rpo_stage(view, global_cluster, members))
    for table in view.of_type(tokens.DYNAMODB_TABLE):
        regions = table_regions(view, table)
        if len(regions) < 2:
            continue
        covered.add(table.urn)
        strong = any(
            isinstance(r, dict) and str(r.get("consistencyMode", "")).upper() == "STRONG"
            for r in table.items("replicas")
        )
        stages.append(
            Stage(
                "dynamodb-global",
                table.name,
                "data",
                "rpo",
                0.0 if strong else DYNAMODB_GLOBAL_LAG_RPO,
                "MRSC: synchronous" if strong else "async replication lag (~1 s)",
                {"regions": len(regions), "consistency": "STRONG" if strong else "EVENTUAL"},
            )
        )
    for dsql in view.of_type(tokens.DSQL_CLUSTER):
        if dsql.get("multiRegionProperties") or view.referencing(dsql, tokens.DSQL_PEERING):
            covered.add(dsql.urn)
            stages.append(
                Stage(
                    "dsql", dsql.name, "data", "rpo", 0.0, "synchronous multi-region commit", {"peers": "yes"}
                )
            )
    stores = view.of_type(tokens.RDS_CLUSTER, tokens.RDS_INSTANCE, tokens.DYNAMODB_TABLE, tokens.DSQL_CLUSTER)
    for store in stores:
        if store.urn in covered or (store.type == tokens.RDS_INSTANCE and store.get("clusterIdentifier")):
            continue
        if store.get("replicationSourceIdentifier") or store.get("replicateSourceDb"):
            continue
        if backup is None:
            stages.append(Stage("backup", store.name, "data", "rpo", None, "no replica and no backup plan"))
        else:
            seconds, plan, schedule = backup
            stages.append(
                Stage(
                    "backup",
                    f"{store.name} via {plan}",
                    "data",
                    "rpo",
                    seconds,
                    "backup schedule interval",
                    {"schedule": schedule},
                )
            )
    return stages


def aurora_rpo_stage(view: StackView, global_cluster: Resource, members: list[Resource]) -> Stage:
    """Aurora global RPO: the primary's `rds.global_db_rpo` when set (a bound the writer enforces), else
    the documented typical replication lag."""
    primary = next((m for m in members if m.region == global_cluster.region), members[0])
    for group in view.referenced(primary, "dbClusterParameterGroupName", tokens.RDS_CLUSTER_PARAMETER_GROUP):
        for parameter in group.items("parameters"):
            if isinstance(parameter, dict) and parameter.get("name") == "rds.global_db_rpo":
                try:
                    bound = float(parameter.get("value"))  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    continue
                return Stage(
                    "aurora-global",
                    global_cluster.name,
                    "data",
                    "rpo",
                    bound,
                    "rds.global_db_rpo: commits wait while the lag exceeds it",
                    {"rds.global_db_rpo": bound, "parameter_group": group.name},
                )
    return Stage(
        "aurora-global",
        global_cluster.name,
        "data",
        "rpo",
        AURORA_GLOBAL_LAG_RPO,
        "documented replication lag (< 1 s; switchover: 0)",
        {"typical_lag": AURORA_GLOBAL_LAG_RPO},
    )


def backup_interval(view: StackView) -> tuple[float, str, str] | None:
    """(seconds, plan, schedule) of the most frequent backup rule in the stack (continuous: 300 s)."""
    best: tuple[float, str, str] | None = None
    for plan in view.of_type(tokens.BACKUP_PLAN):
        for plan_rule in plan.items("rules"):
            if not isinstance(plan_rule, dict):
                continue
            if plan_rule.get("enableContinuousBackup"):
                candidate: tuple[float, str, str] = (300.0, plan.name, "continuous (PITR, ~5 min)")
            else:
                schedule = plan_rule.get("schedule")
                seconds = schedule_interval_seconds(schedule) if isinstance(schedule, str) else None
                if seconds is None:
                    continue
                candidate = (seconds, plan.name, str(schedule))
            if best is None or candidate[0] < best[0]:
                best = candidate
    return best


def lb_target_groups(view: StackView, lbs: Iterable[Resource]) -> list[Resource]:
    """Target groups the listeners of these load balancers forward to."""
    groups: list[Resource] = []
    for lb in lbs:
        for listener in view.referencing(lb, *tokens.LISTENERS):
            for group in view.referenced(listener, "defaultActions", *tokens.TARGET_GROUPS):
                if group not in groups:
                    groups.append(group)
    return groups


def _vrrp_stage(view: StackView, nodes: list[VrrpNode]) -> Stage:
    """The takeover of a VRRP group by its best backup; with an Elastic IP, plus the notify hook's move."""
    ranked = sorted(nodes, key=lambda n: (-n.priority, n.instance.urn))
    backup = ranked[1]
    stage = keepalived_stage(
        f"VRID {backup.vrid} ({ranked[0].instance.name} -> {backup.instance.name})",
        backup.advert_int,
        backup.priority,
        backup.version,
    )
    eip = next((e for e in view.of_type(tokens.EIP) if eip_group(view, e) == nodes), None)
    if eip is None or stage.seconds is None:
        return stage
    deadline = eip_move_deadline(backup.instance)
    return replace(
        stage,
        seconds=round(stage.seconds + deadline, 3),
        formula=f"{stage.formula} + Elastic IP move (eip_notify deadline)",
        inputs={**stage.inputs, "eip": eip.name, "eip_move_deadline": deadline},
    )


_DEADLINE_RE = re.compile(r'"deadline_seconds"\s*:\s*([0-9.]+)')


def eip_move_deadline(instance: Resource) -> float:
    """The notify hook's deadline for moving the Elastic IP (its settings in user data), else its default."""
    match = _DEADLINE_RE.search(user_data_text(instance))
    try:
        return float(match.group(1)) if match else EIP_NOTIFY_DEADLINE_SECONDS
    except ValueError:
        return EIP_NOTIFY_DEADLINE_SECONDS


def stack_budget(view: StackView, slo: Slo | None = None) -> Budget:
    """Entry paths of a stack: DNS failover record sets, distributions, load balancers, keepalived pairs."""
    slo = slo or Slo()
    data = data_stages(view)
    paths: list[EntryPath] = []
    fronted: set[str] = set()
    fronted_vrids: set[int] = set()
    for (_, name, type_), records in routed_groups(view).items():
        targets = [t for r in records for t in view.referenced(r, "aliases")]
        fronted |= {t.urn for t in targets}
        lbs = [t for t in targets if t.type in tokens.LOAD_BALANCERS]
        stages = [dns_stage(view, records)]
        stages += [target_group_stage(g) for g in lb_target_groups(view, lbs)]
        stages += replacement_stages(view, lb_target_groups(view, lbs))
        # An answer that is an Elastic IP moved by a keepalived pair: the pair's takeover is in-zone failover.
        for eip in [e for r in records for e in view.referenced(r, "records", tokens.EIP)]:
            group = eip_group(view, eip)
            if len(group) >= 2:
                fronted_vrids.add(group[0].vrid)
                stages.append(_vrrp_stage(view, group))
        checks = [c for r in records for c in view.referenced(r, "healthCheckId", tokens.HEALTH_CHECK)]
        kind = f"dns-{routing_policy(records[0])}"
        paths.append(
            _with_on_call(view, EntryPath(f"{name} ({type_})", kind, tuple(stages + data)), checks, slo)
        )
    for dist in view.of_type(tokens.DISTRIBUTION):
        if dist.urn in fronted:
            continue
        fronted.add(dist.urn)
        origin_lbs = view.referenced(dist, "origins", *tokens.LOAD_BALANCERS)
        fronted |= {lb.urn for lb in origin_lbs}
        stages = [cdn_stage(dist)] + [target_group_stage(g) for g in lb_target_groups(view, origin_lbs)]
        stages += replacement_stages(view, lb_target_groups(view, origin_lbs))
        path = EntryPath(f"distribution {dist.name}", "cdn", tuple(stages + data))
        paths.append(_with_on_call(view, path, [], slo))
    for lb in view.of_type(*tokens.LOAD_BALANCERS):
        if lb.urn in fronted:
            continue
        stages = [target_group_stage(g) for g in lb_target_groups(view, [lb])]
        stages += replacement_stages(view, lb_target_groups(view, [lb]))
        path = EntryPath(f"load balancer {lb.name}", "load-balancer", tuple(stages + data))
        paths.append(_with_on_call(view, path, [], slo))
    for vrid, nodes in vrrp_groups(view).items():
        if len(nodes) >= 2 and vrid not in fronted_vrids:
            path = EntryPath(f"keepalived VRID {vrid}", "vip", (_vrrp_stage(view, nodes), *data))
            paths.append(_with_on_call(view, path, [], slo))
    if not paths and data:
        paths.append(_with_on_call(view, EntryPath("data stores", "data", tuple(data)), [], slo))
    return Budget(tuple(_with_experiments(view, path) for path in paths), slo)


# Which FaultDrills drill (tag `hakit:drill`) exercises which stages: (layer, scenario) pairs.
FIS_DRILL_STAGES = {
    "az-power": {("alb", "zone"), ("asg", "capacity")},
    "region-outage": {("dns", "region")},
}


def _with_experiments(view: StackView, path: EntryPath) -> EntryPath:
    """The path with each stage naming the FIS experiment templates that verify it."""
    drills: dict[str, list[str]] = {}
    for template in view.of_type(tokens.FIS_TEMPLATE):
        tags = template.get("tags")
        drill = tags.get("hakit:drill") if isinstance(tags, dict) else None
        if isinstance(drill, str):
            drills.setdefault(drill, []).append(template.name)
    if not drills:
        return path
    stages = []
    for stage in path.stages:
        names = [
            name
            for drill, pairs in FIS_DRILL_STAGES.items()
            if (stage.layer, stage.scenario) in pairs
            for name in drills.get(drill, [])
        ]
        stages.append(replace(stage, verified_by=tuple(sorted(names))) if names else stage)
    return replace(path, stages=tuple(stages))


def _with_on_call(view: StackView, path: EntryPath, checks: list[Resource], slo: Slo) -> EntryPath:
    """The path with an `on-call` stage in front of its manual stages (when it has any)."""
    if path.automatic:
        return path
    return replace(path, stages=(on_call_stage(view, checks, slo), *path.stages))


# ------------------------------------------------------------------ bare metal


def inventory_budget(inventory: Inventory, slo: Slo | None = None) -> Budget:
    """Per VRRP instance: the keepalived takeover and the worst backend health-check detection."""
    paths: list[EntryPath] = []
    for cluster_name, cluster in inventory.load_balancers.items():
        vrrp = cluster.vrrp
        for instance_name in vrrp.instances:
            ranked = sorted(cluster.nodes, key=lambda n: (-cluster.priority(instance_name, n), n))
            stages: list[Stage] = []
            if len(ranked) >= 2:
                stages.append(
                    keepalived_stage(
                        f"{cluster_name}.{instance_name} ({ranked[0]} -> {ranked[1]})",
                        float(vrrp.advert_int),
                        cluster.priority(instance_name, ranked[1]),
                        vrrp.version,
                    )
                )
            else:
                stages.append(Stage("keepalived", cluster_name, "zone", "rto", None, "one node: no takeover"))
            stages += [
                backend_stage(cluster.proxy.kind, backend_name, backend, cluster.proxy.timeouts)
                for backend_name, backend in cluster.proxy.backends.items()
            ]
            paths.append(EntryPath(f"{cluster_name}/{instance_name}", "vip", tuple(stages)))
    paths += database_pair_paths(inventory)
    paths += backup_job_paths(inventory)
    return Budget(tuple(paths), slo or Slo())


def backend_stage(kind: str, name: str, backend: Backend, timeouts: Timeouts) -> Stage:
    """Until the last request a failed server held is answered: the worst case is a server that accepts and
    hangs (a refused connection is retried at once). Reads the timeouts the renderer writes (`timeouts`).

    HAProxy: the active check marks the server down after fall x inter + timeout check; requests already on
    it wait `timeout server`, then retry elsewhere (retry-on response-timeout). nginx (open source) checks
    passively: the first requests time out after proxy_read_timeout and count towards max_fails; the last
    ones sent before it trips wait one more proxy_read_timeout."""
    check = backend.health_check
    server_timeout = timeouts.server
    if check is not None and kind != "nginx":
        detect = check.fall * check.interval + check.timeout
        return Stage(
            kind,
            name,
            "zone",
            "rto",
            (detect + server_timeout) / 1000,
            "fall x inter + timeout check (marked down) + timeout server (requests already on the hung one)",
            {
                "fall": check.fall,
                "inter_ms": check.interval,
                "timeout_check_ms": check.timeout,
                "timeout_server_ms": server_timeout,
            },
        )
    breaker = backend.circuit_breaker
    if breaker is None:
        return Stage(kind, name, "zone", "rto", None, "no health check and no circuit breaker")
    return Stage(
        kind,
        name,
        "zone",
        "rto",
        2 * server_timeout / 1000,
        "passive: proxy_read_timeout (errors counted) + proxy_read_timeout (requests sent before max_fails "
        "trips); needs error_limit failures within fail_timeout",
        {
            "proxy_read_timeout_ms": server_timeout,
            "error_limit": breaker.error_limit,
            "fail_timeout_ms": breaker.fail_timeout,
        },
    )


def database_pair_paths(inventory: Inventory) -> list[EntryPath]:
    """Per dual-primary MariaDB pair with a write VIP: VIP takeover, check detection, replication RPO."""
    paths: list[EntryPath] = []
    for pair_name, pair in inventory.databases.items():
        vip = pair.write_vip
        if vip is None:
            continue
        standby = min(node.priority for node in pair.nodes.values())
        stages = [
            keepalived_stage(f"{pair_name} write VIP (node crash)", float(vip.advert_int), standby, 3),
            Stage(
                "mariadb-check",
                f"{pair_name} (server down, host up)",
                "zone",
                "rto",
                (vip.fall * vip.check_interval + vip.check_timeout) / 1000 + float(vip.advert_int),
                "fall x check_interval + check_timeout + advert_int (priority-0 advert)",
                {
                    "fall": vip.fall,
                    "check_interval_ms": vip.check_interval,
                    "check_timeout_ms": vip.check_timeout,
                    "advert_int": float(vip.advert_int),
                },
                measured=(MARIADB_VIP_MEASURED,),
            ),
            Stage(
                "mariadb-replication",
                pair_name,
                "data",
                "rpo",
                MARIADB_ASYNC_LAG_RPO,
                "async replication lag (assumed ~1 s; a restarted node loses nothing)",
                {"assumed_lag": MARIADB_ASYNC_LAG_RPO},
                measured=(MARIADB_CATCH_UP_MEASURED,),
            ),
        ]
        paths.append(EntryPath(f"database {pair_name}", "vip", tuple(stages)))
    return paths


def backup_job_paths(inventory: Inventory) -> list[EntryPath]:
    """Per backup job of a host outside a replicated pair: data at risk = the schedule interval."""
    replicated = {host for pair in inventory.databases.values() for host in pair.nodes}
    paths: list[EntryPath] = []
    for job_name, job in inventory.backups.items():
        if job.host in replicated:
            continue
        seconds = calendar_interval_seconds(job.schedule)
        formula = "OnCalendar interval" if seconds is not None else "schedule not modelled"
        stage = Stage("backup", job_name, "data", "rpo", seconds, formula, {"schedule": job.schedule})
        paths.append(EntryPath(f"backup {job_name}", "data", (stage,)))
    return paths


# ------------------------------------------------------------------ measured by a drill

DRILL_STAGES = {
    "lb-crash": ("keepalived", "detect_s", "VIP on the standby"),
    "lb-node-death": ("keepalived", "detect_s", "VIP on the standby"),
    "backend-killed": ("backend", "recover_s", "last impaired request answered"),
    "backend-hung": ("backend", "recover_s", "last impaired request answered"),
}
"""`hakit lab drill --json` results that measure a budget stage: (layer, result field, what it is)."""


def with_drills(budget: Budget, cluster: str, results: list[Mapping[str, Any]], source: str) -> Budget:
    """The budget with drill results (`hakit lab drill --json`) shown next to the stages of `cluster`."""
    found: dict[str, list[Measurement]] = {"keepalived": [], "backend": []}
    for result in results:
        name = str(result.get("name"))
        if name not in DRILL_STAGES:
            continue
        layer, key, what = DRILL_STAGES[name]
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[layer].append(Measurement(float(value), float(value), f"drill {name}: {what}, {source}"))
    paths = []
    for path in budget.paths:
        if not path.name.startswith(f"{cluster}/"):
            paths.append(path)
            continue
        stages = []
        for stage in path.stages:
            extra = found["keepalived"] if stage.layer == "keepalived" else []
            extra = found["backend"] if stage.layer in ("haproxy", "nginx") else extra
            stages.append(replace(stage, measured=stage.measured + tuple(extra)) if extra else stage)
        paths.append(replace(path, stages=tuple(stages)))
    return replace(budget, paths=tuple(paths))

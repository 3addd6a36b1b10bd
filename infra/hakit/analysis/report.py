"""A report: findings plus the RTO/RPO budget of a stack or inventory, as JSON or Markdown (pure)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hakit.analysis import analyze, analyze_inventory
from hakit.analysis import waivers as waiver_rules
from hakit.analysis.budget import Budget, EntryPath, Slo, Stage, inventory_budget, stack_budget
from hakit.analysis.model import Finding, Severity
from hakit.analysis.view import StackView
from hakit.analysis.waivers import Waiver

if TYPE_CHECKING:
    from hakit.spec.inventory import Inventory


@dataclass(frozen=True)
class Report:
    """What `hakit report` prints for one source (a stack, a program or an inventory)."""

    source: str
    findings: tuple[Finding, ...]
    budget: Budget
    notes: tuple[str, ...] = ()
    """Waivers that match no finding (stale)."""

    @property
    def active(self) -> tuple[Finding, ...]:
        """Findings no unexpired waiver accepts."""
        return tuple(f for f in self.findings if not f.waived)

    @property
    def waived(self) -> tuple[Finding, ...]:
        """Findings an unexpired waiver accepts (listed, never dropped)."""
        return tuple(f for f in self.findings if f.waived)

    def counts(self) -> dict[str, int]:
        """Active findings per severity (every severity present, zeros included) and the waived ones."""
        counts = {s.value: sum(1 for f in self.active if f.severity is s) for s in Severity}
        counts["waived"] = len(self.waived)
        return counts

    def failures(self, *, strict: bool, fail_on: Severity | None) -> list[str]:
        """Why the command should exit non-zero: budget over the SLO (strict), findings at/above `fail_on`.

        Without a declared objective, --strict still fails on an unbounded figure, and on no SLO at all."""
        reasons = []
        if strict:
            over = self.budget.violations()
            if over:
                reasons.append(f"strict: {len(over)} objective(s) over the SLO budget")
            slo = self.budget.slo
            undeclared = [
                line
                for line in self.budget.unbounded()
                if (" RTO " in line and slo.rto_seconds is None)
                or (" RPO " in line and slo.rpo_seconds is None)
            ]
            reasons += [f"strict: {line} (no SLO declared for it)" for line in undeclared]
            if not slo.declared:
                reasons.append(
                    "strict: no SLO declared (hakit:slo, inventory slo: or --rto/--rpo): nothing to check"
                )
        if fail_on is not None:
            worst = [f for f in self.active if f.severity.rank <= fail_on.rank]
            if worst:
                reasons.append(f"{len(worst)} finding(s) of severity {fail_on.value} or worse")
        return reasons

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "source": self.source,
            "counts": self.counts(),
            "findings": [f.as_dict() for f in self.findings],
            "notes": list(self.notes),
            "budget": self.budget.as_dict(),
        }


def _findings(
    found: list[Finding], waivers: Sequence[Waiver], today: datetime.date | None
) -> tuple[Finding, ...]:
    day = today or datetime.datetime.now(datetime.UTC).date()
    return waiver_rules.apply(found, waivers, day)


def stack_report(
    source: str,
    view: StackView,
    slo: Slo | None = None,
    waivers: Sequence[Waiver] = (),
    today: datetime.date | None = None,
) -> Report:
    """Rules and budget over a stack view (waivers applied as of `today`, default: today in UTC)."""
    found = analyze(view)
    notes = tuple(waiver_rules.unused(found, waivers))
    return Report(source, _findings(found, waivers, today), stack_budget(view, slo), notes)


def inventory_report(
    source: str,
    inventory: Inventory,
    slo: Slo | None = None,
    waivers: Sequence[Waiver] = (),
    today: datetime.date | None = None,
) -> Report:
    """Rules and budget over a bare-metal inventory (its own `waivers:` plus `waivers`)."""
    found = analyze_inventory(inventory)
    every = (*waiver_rules.from_specs(inventory.waivers), *waivers)
    notes = tuple(waiver_rules.unused(found, every))
    return Report(source, _findings(found, every, today), inventory_budget(inventory, slo), notes)


def slo_from_config(config: Mapping[str, Any]) -> Slo:
    """The SLO of a stack config map (`hakit:slo` or bare `slo`: {rto_seconds, rpo_seconds, ...})."""
    for key in ("hakit:slo", "slo"):
        if key in config:
            return Slo.from_mapping(config[key])
    return Slo()


def seconds_text(value: float | None) -> str:
    """`90 s`, `4 h`, `unbounded`: a duration for tables."""
    if value is None:
        return "unbounded"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g} {unit}"
    return f"{value:g} s"


def inputs_text(inputs: Mapping[str, Any]) -> str:
    """`interval=10, failure_threshold=3` for a stage's inputs."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in inputs.items())


def stage_figure(stage: Stage) -> str:
    """`60 s`, with what drills measured for it: `8 s (measured 7.1 s, drill ...)`."""
    shown = seconds_text(stage.seconds)
    if stage.measured:
        shown += "; " + "; ".join(m.text() for m in stage.measured)
    if stage.verified_by:
        shown += "; verified by FIS " + ", ".join(stage.verified_by)
    return shown


def stage_how(stage: Stage) -> str:
    """The formula with its inputs: `interval x unhealthy_threshold [interval=10, ...]`."""
    return f"{stage.formula} [{inputs_text(stage.inputs)}]" if stage.inputs else stage.formula


def automatic_text(path: EntryPath) -> str:
    """`automatic path 150 s` or `no automatic path: a person starts dns, aurora-global`."""
    if path.automatic:
        return f"automatic path {seconds_text(path.automatic_rto_seconds)}"
    return "no automatic path: a person starts " + ", ".join(path.manual_layers())


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    """A pull-request comment: counts, the budget against the SLO, then the findings and waived findings."""
    counts = report.counts()
    slo = report.budget.slo
    lines = [
        f"### hakit report: {_md_escape(report.source)}",
        "",
        f"**{counts['high']} high**, {counts['medium']} medium, {counts['low']} low findings "
        f"({counts['waived']} waived). "
        f"SLO: RTO {seconds_text(slo.rto_seconds) if slo.rto_seconds is not None else 'not declared'}, "
        f"RPO {seconds_text(slo.rpo_seconds) if slo.rpo_seconds is not None else 'not declared'}; "
        f"operator response {seconds_text(slo.operator_response_seconds)}.",
        "",
        "#### RTO/RPO budget",
        "",
        "| Entry path | RTO (the path that happens) | Automatic path | RPO | Stage | Trigger | Figure "
        "| Formula | Inputs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in report.budget.paths:
        for index, stage in enumerate(path.stages):
            head = (
                f"{_md_escape(path.name)} | {seconds_text(path.rto_seconds)} = {path.rto_formula()} | "
                f"{_md_escape(automatic_text(path))} | {seconds_text(path.rpo_seconds)}"
                if index == 0
                else " | | | "
            )
            lines.append(
                f"| {head} | {stage.layer} {stage.metric.upper()} ({_md_escape(stage.resource)}) | "
                f"{stage.trigger if stage.metric == 'rto' else ''} | {_md_escape(stage_figure(stage))} | "
                f"{_md_escape(stage.formula)} | {_md_escape(inputs_text(stage.inputs))} |"
            )
    violations = report.budget.violations()
    if violations:
        lines += ["", "**Over budget:**", ""] + [f"- {_md_escape(v)}" for v in violations]
    lines += ["", "#### Findings", ""]
    if not report.active:
        lines.append("No findings.")
    else:
        lines += ["| Severity | Rule | Resource | Message |", "|---|---|---|---|"]
        for f in report.active:
            message = f.message + (f" ({f.waiver.text()})" if f.waiver is not None else "")
            lines.append(
                f"| {f.severity.value} | {f.rule_id} {f.rule_name} | {_md_escape(_where(f))} | "
                f"{_md_escape(message)} |"
            )
    if report.waived:
        lines += [
            "",
            "#### Waived findings",
            "",
            "| Rule | Resource | Waiver | Message |",
            "|---|---|---|---|",
        ]
        for f in report.waived:
            assert f.waiver is not None
            lines.append(
                f"| {f.rule_id} {f.rule_name} | {_md_escape(_where(f))} | {_md_escape(f.waiver.text())} | "
                f"{_md_escape(f.message)} |"
            )
    if report.notes:
        lines += [""] + [f"- note: {_md_escape(note)}" for note in report.notes]
    return "\n".join(lines) + "\n"


def _where(finding: Finding) -> str:
    return f"{finding.label} @{finding.region}" if finding.region else finding.label

"""A report: findings plus the RTO/RPO budget of a stack or inventory, as JSON or Markdown (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hakit.analysis import analyze, analyze_inventory
from hakit.analysis.budget import Budget, Slo, inventory_budget, stack_budget
from hakit.analysis.model import Finding, Severity
from hakit.analysis.view import StackView

if TYPE_CHECKING:
    from hakit.spec.inventory import Inventory


@dataclass(frozen=True)
class Report:
    """What `hakit report` prints for one source (a stack, a program or an inventory)."""

    source: str
    findings: tuple[Finding, ...]
    budget: Budget

    def counts(self) -> dict[str, int]:
        """Findings per severity (every severity present, zeros included)."""
        return {s.value: sum(1 for f in self.findings if f.severity is s) for s in Severity}

    def failures(self, *, strict: bool, fail_on: Severity | None) -> list[str]:
        """Why the command should exit non-zero: budget over the SLO (strict), findings at/above `fail_on`."""
        over = self.budget.violations()
        reasons = [f"strict: {len(over)} objective(s) over the SLO budget"] if strict and over else []
        if fail_on is not None:
            worst = [f for f in self.findings if f.severity.rank <= fail_on.rank]
            if worst:
                reasons.append(f"{len(worst)} finding(s) of severity {fail_on.value} or worse")
        return reasons

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "source": self.source,
            "counts": self.counts(),
            "findings": [f.as_dict() for f in self.findings],
            "budget": self.budget.as_dict(),
        }


def stack_report(source: str, view: StackView, slo: Slo | None = None) -> Report:
    """Rules and budget over a stack view."""
    return Report(source, tuple(analyze(view)), stack_budget(view, slo))


def inventory_report(source: str, inventory: Inventory, slo: Slo | None = None) -> Report:
    """Rules and budget over a bare-metal inventory."""
    return Report(source, tuple(analyze_inventory(inventory)), inventory_budget(inventory, slo))


def slo_from_config(config: Mapping[str, Any]) -> Slo:
    """The SLO of a stack config map (`hakit:slo` or bare `slo`: {rto_seconds, rpo_seconds})."""
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


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    """A pull-request comment: counts, the budget against the SLO, then the findings."""
    counts = report.counts()
    slo = report.budget.slo
    lines = [
        f"### hakit report: {_md_escape(report.source)}",
        "",
        f"**{counts['high']} high**, {counts['medium']} medium, {counts['low']} low findings. "
        f"SLO: RTO {seconds_text(slo.rto_seconds) if slo.rto_seconds is not None else 'not declared'}, "
        f"RPO {seconds_text(slo.rpo_seconds) if slo.rpo_seconds is not None else 'not declared'}.",
        "",
        "#### RTO/RPO budget",
        "",
        "| Entry path | RTO | RPO | Stage | Figure | Formula | Inputs |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in report.budget.paths:
        for index, stage in enumerate(path.stages):
            head = (
                f"{_md_escape(path.name)} | {seconds_text(path.rto_seconds)} = {path.rto_formula()} | "
                f"{seconds_text(path.rpo_seconds)}"
                if index == 0
                else " | | "
            )
            lines.append(
                f"| {head} | {stage.layer} {stage.metric.upper()} ({_md_escape(stage.resource)}) | "
                f"{seconds_text(stage.seconds)} | {_md_escape(stage.formula)} | "
                f"{_md_escape(inputs_text(stage.inputs))} |"
            )
    violations = report.budget.violations()
    if violations:
        lines += ["", "**Over budget:**", ""] + [f"- {_md_escape(v)}" for v in violations]
    lines += ["", "#### Findings", ""]
    if not report.findings:
        lines.append("No findings.")
    else:
        lines += ["| Severity | Rule | Resource | Message |", "|---|---|---|---|"]
        for f in report.findings:
            lines.append(
                f"| {f.severity.value} | {f.rule_id} {f.rule_name} | {_md_escape(f.label)} | "
                f"{_md_escape(f.message)} |"
            )
    return "\n".join(lines) + "\n"

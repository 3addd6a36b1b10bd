"""hakit.analysis: HA and security rules, the RTO/RPO budget and the diagram model over a neutral view."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hakit.analysis import rules_ha, rules_inventory, rules_security  # noqa: F401  (register the rules)
from hakit.analysis.model import RULES, Finding, Rule, Severity
from hakit.analysis.view import UNKNOWN, Resource, StackView, from_graph

if TYPE_CHECKING:
    from hakit.spec.inventory import Inventory


def analyze(view: StackView) -> list[Finding]:
    """Every rule's findings over a stack view, most severe first (stable within a severity)."""
    findings = [finding for rule in RULES.values() for finding in rule.run(view)]
    return sorted(findings, key=lambda f: f.severity.rank)


def analyze_inventory(inventory: Inventory) -> list[Finding]:
    """Every rule that applies to bare metal, over an inventory, most severe first."""
    findings = [finding for rule in RULES.values() for finding in rule.run_inventory(inventory)]
    return sorted(findings, key=lambda f: f.severity.rank)


__all__ = [
    "RULES",
    "UNKNOWN",
    "Finding",
    "Resource",
    "Rule",
    "Severity",
    "StackView",
    "analyze",
    "analyze_inventory",
    "from_graph",
]

"""Rules and findings: what a rule is (id, severity, check functions) and what it reports."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from hakit.analysis.view import Resource, StackView

if TYPE_CHECKING:
    from hakit.spec.inventory import Inventory


class Severity(StrEnum):
    """How bad a finding is; `high` breaks failover or exposes data."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for high, 2 for low (sort key)."""
        return {"high": 0, "medium": 1, "low": 2}[self.value]


Category = Literal["ha", "security"]
Scope = Literal["stack", "resource"]

StackCheck = Callable[[StackView], Iterable[tuple[Resource, str]]]
"""Yields (offending resource, message) for a stack view."""

InventoryCheck = Callable[["Inventory"], Iterable[tuple[str, str]]]
"""Yields (dotted inventory path, message) for a bare-metal inventory."""


@dataclass(frozen=True)
class Finding:
    """One violation: which rule, how bad, what is wrong and where."""

    rule_id: str
    rule_name: str
    severity: Severity
    category: Category
    message: str
    resource: str
    """The URN (cloud) or the dotted inventory path (bare metal) of the offending item."""
    label: str
    region: str | None = None
    waiver: AppliedWaiver | None = None
    """The waiver that matched, active or expired (an expired one does not waive)."""

    @property
    def waived(self) -> bool:
        """True while an unexpired waiver accepts this finding (it is listed, but fails nothing)."""
        return self.waiver is not None and not self.waiver.expired

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "rule": self.rule_id,
            "name": self.rule_name,
            "severity": self.severity.value,
            "category": self.category,
            "message": self.message,
            "resource": self.resource,
            "label": self.label,
            "region": self.region,
            "waived": self.waived,
            "waiver": self.waiver.as_dict() if self.waiver is not None else None,
        }


@dataclass(frozen=True)
class AppliedWaiver:
    """A waiver as it applied to one finding on the day of the report."""

    reason: str
    expires: str | None
    """ISO date (YYYY-MM-DD) or None: no expiry."""
    expired: bool

    def text(self) -> str:
        """`waived until 2027-01-31: reason` / `waiver expired 2026-01-01: reason`."""
        if self.expired:
            return f"waiver expired {self.expires}: {self.reason}"
        until = f" until {self.expires}" if self.expires else ""
        return f"waived{until}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {"reason": self.reason, "expires": self.expires, "expired": self.expired}


@dataclass
class Rule:
    """A named check with one implementation per target (cloud stack view, bare-metal inventory)."""

    id: str
    name: str
    severity: Severity
    category: Category
    summary: str
    scope: Scope = "stack"
    """`resource`: the check looks at one resource at a time (pulumi-policy resource validation)."""
    check: StackCheck | None = None
    inventory_check: InventoryCheck | None = field(default=None)

    def run(self, view: StackView) -> list[Finding]:
        """Findings of this rule over a stack view (none when it has no cloud check)."""
        if self.check is None:
            return []
        return [
            Finding(
                self.id, self.name, self.severity, self.category, message, r.urn, r.label(), r.placement()
            )
            for r, message in self.check(view)
        ]

    def run_inventory(self, inventory: Inventory) -> list[Finding]:
        """Findings of this rule over a bare-metal inventory (none when it does not apply)."""
        if self.inventory_check is None:
            return []
        return [
            Finding(self.id, self.name, self.severity, self.category, message, path, path)
            for path, message in self.inventory_check(inventory)
        ]


RULES: dict[str, Rule] = {}
"""Every rule by id, in definition order."""


def rule(
    rule_id: str, name: str, severity: Severity, category: Category, summary: str, *, scope: Scope = "stack"
) -> Callable[[StackCheck], StackCheck]:
    """Register the decorated function as the cloud check of a new rule."""

    def register(check: StackCheck) -> StackCheck:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} is defined twice")
        RULES[rule_id] = Rule(rule_id, name, severity, category, summary, scope, check)
        return check

    return register


def inventory_rule(
    rule_id: str,
    name: str | None = None,
    severity: Severity | None = None,
    category: Category | None = None,
    summary: str | None = None,
) -> Callable[[InventoryCheck], InventoryCheck]:
    """Register the decorated function as the bare-metal check of rule `rule_id` (created if new)."""

    def register(check: InventoryCheck) -> InventoryCheck:
        existing = RULES.get(rule_id)
        if existing is None:
            if name is None or severity is None or category is None or summary is None:
                raise ValueError(
                    f"inventory-only rule {rule_id} needs a name, severity, category and summary"
                )
            RULES[rule_id] = Rule(rule_id, name, severity, category, summary, "stack", None, check)
        else:
            existing.inventory_check = check
        return check

    return register

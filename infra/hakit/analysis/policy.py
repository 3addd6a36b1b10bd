"""The rules as pulumi-policy policies: stack rules validate the whole stack, resource rules each resource.

`infra/policy/__main__.py` serves `build_policies()` as a policy pack (`pulumi preview --policy-pack
infra/policy`). The policies call the same check functions `hakit report` runs, through the neutral view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hakit.analysis.model import RULES, Rule, Severity
from hakit.analysis.view import StackView, from_policy_resource, from_policy_resources

if TYPE_CHECKING:
    from pulumi_policy import Policy

ReportViolation = Callable[..., None]

PACK_NAME = "hakit-ha"


def stack_validate(rule: Rule) -> Callable[[Any, ReportViolation], None]:
    """A StackValidation callback running `rule` over `args.resources`."""

    def validate(args: Any, report_violation: ReportViolation) -> None:
        view = from_policy_resources(args.resources)
        for finding in rule.run(view):
            report_violation(f"[{rule.id}] {finding.message}", finding.resource)

    return validate


def resource_validate(rule: Rule) -> Callable[[Any, ReportViolation], None]:
    """A ResourceValidation callback running `rule` over a one-resource view (inputs keep their secrets)."""

    def validate(args: Any, report_violation: ReportViolation) -> None:
        if args.resource_type.startswith("pulumi:"):
            return
        resource = from_policy_resource(
            args.resource_type,
            args.props,
            args.urn,
            args.name,
            getattr(args, "provider", None),
            track_secrets=True,
        )
        for finding in rule.run(StackView([resource])):
            report_violation(f"[{rule.id}] {finding.message}", None)

    return validate


def build_policies() -> list[Policy]:
    """One pulumi-policy policy per rule with a cloud check (high severity: mandatory, else advisory)."""
    from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
    from pulumi_policy import Severity as PolicySeverity

    severity = {
        Severity.HIGH: PolicySeverity.HIGH,
        Severity.MEDIUM: PolicySeverity.MEDIUM,
        Severity.LOW: PolicySeverity.LOW,
    }
    policies: list[Policy] = []
    for rule in RULES.values():
        if rule.check is None:
            continue
        level = EnforcementLevel.MANDATORY if rule.severity is Severity.HIGH else EnforcementLevel.ADVISORY
        common: dict[str, Any] = {
            "name": f"{rule.id.lower()}-{rule.name}",
            "description": rule.summary,
            "enforcement_level": level,
            "severity": severity[rule.severity],
            "tags": [rule.category],
        }
        if rule.scope == "resource":
            policies.append(ResourceValidationPolicy(validate=resource_validate(rule), **common))
        else:
            policies.append(StackValidationPolicy(validate=stack_validate(rule), **common))
    return policies

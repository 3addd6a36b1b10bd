"""The rules as pulumi-policy policies: stack rules validate the whole stack, resource rules each resource.

`infra/policy/__main__.py` serves `build_policies()` as a policy pack (`pulumi preview --policy-pack
infra/policy`). The policies call the same check functions `hakit report` runs, through the neutral view.

Waivers come from the stack's own `hakit:waivers` (the engine hands the stack config to the pack) and from
each policy's `waivers` in `--policy-pack-config`. A waived finding is not a violation of its policy; the
advisory policy `hakit-waived-findings` lists it with its reason, so nothing is dropped silently. An
expired waiver waives nothing: the finding fails its policy again, with the expiry in the message.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hakit.analysis import waivers as waiver_rules
from hakit.analysis.model import RULES, Rule, Severity
from hakit.analysis.view import StackView, from_policy_resource, from_policy_resources
from hakit.analysis.waivers import Waiver

if TYPE_CHECKING:
    from pulumi_policy import Policy

ReportViolation = Callable[..., None]

PACK_NAME = "hakit-ha"


WAIVED_POLICY = "hakit-waived-findings"

_WAIVER_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": "findings accepted per resource: {resource, reason, expires?} (rule: this policy's)",
    "items": {
        "type": "object",
        "properties": {
            "resource": {"type": "string"},
            "reason": {"type": "string"},
            "expires": {"type": "string"},
        },
        "required": ["resource", "reason"],
    },
}


def stack_waivers() -> tuple[Waiver, ...]:
    """`hakit:waivers` of the stack under analysis (the engine passes its config to the pack)."""
    import pulumi.runtime

    raw = pulumi.runtime.get_config("hakit:waivers")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            from hakit.errors import SpecError

            raise SpecError("stack config hakit:waivers: not a list of waivers (JSON)") from None
    return waiver_rules.parse(raw, "stack config hakit:waivers")


def policy_waivers(rule: Rule, config: Mapping[str, Any] | None) -> tuple[Waiver, ...]:
    """The policy's own `waivers` from --policy-pack-config (the rule is the policy's)."""
    raw = (config or {}).get("waivers")
    if not isinstance(raw, list):
        return ()
    entries = [{**entry, "rule": rule.id} for entry in raw if isinstance(entry, Mapping)]
    return waiver_rules.parse(entries, f"policy config {rule.id.lower()}-{rule.name}")


def policy_config(waivers: Iterable[Waiver]) -> dict[str, Any]:
    """A `--policy-pack-config` mapping carrying these waivers to their rules' policies."""
    config: dict[str, Any] = {}
    for waiver in waivers:
        rule = RULES[waiver.rule]
        entry = {k: v for k, v in waiver.as_dict().items() if k != "rule"}
        config.setdefault(f"{rule.id.lower()}-{rule.name}", {"waivers": []})["waivers"].append(entry)
    # The listing policy sees only its own config: it gets a copy of every policy's waivers.
    return {**config, WAIVED_POLICY: {"policies": {name: dict(value) for name, value in config.items()}}}


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def stack_validate(rule: Rule) -> Callable[[Any, ReportViolation], None]:
    """A StackValidation callback running `rule` over `args.resources` (waived findings: no violation)."""

    def validate(args: Any, report_violation: ReportViolation) -> None:
        view = from_policy_resources(args.resources)
        waivers = (*policy_waivers(rule, _config(args)), *stack_waivers())
        for finding in waiver_rules.apply(rule.run(view), waivers, _today()):
            if finding.waived:
                continue
            note = f" ({finding.waiver.text()})" if finding.waiver is not None else ""
            report_violation(f"[{rule.id}] {finding.message}{note}", finding.resource)

    return validate


def waived_validate(args: Any, report_violation: ReportViolation) -> None:
    """The advisory listing of waived findings: every stack rule's, with the waiver's reason and expiry."""
    view = from_policy_resources(args.resources)
    config = _pack_config(args)
    for rule in RULES.values():
        if rule.check is None or rule.scope != "stack":
            continue
        waivers = (*policy_waivers(rule, config.get(f"{rule.id.lower()}-{rule.name}")), *stack_waivers())
        for finding in waiver_rules.apply(rule.run(view), waivers, _today()):
            if finding.waived and finding.waiver is not None:
                report_violation(f"[{rule.id} {finding.waiver.text()}] {finding.message}", finding.resource)


def _config(args: Any) -> Mapping[str, Any] | None:
    getter = getattr(args, "get_config", None)
    config = getter() if callable(getter) else None
    return config if isinstance(config, Mapping) else None


def _pack_config(args: Any) -> Mapping[str, Any]:
    """The waived-findings policy's config: `{policies: {policy name: {waivers: [...]}}}` (a mirror)."""
    config = _config(args) or {}
    rules = config.get("policies")
    return rules if isinstance(rules, Mapping) else {}


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
    from pulumi_policy import (
        EnforcementLevel,
        PolicyConfigSchema,
        ResourceValidationPolicy,
        StackValidationPolicy,
    )
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
            schema = PolicyConfigSchema(properties={"waivers": _WAIVER_SCHEMA})
            policies.append(
                StackValidationPolicy(validate=stack_validate(rule), config_schema=schema, **common)
            )
    policies.append(
        StackValidationPolicy(
            name=WAIVED_POLICY,
            description="Findings accepted by a waiver (hakit:waivers or a policy's waivers): listed only.",
            enforcement_level=EnforcementLevel.ADVISORY,
            severity=PolicySeverity.LOW,
            validate=waived_validate,
            config_schema=PolicyConfigSchema(
                properties={"policies": {"type": "object", "description": "the policies' waivers, mirrored"}}
            ),
            tags=["waivers"],
        )
    )
    return policies

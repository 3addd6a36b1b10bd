"""Waivers: findings a team accepted, per resource (URN or logical name) or inventory object (dotted path).

A waived finding stays in the report, marked with its reason and expiry, and no longer fails `--fail-on`
or the policy pack; from its expiry day on it fails again. Waivers that match nothing are reported too,
so a stale one does not linger unnoticed.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hakit.analysis.model import AppliedWaiver, Finding


@dataclass(frozen=True)
class Waiver:
    """Accept `rule` on `resource` for `reason`, until `expires` (exclusive) when given."""

    rule: str
    resource: str
    reason: str
    expires: datetime.date | None = None

    def matches(self, finding: Finding) -> bool:
        """Same rule; the resource is the finding's URN, its logical name, or an inventory path above it."""
        if finding.rule_id != self.rule:
            return False
        target = finding.resource
        if target == self.resource:
            return True
        if target.startswith("urn:"):
            return target.rsplit("::", 1)[-1] == self.resource
        return target.startswith(self.resource + ".")

    def applied(self, today: datetime.date) -> AppliedWaiver:
        """This waiver as of `today`."""
        expired = self.expires is not None and today >= self.expires
        return AppliedWaiver(self.reason, self.expires.isoformat() if self.expires else None, expired)

    def as_dict(self) -> dict[str, Any]:
        """The config form (`hakit:waivers` / inventory `waivers:` entries)."""
        out: dict[str, Any] = {"rule": self.rule, "resource": self.resource, "reason": self.reason}
        if self.expires is not None:
            out["expires"] = self.expires.isoformat()
        return out


def from_specs(specs: Iterable[Any]) -> tuple[Waiver, ...]:
    """Waivers from validated `WaiverSpec` models (stack config or inventory)."""
    return tuple(Waiver(s.rule, s.resource, s.reason, s.expires) for s in specs)


def parse(raw: Any, where: str) -> tuple[Waiver, ...]:
    """Waivers from a raw list (stack config `hakit:waivers`, policy-pack config); errors name `where`."""
    from pydantic import TypeAdapter, ValidationError

    from hakit.errors import SpecError
    from hakit.spec.waivers import WaiverSpec

    if raw is None:
        return ()
    try:
        specs = TypeAdapter(list[WaiverSpec]).validate_python(raw)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        raise SpecError(f"{where}: waivers.{loc}: {first['msg']}") from None
    return from_specs(specs)


def apply(
    findings: Sequence[Finding], waivers: Sequence[Waiver], today: datetime.date
) -> tuple[Finding, ...]:
    """The findings with the first matching waiver attached (expired ones attached too, marked expired)."""
    out = []
    for finding in findings:
        waiver = next((w for w in waivers if w.matches(finding)), None)
        out.append(replace(finding, waiver=waiver.applied(today)) if waiver is not None else finding)
    return tuple(out)


def unused(findings: Sequence[Finding], waivers: Sequence[Waiver]) -> list[str]:
    """One line per waiver that matches no finding (stale: the resource was fixed, renamed or removed)."""
    return [
        f"waiver {w.rule} on {w.resource} matches no finding"
        for w in waivers
        if not any(w.matches(f) for f in findings)
    ]


def config_waivers(config: Mapping[str, Any], where: str) -> tuple[Waiver, ...]:
    """`hakit:waivers` of a stack config map (bare `waivers` accepted too, like `slo`)."""
    for key in ("hakit:waivers", "waivers"):
        if key in config:
            return parse(config[key], f"{where}: {key}")
    return ()

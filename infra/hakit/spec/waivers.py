"""Waivers: a finding accepted for one resource or inventory object, with a reason and an optional expiry."""

from __future__ import annotations

import datetime

from pydantic import Field

from hakit.spec.base import SpecModel


class WaiverSpec(SpecModel):
    """Accept one rule's finding on one resource: still listed (as waived); fails again once expired."""

    rule: str = Field(pattern=r"^(HA|SEC)\d{3}$", description="rule id, e.g. SEC003")
    resource: str = Field(
        min_length=1,
        max_length=1000,
        pattern=r"^\S+$",
        description="cloud: the URN or the logical name; inventory: a dotted path such as "
        "load_balancers.api.proxy.frontends.api (covers the findings under it)",
    )
    reason: str = Field(min_length=3, max_length=500, description="why the finding is accepted")
    expires: datetime.date | None = Field(
        default=None, description="YYYY-MM-DD: from this day on the finding fails again"
    )

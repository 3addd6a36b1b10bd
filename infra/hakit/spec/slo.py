"""Recovery objectives, declared in a stack config (`hakit:slo`) or an inventory (`slo:`)."""

from __future__ import annotations

from pydantic import Field

from hakit.spec.base import SpecModel


class SloSpec(SpecModel):
    """Recovery objectives the analysis compares the design's budgets against."""

    rto_seconds: int = Field(gt=0, description="longest acceptable outage after a regional failure")
    rpo_seconds: int = Field(ge=0, description="most recent writes one may lose (0: synchronous)")

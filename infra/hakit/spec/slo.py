"""Recovery objectives, declared in a stack config (`hakit:slo`) or an inventory (`slo:`)."""

from __future__ import annotations

from pydantic import Field

from hakit.spec.base import SpecModel

OPERATOR_RESPONSE_SECONDS = 300
"""Default time from a page to an engineer acting on it: 5 minutes, the response time Google SRE gives for
user-facing, time-critical on-call rotations (the other standard level is 30 minutes). Source: *Site
Reliability Engineering*, chapter 11 "Being On-Call" (sre.google/sre-book/chapters/being-on-call/)."""


class SloSpec(SpecModel):
    """Recovery objectives the analysis compares the design's budgets against."""

    rto_seconds: int = Field(gt=0, description="longest acceptable outage after a regional failure")
    rpo_seconds: int = Field(ge=0, description="most recent writes one may lose (0: synchronous)")
    operator_response_seconds: int = Field(
        default=OPERATOR_RESPONSE_SECONDS,
        gt=0,
        le=86_400,
        description="page to hands on keyboard: what a manual failover stage costs before its runbook starts "
        "(default 300: the SRE book's 5-minute response for user-facing services)",
    )

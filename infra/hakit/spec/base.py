"""Base pydantic model and shared field types for hakit specs (inventory, stack config)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]


class Problem(NamedTuple):
    """A broken cross-field rule: where (a field path relative to the model) and what is wrong."""

    loc: Loc
    message: str


class SpecModel(BaseModel):
    """Strict base model: unknown fields are errors; cross-field rules report the field they concern.

    Subclasses override `rules()` and yield `Problem(loc, message)`; every problem becomes a pydantic
    error at `loc` (relative to the model), so schema errors and rule errors come out together.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def rules(self) -> Iterator[Problem]:
        """Yield the cross-field rule violations of this model (none by default)."""
        return iter(())

    @model_validator(mode="after")
    def _check_rules(self) -> SpecModel:
        problems = list(self.rules())
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("rule", "{message}", {"message": p.message}),
                        loc=p.loc,
                        input=None,
                    )
                    for p in problems
                ],
            )
        return self


# ---------------------------------------------------------------- field types

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(value: Any) -> Any:
    """Turn '250ms', '5s', '1m', '2h' (or a bare integer of milliseconds) into integer milliseconds."""
    if isinstance(value, bool):
        return value  # let pydantic reject it
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match:
            raise PydanticCustomError(
                "duration", "not a duration like 250ms, 5s, 1m, 2h: {value}", {"value": repr(value)}
            )
        number, unit = float(match.group(1)), match.group(2) or "ms"
        millis = number * _UNIT_MS[unit]
        if millis != int(millis):
            raise PydanticCustomError(
                "duration", "durations are whole milliseconds: {value}", {"value": repr(value)}
            )
        return int(millis)
    return value


DurationMs = Annotated[
    int,
    BeforeValidator(parse_duration_ms),
    Field(ge=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d)?$"},
                {"type": "integer", "minimum": 0},
            ],
            "description": "duration: '250ms', '5s', '1m', '2h' or integer milliseconds",
        }
    ),
]
"""A duration in whole milliseconds; YAML may say '5s', '250ms', '1m'."""

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP/UDP port number."""

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
"""A name usable in configs, file names and DNS labels."""

IfName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$")]
"""A Linux interface name (at most 15 characters)."""


def format_duration(millis: int) -> str:
    """Render milliseconds the way HAProxy and nginx both accept: '5s' when whole seconds, else '250ms'."""
    if millis % 60_000 == 0 and millis >= 60_000:
        return f"{millis // 60_000}m"
    if millis % 1000 == 0:
        return f"{millis // 1000}s"
    return f"{millis}ms"

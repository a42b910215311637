"""Bounds of every number and string a route takes, in one place: bad input is a 422 from
validation, never a 500 from the database (an offset past 64 bits, a year of no calendar)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Path, Query

from banjian.errors import Invalid

#: the calendar covers the People's Republic's years, and no year past the end of the century
MIN_YEAR, MAX_YEAR = 1949, 2100
#: no list is paged further than this; search narrows instead
MAX_OFFSET = 100_000

Year = Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR, description="a calendar year, 1949-2100")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"rows to skip, 0-{MAX_OFFSET}")]
CaseId = Annotated[str, Path(min_length=1, max_length=64)]
Text = Annotated[str | None, Query(max_length=200)]
ItemCode = Annotated[str, Path(min_length=1, max_length=64)]
DraftId = Annotated[str, Path(min_length=1, max_length=64)]


def one_of(field: str, value: str | None, allowed: Iterable[str]) -> str | None:
    """A filter's value checked against its fixed choices: None when absent or empty (no filter),
    else the value; an unknown one is a 422 naming the field and listing the choices (`allowed`)."""
    if not value:
        return None
    choices = list(allowed)
    if value not in choices:
        zh = f"参数 {field} 取值无效，应为以下之一：{'、'.join(choices)}（实际为 {value}）"
        en = f"parameter `{field}` must be one of {', '.join(choices)} (got {value})"
        problem = {"field": field, "code": "invalid_choice", "message": zh, "message_en": en, "allowed": choices}
        raise Invalid("invalid_choice", zh, en, field=field, extra={"allowed": choices, "problems": [problem]})
    return value

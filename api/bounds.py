"""Bounds of every number and string a route takes, in one place: bad input is a 422 from
validation, never a 500 from the database (an offset past 64 bits, a year of no calendar)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

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

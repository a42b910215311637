"""Routes anyone may read without logging in: published approval results (审批结果公开)."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.bounds import Offset
from api.deps import SessionDep, SettingsDep
from banjian.errors import Invalid
from banjian.public_results import published_results

router = APIRouter(prefix="/api/public", tags=["public"])

FIRST_DAY, LAST_DAY = date(1949, 10, 1), date(2100, 12, 31)


@router.get("/results")
def results(session: SessionDep, settings: SettingsDep, item_code: Annotated[str | None, Query(max_length=64)] = None,
            from_: Annotated[date | None, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY)] = None,
            to: Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY)] = None, limit: int = Query(50, ge=1, le=500), offset: Offset = 0) -> dict:
    """Concluded cases' results, newest first: no login; a citizen's name or id never appears."""
    if from_ and to and from_ > to:
        raise Invalid("bad_range", "起始日期不能晚于截止日期", "`from` is after `to`", "from")
    return published_results(session, item_code or None, from_, to, limit, offset, settings.public_base_url)

"""办件查询 on /work: a clerk finds a case by its number, the applicant's name or id number, or the
item's name; an id number is taken as read out (with blanks) and, when it matches nothing and breaks
the rules of its kind (GB 11643 / GB 32100), the page says which rule."""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from banjian.contracts import Actor
from banjian.enums import IdKind
from banjian.ids import IdError, validate_id

FOUND_PAGE, FIND_MAX = 20, 64  # 办件查询: cases shown, characters of the query


def find_cases(cases: Any, actor: Actor, q: str) -> dict[str, Any]:
    """办件查询 on /work: the caller's visible cases whose case number, id, applicant's name or
    item's name holds `q`, or whose applicant has the id number `q`; newest first, at most
    FOUND_PAGE. Closed cases too: a walk-in asks about a case that waits for nobody."""
    q = q.strip()[:FIND_MAX]
    if not q:
        return {"q": "", "cases": [], "total": 0, "error": None}
    found = cases.search(actor, None, None, None, None, None, q, None, FOUND_PAGE, 0)
    number = id_number_typed(q)
    error = None
    if not found["total"] and number:  # an id number (公民身份号码 / 统一社会信用代码) typed in full
        found = cases.search(actor, None, None, None, None, number, None, None, FOUND_PAGE, 0)
        if not found["total"]:
            error = id_number_error(number)
    return {"q": q, "cases": found["items"], "total": found["total"], "error": error}


def id_number_typed(q: str) -> str | None:
    """The id number in a query that looks like one (18 letters and digits, as read out or copied
    with blanks: 330106 19900101 0077, full-width characters folded), upper-cased; None otherwise."""
    compact = re.sub(r"\s+", "", unicodedata.normalize("NFKC", q)).upper()
    return compact if len(compact) == 18 and compact.isascii() and compact.isalnum() else None


def id_number_error(number: str) -> str | None:
    """Why `number` is neither a valid 公民身份号码 nor a valid 统一社会信用代码 (the rule of the kind it
    looks like: 17 digits first, a citizen's), or None when it is a valid one of either kind."""
    errors = []
    for kind in (IdKind.CITIZEN, IdKind.ORGANISATION):
        try:
            validate_id(kind.value, number)
            return None
        except IdError as e:
            errors.append(e.message)
    return "证件号码有误：" + (errors[0] if number[:17].isdigit() else errors[1])

"""Published approval results (审批结果公开): what anyone may read of concluded cases.

Only what the law asks to publish leaves here: the case number, the item, the decision and its
date, and, for an organisation (法人) only, the holder's name and the licence number with its
verification link. A citizen's name, id number, form, materials and opinions never do: the rows
are built field by field from an allow-list, never by copying the case.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import quote

from sqlmodel import Session, col, func, select

from banjian.db import Case
from banjian.enums import IdKind, Status
from banjian.licence_store import Licence
from banjian.timefmt import end_of, iso_at, start_of

#: the route under which an e-licence is verified, below the platform's public address
#: (`Settings.public_base_url`); `{licence_id}` is filled in
VERIFY_PATH = "/api/licences/{licence_id}/verify"


def verify_url(base_url: str, licence_id: str) -> str:
    """The absolute address at which anyone verifies a published licence: a link copied or scanned off
    the published list must reach the platform, not a path relative to wherever it was read."""
    return base_url.rstrip("/") + VERIFY_PATH.format(licence_id=quote(licence_id, safe=""))


def published_row(row: Case, licence_nos: Mapping[str, str], base_url: str) -> dict[str, Any]:
    """One published result, from an allow-list of fields; `licence_nos` maps a licence's id to its
    number (`licences.licence_no`, e.g. 010148715U20260000001), which is what is published;
    `base_url` is the platform's public address (BANJIAN_PUBLIC_URL), never the request's Host."""
    snapshot = row.snapshot or {}
    result = snapshot.get("result") or {}
    applicant = snapshot.get("applicant") or {}
    organisation = applicant.get("kind") == IdKind.ORGANISATION
    out: dict[str, Any] = {"case_no": row.case_no, "item_code": row.item_code, "item_name": row.item_name,
                           "decision": result.get("decision"), "concluded_at": iso_at(row.concluded_at)}
    if organisation:
        out["holder"] = row.applicant_name
        licence_id = result.get("licence_id")
        if licence_id and result.get("decision") == "approved" and licence_id in licence_nos:
            out["licence_no"] = licence_nos[licence_id]
            out["verify_url"] = verify_url(base_url, licence_id)
    return out


def published_results(session: Session, item_code: str | None, since: date | None, until: date | None,
                      limit: int, offset: int, base_url: str) -> dict[str, Any]:
    """Concluded cases (not sub-cases: their joint parent is the published result), newest first;
    `since`/`until` bound the day of conclusion (China time), both inclusive."""
    where = [Case.status == Status.CONCLUDED, col(Case.parent_id).is_(None), col(Case.concluded_at).is_not(None)]
    if item_code:
        where.append(Case.item_code == item_code)
    if since:
        where.append(col(Case.concluded_at) >= start_of(since))
    if until:
        where.append(col(Case.concluded_at) < end_of(until))
    total = session.exec(select(func.count()).select_from(Case).where(*where)).one()
    rows = session.exec(select(Case).where(*where).order_by(col(Case.concluded_at).desc(), col(Case.id))
                        .offset(offset).limit(limit)).all()
    numbers = licence_numbers(session, rows)
    return {"items": [published_row(r, numbers, base_url) for r in rows], "total": total}


def licence_numbers(session: Session, rows: Sequence[Case]) -> dict[str, str]:
    """The numbers of the licences the rows name, by licence id (one query for the page)."""
    ids = {str(i) for r in rows if (i := ((r.snapshot or {}).get("result") or {}).get("licence_id"))}
    if not ids:
        return {}
    found = session.exec(select(Licence.id, Licence.licence_no).where(col(Licence.id).in_(ids))).all()
    return {str(licence_id): str(licence_no) for licence_id, licence_no in found}


"""A case's archive package checked against the SM3 digest recorded when it was written (the
`archives` row): the check the archive download (`409 archive_altered`) and the chain verification
(`banjian audit verify`, GET /api/cases/{id}/verify) share."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session

from banjian.archive_queue import ArchiveQueueEntry
from banjian.crypto import sm3_hex
from banjian.db import Archive, Case
from banjian.enums import CLOSED

ARCHIVE_ALTERED = "archive_altered"


def intact_package(arc: Archive) -> bytes | None:
    """The package's bytes when its file exists and matches its recorded digest, else None."""
    try:
        with open(arc.path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data if sm3_hex(data) == arc.sm3 else None


def package_finding(session: Session, case_id: str) -> tuple[bool, dict[str, Any] | None]:
    """(whether the case has an archive package to check, the finding when it is missing or altered).
    A closed top-level case always has its package or its place in the archive queue (both are
    written in the transaction that records it closed): with neither, its `archives` row was deleted."""
    arc = session.get(Archive, case_id)
    if arc is None:
        row = session.get(Case, case_id)
        if row is None or row.parent_id is not None or row.status not in CLOSED \
                or session.get(ArchiveQueueEntry, case_id) is not None:
            return False, None
        return True, {"seq": None, "reason": ARCHIVE_ALTERED, "problem": "record_missing", "sm3": None,
                      "detail": "the case is closed but has neither an archive package nor a place in the "
                                "archive queue: its archives row was deleted"}
    if intact_package(arc) is not None:
        return True, None
    return True, {"seq": None, "reason": ARCHIVE_ALTERED, "sm3": arc.sm3,
                  "detail": "the archive package is missing or does not match the SM3 digest recorded "
                            "when it was written"}

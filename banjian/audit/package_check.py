"""A case's archive package checked against the SM3 digest recorded when it was written (the
`archives` row): the check the archive download (`409 archive_altered`) and the chain verification
(`banjian audit verify`, GET /api/cases/{id}/verify) share."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session

from banjian.crypto import sm3_hex
from banjian.db import Archive

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
    """(whether the case has an archive package to check, the finding when it is missing or altered)."""
    arc = session.get(Archive, case_id)
    if arc is None:
        return False, None
    if intact_package(arc) is not None:
        return True, None
    return True, {"seq": None, "reason": ARCHIVE_ALTERED, "sm3": arc.sm3,
                  "detail": "the archive package is missing or does not match the SM3 digest recorded "
                            "when it was written"}

"""Case numbers for submissions: drawn from the day's sequence and stored with the idempotency key
before a case workflow starts (format and check character: `banjian.case_numbers`)."""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from banjian import case_numbers
from banjian.case_numbers import CaseNumber
from banjian.db import Case, IdempotencyKey, write_transaction
from banjian.sequences import next_serial
from banjian.settings import Settings
from banjian.timefmt import CHINA

#: How often a submission draws a fresh number after its workflow id turned out to be taken. The
#: sequence never repeats a number, so only ids it did not draw can clash (cases from before case
#: numbers, or a read model restored from a backup older than the Temporal store): each clash skips
#: further ahead (1, 4, 16, ... serials), so the sequence soon passes every id in use.
NUMBER_ATTEMPTS = 10

# Statements built once and run with Core on the session's connection: a submission's key look-up
# and its store cost a fraction of the ORM's `get` and unit-of-work flush (docs/benchmarks.md).
_KEY = select(IdempotencyKey.case_id, IdempotencyKey.case_no).where(IdempotencyKey.key == bindparam("key"))
_STORE_KEY = insert(IdempotencyKey)


def new_case_id(number: CaseNumber) -> str:
    """The case id that goes with a case number: the day of receipt and the day's serial."""
    return number.id


def submission_token(key: str | None) -> str:
    """Names one submission to Temporal: the same for every attempt with one idempotency key (per
    user), new otherwise. It is the `open` update's id and the workflow's memo `submission`."""
    return hashlib.sha256(key.encode()).hexdigest()[:32] if key is not None else uuid.uuid4().hex


class CaseNumbers:
    """Draws, stores and releases submissions' case numbers in the read-model database."""

    def __init__(self, settings: Settings, session_factory: Callable[[], Session]) -> None:
        self.settings = settings
        self.sessions = session_factory

    def reserve(self, key: str | None, department: str, step: int = 1) -> tuple[CaseNumber, bool]:
        """The case number of this submission: the one stored with its idempotency key by an earlier
        attempt (False), or a new one drawn from the day's sequence and stored with the key (True)."""
        today = datetime.now(CHINA).date()
        with self.sessions() as session:
            if key is not None:
                existing = session.connection().execute(_KEY, {"key": key}).first()
                if existing is not None:
                    return stored_number(existing), False
            with write_transaction(session):
                conn = session.connection()
                drawn = case_numbers.make(self.settings.region_code, department, today,
                                          next_serial(conn, today, step))
                number = replace(drawn, id=new_case_id(drawn))
                try:
                    if key is not None:
                        conn.execute(_STORE_KEY, {"key": key, "case_id": number.id, "case_no": number.case_no,
                                                  "created_at": datetime.now(UTC)})
                    session.commit()
                except IntegrityError:  # a concurrent twin of this submission stored the key first
                    session.rollback()
                    return stored_number(session.connection().execute(_KEY, {"key": key}).first()), False
            return number, True

    def recorded_case(self, key: str) -> CaseNumber | None:
        """The number of the case an earlier attempt with this idempotency key filed, once the read
        model holds that case."""
        with self.sessions() as session:
            existing = session.connection().execute(_KEY, {"key": key}).first()
            if existing is None or session.get(Case, existing.case_id) is None:
                return None
            return stored_number(existing)

    def release(self, key: str | None, case_id: str) -> None:
        """Forget the number stored with a key when its start failed, so a retry draws a new one."""
        if key is None:
            return
        with self.sessions() as session:
            row = session.get(IdempotencyKey, key)
            if row is not None and row.case_id == case_id:
                session.delete(row)
                session.commit()

    def recorded(self, case_id: str) -> bool:
        """Whether the read model holds the case already."""
        with self.sessions() as session:
            return session.get(Case, case_id) is not None


def stored_number(row: Any) -> CaseNumber:
    """The case number an idempotency key was stored with (keys from before case numbers have none)."""
    assert row is not None
    day = date(int(row.case_id[:4]), int(row.case_id[4:6]), int(row.case_id[6:8]))
    return CaseNumber(id=row.case_id, case_no=row.case_no or "", serial=int(row.case_id[8:16] or 0), day=day)

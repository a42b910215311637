"""The status seal of an e-licence (证照状态签章): the issuing department's SM2 signature over the
licence's current status and every status change recorded for it.

The licence's own signature (`banjian/licences.py`) covers its face, not its status, which changes
after issuance. Without a seal of its own, a hand edit of `licences.status` (revoked back to valid)
would pass every verification. The seal covers `seal_bytes`: the licence identifier, the status, and
its `licence_events` (time in UTC with microseconds, actor, action, comment, status, in order) as
canonical JSON. Whoever stores a new status (the issue, `licence_ops.act`, the expiry activity) seals
it in the same transaction with the department's key; verification checks it against the public key
kept with the department's key (`department_keys`), so editing the status, or a change's record,
or removing one, breaks it. Restoring a whole earlier copy of the licence's rows (status, seal and
changes together) is not caught here: the event feed has already told subscribers of each change.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from banjian import licences as lic
from banjian.crypto import Sm2Signer
from banjian.licence_store import DepartmentKey, Licence, LicenceEvent, department_signer

#: what the seal's bytes start with, so that a seal is never mistaken for another signature
SEAL_LABEL = "banjian-licence-status/1"


def _utc(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_changes(session: Session, licence_id: str) -> list[LicenceEvent]:
    """The licence's recorded status changes, oldest first."""
    return list(session.exec(select(LicenceEvent).where(LicenceEvent.licence_id == licence_id)
                             .order_by(col(LicenceEvent.id))).all())


def seal_bytes(licence_id: str, status: str, changes: list[LicenceEvent]) -> bytes:
    """What the issuing department signs: the label, the licence, its status and its changes."""
    body = {"label": SEAL_LABEL, "licence_id": licence_id, "status": status,
            "changes": [{"at": _utc(e.at), "actor": e.actor, "action": e.action, "comment": e.comment,
                         "status": e.status} for e in changes]}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def seal(session: Session, row: Licence, signer: Sm2Signer) -> None:
    """Sign the row's current status and its recorded changes (the new change added already; flushed
    here) into `row.status_seal`, in the caller's transaction."""
    session.flush()
    row.status_seal = signer.sign(seal_bytes(row.id, row.status, status_changes(session, row.id)))
    session.add(row)


def seal_ok(session: Session, row: Licence) -> bool:
    """Whether the row's status and recorded changes are the ones its issuing department sealed."""
    key = session.get(DepartmentKey, row.department)
    if key is None or not row.status_seal:
        return False
    return lic.seal_valid(seal_bytes(row.id, row.status, status_changes(session, row.id)), row.status_seal,
                          key.public_key)


def seal_unsealed(session: Session, key: bytes) -> tuple[list[str], list[str]]:
    """Seal the licences issued before status seals (migration 0037), once, at a worker's start-up:
    only those whose status is the one their recorded changes leave (the last change's, or valid);
    the others stay unsealed, so verification keeps reporting them. Returns (sealed, left unsealed)."""
    sealed, left = [], []
    for row in session.exec(select(Licence).where(col(Licence.status_seal).is_(None))).all():
        changes = status_changes(session, row.id)
        expected = changes[-1].status if changes else lic.LicenceStatus.VALID.value
        if row.status != expected:
            left.append(row.id)
            continue
        seal(session, row, department_signer(session, row.department, key))
        sealed.append(row.id)
    session.commit()
    return sealed, left


__all__ = ["SEAL_LABEL", "seal", "seal_bytes", "seal_ok", "seal_unsealed", "status_changes"]

"""Reading, verifying and changing e-licences in the library (the API's side of `licence_store`).

Verification (核验) needs no login: it checks the SM2 signature against the issuing department's
public key as stored with its key (not the copy kept on the licence row, which a forger could change
along with the fields), the status, and whether today (China time) lies inside the validity; a valid
licence past `valid_to` is `expired` from the next day on, computed here, never stored. Every
verification is logged with its time and the caller's address.
"""
from __future__ import annotations

import hmac
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, func, or_, select

from banjian import licence_feed, licence_seal
from banjian import licences as lic
from banjian.contracts import Actor
from banjian.enums import Role
from banjian.errors import Conflict, Forbidden, NotFound
from banjian.labels import LICENCE_ACTION_ZH, licence_status_zh
from banjian.licence_store import (
    DepartmentKey,
    Licence,
    LicenceEvent,
    LicenceVerification,
    department_signer,
    licence_fields,
    normal_code,
)
from banjian.timefmt import china_date, iso_at

READ_ALL = (Role.AUDITOR, Role.ADMIN)
STAFF = (Role.CLERK, Role.HANDLER, Role.APPROVER, Role.HEAD, Role.LEAD)


def not_found(licence_id: str) -> NotFound:
    return NotFound("licence_not_found", f"电子证照 {licence_id} 不存在", f"no licence {licence_id}",
                    field="licence_id")


def today(now: datetime | None = None) -> date:
    return china_date(now or datetime.now(UTC))


def signature_ok(session: Session, row: Licence) -> bool:
    key = session.get(DepartmentKey, row.department)
    if key is None:
        return False
    return lic.signature_valid(licence_fields(row), row.signature, key.public_key)


def status_of(row: Licence, on: date) -> lic.LicenceStatus:
    return lic.effective_status(row.status, row.valid_to, on)


#: why a licence does not verify, besides its status (`reason` in the verification result)
REASON_ZH = {"not_yet_valid": "尚未生效", "signature_invalid": "签名无效",
             "status_unsealed": "状态记录无法核实（状态签章无效，可能被改动）"}


def reason_zh(reason: str | None) -> str:
    """Why a licence is not valid, in Chinese: its status's name, 尚未生效 or 签名无效."""
    if reason is None:
        return "有效"
    return REASON_ZH.get(reason) or licence_status_zh(reason)


def invalid_reason(status: lic.LicenceStatus, signed: bool, valid_from: date, on: date,
                   sealed: bool = True) -> str | None:
    """The first reason a licence does not verify (`None`: it does): `status_unsealed` (its stored
    status is not the one its issuer sealed: it cannot be trusted, whatever it says), its status
    (revoked, suspended, cancelled, expired), `signature_invalid`, or `not_yet_valid`."""
    if not sealed:
        return "status_unsealed"
    if status != lic.LicenceStatus.VALID:
        return status.value
    if not signed:
        return "signature_invalid"
    if valid_from > on:
        return "not_yet_valid"
    return None


def status_since(session: Session, row: Licence, status: lic.LicenceStatus) -> date | None:
    """The day (China) from which a licence has had the status that keeps it from verifying: an
    expired one from the day after `valid_to` (stored by its timer or computed), a revoked,
    suspended or cancelled one from the day of the change that set it; None for a valid licence."""
    if status == lic.LicenceStatus.VALID:
        return None
    if status == lic.LicenceStatus.EXPIRED and row.valid_to is not None:
        return row.valid_to + timedelta(days=1)
    event = session.exec(select(LicenceEvent).where(LicenceEvent.licence_id == row.id,
                                                    LicenceEvent.status == status.value)
                         .order_by(col(LicenceEvent.id).desc()).limit(1)).first()
    return china_date(event.at) if event is not None else None


def check(session: Session, row: Licence, now: datetime | None = None) -> dict[str, Any]:
    """The verification result (contract: `GET /api/licences/{id}/verify`), not logged; the holder
    fields always, whoever asks (`verify` leaves them out without the licence's verification code)."""
    at = now or datetime.now(UTC)
    on = china_date(at)
    signed = signature_ok(session, row)
    sealed = licence_seal.seal_ok(session, row)
    status = status_of(row, on)
    reason = invalid_reason(status, signed, row.valid_from, on, sealed)
    since = status_since(session, row, status)
    return {
        "id": row.id, "type": row.type, "licence_no": row.licence_no,
        "valid": reason is None, "reason": reason,
        "status": status.value, "status_since": since.isoformat() if since else None,
        "holder_name": row.holder_name, "holder_id_masked": lic.mask_id(row.holder_id),
        "issuer": row.issuer, "valid_from": row.valid_from.isoformat(),
        "valid_to": row.valid_to.isoformat() if row.valid_to else None, "signature_valid": signed,
        "status_sealed": sealed, "checked_at": iso_at(at),
    }


def find(session: Session, key: str) -> Licence | None:
    """A licence by its identifier or its licence number (证照编号, as printed on the licence), either
    typed off paper in any case with spaces and dashes, for verification."""
    row = session.get(Licence, key)
    if row is not None:
        return row
    typed = normal_number(key)  # an identifier or a number as typed off paper
    if not typed:
        return None
    return session.get(Licence, typed) or session.exec(select(Licence).where(Licence.licence_no == typed)).first()


def normal_number(typed: str) -> str:
    """A licence number as typed (any case, spaces, dashes) in its stored form."""
    return "".join(ch for ch in typed.upper() if ch not in " -\t　")


def code_matches(row: Licence, code: str | None) -> bool:
    """Whether `code` (as typed: any case, spaces, dashes) is the licence's verification code."""
    given = normal_code(code)
    return bool(given and row.verify_code) and hmac.compare_digest(given, row.verify_code or "")


def mistyped_identifier(typed: str) -> bool:
    """Whether `typed` is meant as an identifier (`1.2.156.3005.2.…`) but is malformed or its check
    character is wrong: a typing mistake to point out, not an unknown licence."""
    value = normal_number(typed)
    return value.startswith(lic.OID_PREFIX + ".") and not lic.identifier_ok(value)


def verify(session: Session, licence_id: str, address: str | None, now: datetime | None = None,
           code: str | None = None, holder_without_code: bool = True) -> dict[str, Any]:
    """Verify a licence and log the verification (unknown id: 404, nothing logged). `holder_disclosed`:
    the licence's verification code was given. The public JSON answer names the holder (its id
    masked) for any caller, as the contract has it; the verification page (`holder_without_code`
    False) names the holder only with the code, so that typing licence numbers into it tells whether
    each is valid, never whose it is."""
    row = find(session, licence_id)
    if row is None:
        if mistyped_identifier(licence_id):
            raise NotFound("licence_not_found", f"电子证照标识 {licence_id} 格式或校验位不正确，请核对是否录入有误",
                           f"licence identifier {licence_id} is malformed or its check character is wrong",
                           field="licence_id")
        raise not_found(licence_id)
    at = now or datetime.now(UTC)
    out = check(session, row, at)
    out["holder_disclosed"] = code_matches(row, code)
    if not out["holder_disclosed"] and not holder_without_code:
        out["holder_name"] = out["holder_id_masked"] = None
    session.add(LicenceVerification(licence_id=row.id, at=at, address=address, status=out["status"],
                                    signature_valid=out["signature_valid"], valid=out["valid"],
                                    reason=out["reason"]))
    session.commit()
    return out


def readable(actor: Actor, row: Licence) -> bool:
    """The holder (the account named at filing, or an applicant account with the holder's id number),
    the issuing department's staff, auditors and admins."""
    return (actor.has(*READ_ALL) or holds(actor, row) or (actor.department == row.department and actor.has(*STAFF)))


def holds(actor: Actor, row: Licence) -> bool:
    return ((row.holder_username is not None and row.holder_username == actor.username)
            or (actor.has(Role.APPLICANT) and actor.id_number is not None and actor.id_number == row.holder_id))


def get_readable(session: Session, actor: Actor, licence_id: str) -> Licence:
    row = session.get(Licence, licence_id)
    if row is None or not readable(actor, row):
        raise not_found(licence_id)
    return row


def summary(row: Licence, on: date) -> dict[str, Any]:
    return {
        "id": row.id, "licence_no": row.licence_no, "type": row.type, "name": row.name,
        "holder_name": row.holder_name, "issuer": row.issuer, "issue_date": row.issue_date.isoformat(),
        "valid_from": row.valid_from.isoformat(), "valid_to": row.valid_to.isoformat() if row.valid_to else None,
        "status": status_of(row, on).value, "case_id": row.case_id, "item_code": row.item_code,
    }


def detail(session: Session, row: Licence, now: datetime | None = None) -> dict[str, Any]:
    """The licence with its face data, status changes and signature (holder, issuer, auditors)."""
    on = today(now)
    events = session.exec(select(LicenceEvent).where(LicenceEvent.licence_id == row.id)
                          .order_by(col(LicenceEvent.id))).all()
    return {
        **summary(row, on), "type_code": row.type_code, "issuer_code": row.issuer_code,
        "department": row.department, "holder_id": row.holder_id, "holder_id_type": row.holder_id_type,
        "region": row.region, "face_data": row.face_data, "signature": row.signature,
        "public_key": row.public_key, "issued_at": iso_at(row.issued_at),
        "signature_valid": signature_ok(session, row), "status_sealed": licence_seal.seal_ok(session, row),
        "verify_code": row.verify_code,
        "events": [{"at": iso_at(e.at), "actor": e.actor, "action": e.action, "comment": e.comment,
                    "status": e.status} for e in events],
    }


def held_by(session: Session, actor: Actor, limit: int, offset: int) -> tuple[list[Licence], int]:
    where = Licence.holder_username == actor.username
    if actor.has(Role.APPLICANT) and actor.id_number:
        where = or_(where, Licence.holder_id == actor.id_number)
    total = session.exec(select(func.count()).select_from(Licence).where(where)).one()
    rows = session.exec(select(Licence).where(where).order_by(col(Licence.issued_at).desc(), col(Licence.id))
                        .offset(offset).limit(limit)).all()
    return list(rows), int(total)


def may_act(session: Session, actor: Actor, licence_id: str) -> None:
    """404 unless the caller may read the licence, 403 unless they may change its status."""
    _check_actor(actor, licence_id, session.get(Licence, licence_id))


def _check_actor(actor: Actor, licence_id: str, row: Licence | None) -> None:
    if row is None or not readable(actor, row):
        raise not_found(licence_id)
    if not (actor.has(Role.APPROVER) and actor.department == row.department):
        raise Forbidden("not_issuer_approver", "只有发证部门的审批人员可以变更证照状态",
                        "only an approver of the issuing department may change a licence's status")


def act(session: Session, actor: Actor, licence_id: str, action: lic.LicenceAction, comment: str,
        key: bytes, now: datetime | None = None) -> Licence:
    """Suspend, reinstate, revoke or cancel, by the issuing department's approver; recorded, sealed
    with the department's key (`key`: the licence master key that opens it; banjian/licence_seal.py),
    and queued for the event feed in the same transaction (banjian/licence_feed.py)."""
    row = session.get(Licence, licence_id, with_for_update=True)  # one change at a time: feed seq
    _check_actor(actor, licence_id, row)
    at = now or datetime.now(UTC)
    sources, target = lic.TRANSITIONS[action]
    current = status_of(row, china_date(at))
    if current not in sources:
        still = [a for a, (froms, _) in lic.TRANSITIONS.items() if current in froms]
        zh = "、".join(LICENCE_ACTION_ZH[a.value] for a in still)
        raise Conflict("licence_action_not_allowed",
                       f"证照当前状态（{licence_status_zh(current)}）不允许{LICENCE_ACTION_ZH[action.value]}；"
                       + (f"可以：{zh}" if still else "该证照已不能再变更状态"),
                       f"{action.value} is not allowed on a {current.value} licence; "
                       + (f"allowed: {', '.join(a.value for a in still)}" if still else "no change is possible any more"),
                       field="action")
    row.status = target.value
    session.add(row)
    session.add(LicenceEvent(licence_id=row.id, at=at, actor=actor.username, action=action.value,
                             comment=comment, status=target.value))
    licence_feed.enqueue_change(session, row, action.value, current.value, actor.username,
                                actor.acts_as or Role.APPROVER.value, comment, at)
    licence_seal.seal(session, row, department_signer(session, row.department, key))
    session.commit()
    session.refresh(row)
    return row


_ANY_VALID = select(Licence.id).where(Licence.holder_id == bindparam("holder_id"),
                                      Licence.type == bindparam("type"),
                                      Licence.status == lic.LicenceStatus.VALID.value).limit(1)


def reusable(session: Session, holder_id: str, licence_type: str, on: date) -> Licence | None:
    """The holder's newest licence of this type that verifies as valid today (signature and status
    seal included: a status edited by hand is never reused)."""
    # every submission asks, and most applicants hold none: a plain look-up first, entities only if any
    if session.connection().execute(_ANY_VALID, {"holder_id": holder_id, "type": licence_type}).first() is None:
        return None
    rows = session.exec(select(Licence).where(Licence.holder_id == holder_id, Licence.type == licence_type,
                                              Licence.status == lic.LicenceStatus.VALID.value)
                        .order_by(col(Licence.issued_at).desc())).all()
    for row in rows:
        if status_of(row, on) == lic.LicenceStatus.VALID and row.valid_from <= on and signature_ok(session, row) \
                and licence_seal.seal_ok(session, row):
            return row
    return None

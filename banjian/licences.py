"""E-licences (电子证照, GB/T 36901–36906): identifiers, face data, signatures, status and validity.

Pure domain code: no database, no clock of its own. The activity in `activities/licences.py`
issues licences with it, the API verifies them with it.

Identifier (GB/T 36904): ``1.2.156.3005.2.{type code}.{issuer credit code}.{sequence}.{version}.{check}``.
The check character is ISO/IEC 7064 MOD 37,36 (the hybrid system over the 36 characters 0-9 A-Z,
the one the unified social credit code family of standards uses for alphanumeric strings), computed
over every character of the identifier before it with the dots left out, upper-cased
(`python-stdnum`'s ``iso7064.mod_37_36``).

Signature: SM2 (with the default user id) by the issuing department's key over `canonical(...)`:
the signed fields (`SIGNED_FIELDS`) as JSON with sorted keys, no spaces, UTF-8, non-ASCII kept.
The status is not in this signature: it changes after issuance (suspend, revoke, …) and carries a
seal of its own (`banjian/licence_seal.py`).
"""
from __future__ import annotations

import calendar
import functools
import json
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from stdnum.iso7064 import mod_37_36

from banjian.crypto import sm2_verify, sm3_hex
from banjian.items.schema import LicenceSpec, Validity

OID_PREFIX = "1.2.156.3005.2"


class LicenceStatus(StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class LicenceAction(StrEnum):
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    REVOKE = "revoke"
    CANCEL = "cancel"


#: action → (statuses it may start from, status it leads to)
TRANSITIONS: dict[LicenceAction, tuple[frozenset[LicenceStatus], LicenceStatus]] = {
    LicenceAction.SUSPEND: (frozenset({LicenceStatus.VALID}), LicenceStatus.SUSPENDED),
    LicenceAction.REINSTATE: (frozenset({LicenceStatus.SUSPENDED}), LicenceStatus.VALID),
    LicenceAction.REVOKE: (frozenset({LicenceStatus.VALID, LicenceStatus.SUSPENDED}), LicenceStatus.REVOKED),
    LicenceAction.CANCEL: (frozenset({LicenceStatus.VALID, LicenceStatus.SUSPENDED}), LicenceStatus.CANCELLED),
}

#: GB/T 36903 holder id types
ID_TYPE_CITIZEN = "111"  # 居民身份证
ID_TYPE_CREDIT_CODE = "001"  # 统一社会信用代码

SIGNED_FIELDS = ("id", "licence_no", "type", "type_code", "name", "issuer", "issuer_code", "issue_date",
                 "valid_from", "valid_to", "holder_name", "holder_id", "holder_id_type", "region",
                 "item_code", "case_id", "face_data")


def _body(identifier_without_check: str) -> str:
    return identifier_without_check.replace(".", "").upper()


def check_char(identifier_without_check: str) -> str:
    """The GB/T 36904 check character of an identifier (everything before the last dot)."""
    return str(mod_37_36.calc_check_digit(_body(identifier_without_check)))


def issuer_of(spec: LicenceSpec, implementing_body: dict[str, Any], department: str,
              department_name: str | None = None, department_credit_code: str | None = None) -> tuple[str, str]:
    """The issuer's name and credit code (upper-cased): the licence section's issuer, else the
    implementing body, else the department (its code when it has no credit code)."""
    name = spec.issuer.name if spec.issuer else implementing_body.get("name") or department_name or department
    code = ((spec.issuer.credit_code if spec.issuer else None) or implementing_body.get("credit_code")
            or department_credit_code or department)
    return name, code.upper()


def identifier(type_code: str, issuer_code: str, sequence: int, version: int = 1) -> str:
    head = f"{OID_PREFIX}.{type_code.upper()}.{issuer_code.upper()}.{sequence}.{version}"
    return f"{head}.{check_char(head)}"


def identifier_ok(value: str) -> bool:
    """Whether `value` is a well-formed licence identifier with a correct check character."""
    if not value.startswith(OID_PREFIX + ".") or value.count(".") != OID_PREFIX.count(".") + 5:
        return False
    head, _, check = value.rpartition(".")
    try:
        return check_char(head) == check
    except Exception:  # characters outside 0-9 A-Z
        return False


def type_code_of(spec: LicenceSpec) -> str:
    """The type code in the identifier: the definition's, else "T" and the first 7 hex digits of the SM3
    digest of the type's name (stable, so every licence of one type shares it)."""
    if spec.type_code:
        return spec.type_code.upper()
    return "T" + sm3_hex(spec.type.encode())[:7].upper()


def holder_id_type(applicant_kind: str) -> str:
    return ID_TYPE_CITIZEN if applicant_kind == "citizen" else ID_TYPE_CREDIT_CODE


def add_period(start: date, validity: Validity) -> date:
    """The last valid day of a licence valid `validity` from `start` (inclusive)."""
    if validity.unit == "days":
        return start + timedelta(days=validity.value - 1)
    months = validity.value * (12 if validity.unit == "years" else 1)
    y, m = divmod(start.month - 1 + months, 12)
    year, month = start.year + y, m + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day) - timedelta(days=1)


def face_data(spec: LicenceSpec, form: dict[str, Any], applicant: dict[str, Any], case: dict[str, Any]) -> dict:
    """The face data (照面信息) the definition maps from the case: ``{name: {"label", "value"}}``."""
    sources = {"form": form, "applicant": applicant, "case": case}
    out: dict[str, Any] = {}
    for f in spec.face_data:
        scope, _, key = f.source.partition(".")
        value = sources[scope].get(key)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        out[f.name] = {"label": f.label, "value": value}
    return out


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes the issuer signs: the signed fields, canonical JSON."""
    signed = {k: fields.get(k) for k in SIGNED_FIELDS}
    return json.dumps(signed, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def signature_valid(fields: dict[str, Any], signature: str, public_key: str) -> bool:
    """Whether `signature` is the SM2 signature of the fields' canonical bytes under `public_key`."""
    return _verified(canonical(fields), signature, public_key)


def seal_valid(data: bytes, seal: str, public_key: str) -> bool:
    """Whether `seal` is the SM2 signature of a status seal's bytes (`banjian/licence_seal.py`)."""
    return _verified(data, seal, public_key)


@functools.lru_cache(maxsize=4096)
def _verified(data: bytes, signature: str, public_key: str) -> bool:
    """SM2 verification (pure Python, ~20 ms), remembered for the exact bytes, signature and key:
    any change to a signed field changes the bytes and is verified afresh."""
    try:
        return sm2_verify(public_key, data, signature)
    except Exception:
        return False


#: statuses that end when the validity does (a suspended licence past its last day cannot be reinstated)
EXPIRING = frozenset({LicenceStatus.VALID, LicenceStatus.SUSPENDED})


def effective_status(status: str, valid_to: date | None, today: date) -> LicenceStatus:
    """The status as of `today` (China date): a valid or suspended licence past its last day is
    expired (the licence's expiry workflow also stores it so, on the day after `valid_to`)."""
    st = LicenceStatus(status)
    if st in EXPIRING and valid_to is not None and today > valid_to:
        return LicenceStatus.EXPIRED
    return st


def mask_id(id_number: str) -> str:
    """The holder's id with all but its first 3 and last 4 characters hidden (short ids: last 2)."""
    if len(id_number) <= 8:
        return "*" * (len(id_number) - 2) + id_number[-2:] if len(id_number) > 2 else "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


class IssueRequest(BaseModel):
    """What the case workflow hands the issuing activity when a licensed case concludes approved."""

    case_id: str
    case_no: str | None = None
    item_code: str
    item_name: str
    department: str
    implementing_body: dict[str, Any]
    licence: LicenceSpec
    result_name: str | None = None
    applicant: dict[str, Any]
    form: dict[str, Any] = {}
    decided_at: datetime


class LicenceTerm(BaseModel):
    """The input of a licence's expiry workflow (`licence-{id}`): the licence and its last valid day."""

    licence_id: str
    valid_to: date


class ExpireRequest(BaseModel):
    """What the expiry workflow hands the `expire_licence` activity, at the workflow's own time."""

    licence_id: str
    at: datetime


__all__ = [
    "EXPIRING",
    "OID_PREFIX",
    "SIGNED_FIELDS",
    "TRANSITIONS",
    "ExpireRequest",
    "IssueRequest",
    "LicenceAction",
    "LicenceStatus",
    "LicenceTerm",
    "add_period",
    "canonical",
    "check_char",
    "effective_status",
    "face_data",
    "holder_id_type",
    "identifier",
    "identifier_ok",
    "issuer_of",
    "mask_id",
    "seal_valid",
    "signature_valid",
    "type_code_of",
]

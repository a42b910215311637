"""The e-licence library's tables (电子证照库) and the departments' signing keys.

`licences` holds one row per issued licence, unique per case (`case_id`): the issuing activity
inserts with ON CONFLICT DO NOTHING and reads back, so a retried or repeated issue finds the first
licence. `licence_events` records status changes, `licence_verifications` every verification.
A department's SM2 key is generated on first use and kept in `department_keys`, its private half
encrypted with SM4-GCM under the master key (`Settings.licence_master_key`; associated data: the
department code, so a row copied to another department does not decrypt).
"""
from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, select

from banjian.crypto import CryptoError, Sm2Signer, sm4_decrypt, sm4_encrypt
from banjian.db import JSONType

#: the development master key (refused in production: banjian/production.py)
DEFAULT_MASTER_KEY = "62616e6a69616e2d6c6963656e636573"


class Licence(SQLModel, table=True):
    __tablename__ = "licences"
    id: str = Field(primary_key=True, max_length=160)
    case_id: str = Field(max_length=40, unique=True)
    licence_no: str = Field(max_length=64, unique=True)
    type: str
    type_code: str = Field(max_length=20)
    name: str
    issuer: str
    issuer_code: str = Field(max_length=32)
    department: str = Field(index=True)
    issue_date: date
    valid_from: date
    valid_to: date | None = None
    holder_name: str
    holder_id: str = Field(index=True)
    holder_id_type: str = Field(max_length=3)
    holder_username: str | None = Field(default=None, index=True)
    region: str = Field(max_length=6)
    item_code: str
    face_data: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="valid", index=True)
    signature: str = Field(max_length=128)
    public_key: str = Field(max_length=130)
    issued_at: datetime
    #: printed on the licence and in its QR code: who has it may see the holder when verifying
    #: (not signed: it is no part of the licence's face; `None` on none but a licence being built)
    verify_code: str | None = Field(default=None, max_length=16)
    #: the issuing department's SM2 signature over the status and its recorded changes
    #: (banjian/licence_seal.py; None on a licence issued before migration 0037 until it is sealed)
    status_seal: str | None = Field(default=None, max_length=128)


class LicenceEvent(SQLModel, table=True):
    __tablename__ = "licence_events"
    id: int | None = Field(default=None, primary_key=True)
    licence_id: str = Field(index=True, max_length=160)
    at: datetime
    actor: str
    action: str
    comment: str | None = None
    status: str


class LicenceVerification(SQLModel, table=True):
    __tablename__ = "licence_verifications"
    id: int | None = Field(default=None, primary_key=True)
    licence_id: str = Field(index=True, max_length=160)
    at: datetime = Field(index=True)
    address: str | None = None
    status: str
    signature_valid: bool
    #: the verification's answer and why not valid (None on rows logged before migration 0037)
    valid: bool | None = None
    reason: str | None = Field(default=None, max_length=40)


class DepartmentKey(SQLModel, table=True):
    __tablename__ = "department_keys"
    department: str = Field(primary_key=True, max_length=32)
    public_key: str = Field(max_length=130)
    private_key_enc: str
    created_at: datetime


class LicenceSequence(SQLModel, table=True):
    """The last sequence number per licence type and issuer (the identifier's sequence)."""

    __tablename__ = "licence_sequences"
    __table_args__ = (UniqueConstraint("type_code", "issuer_code"),)
    id: int | None = Field(default=None, primary_key=True)
    type_code: str = Field(max_length=20)
    issuer_code: str = Field(max_length=32)
    last: int


#: the verification code's characters: no 0/O, 1/I/L, so that a code read off paper is typed right
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8  # 31^8, about 2^40


def new_verify_code() -> str:
    """A random verification code (8 characters of CODE_ALPHABET)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(value: str | None) -> str:
    """A code as typed (any case, spaces and dashes) in the stored form."""
    return "".join(c for c in (value or "").upper() if c not in " -")


def _insert(session: Session, table: Any) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


def master_key(value: str | None) -> bytes:
    try:
        key = bytes.fromhex(value or DEFAULT_MASTER_KEY)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise CryptoError("invalid_master_key", "电子证照主密钥应为32位十六进制数。",
                          "BANJIAN_LICENCE_MASTER_KEY must be 32 hex digits (an SM4 key).")
    return key


def department_signer(session: Session, department: str, key: bytes) -> Sm2Signer:
    """The department's signing key, generated and stored (encrypted) on first use; concurrent first
    uses keep the one stored first."""
    row = session.get(DepartmentKey, department)
    if row is None:
        fresh = Sm2Signer.generate()
        enc = sm4_encrypt(key, bytes.fromhex(fresh.private_key_hex), department.encode()).hex()
        table = DepartmentKey.__table__  # type: ignore[attr-defined]
        session.execute(_insert(session, table).values(
            department=department, public_key=fresh.public_key_hex, private_key_enc=enc,
            created_at=datetime.now(UTC)).on_conflict_do_nothing(index_elements=[table.c.department]))
        session.flush()
        row = session.get(DepartmentKey, department)
        assert row is not None
    return _signer(row.private_key_enc, department, key)


@lru_cache(maxsize=256)
def _signer(private_key_enc: str, department: str, key: bytes) -> Sm2Signer:
    """A department's signer, made once per stored key (deriving its public point is a pure-Python
    SM2 point multiplication, about as costly as a signature); a new key is a new entry."""
    return Sm2Signer(sm4_decrypt(key, bytes.fromhex(private_key_enc), department.encode()).hex())


def next_sequence(session: Session, type_code: str, issuer_code: str) -> int:
    table = LicenceSequence.__table__  # type: ignore[attr-defined]
    stmt = _insert(session, table).values(type_code=type_code, issuer_code=issuer_code, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.type_code, table.c.issuer_code],
                                      set_={"last": table.c.last + 1})
    return int(session.execute(stmt.returning(table.c.last)).scalar_one())


def licence_of_case(session: Session, case_id: str) -> Licence | None:
    return session.exec(select(Licence).where(Licence.case_id == case_id)).first()


def licence_fields(row: Licence) -> dict[str, Any]:
    """The signed fields of a stored licence, as they were signed."""
    return {
        "id": row.id, "licence_no": row.licence_no, "type": row.type, "type_code": row.type_code,
        "name": row.name, "issuer": row.issuer, "issuer_code": row.issuer_code,
        "issue_date": row.issue_date.isoformat(), "valid_from": row.valid_from.isoformat(),
        "valid_to": row.valid_to.isoformat() if row.valid_to else None, "holder_name": row.holder_name,
        "holder_id": row.holder_id, "holder_id_type": row.holder_id_type, "region": row.region,
        "item_code": row.item_code, "case_id": row.case_id, "face_data": row.face_data,
    }


__all__ = [
    "DEFAULT_MASTER_KEY",
    "DepartmentKey",
    "Licence",
    "LicenceEvent",
    "LicenceSequence",
    "LicenceVerification",
    "department_signer",
    "licence_fields",
    "licence_of_case",
    "master_key",
    "new_verify_code",
    "next_sequence",
    "normal_code",
]

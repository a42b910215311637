"""Tamper evidence for case records: each record's SM3 hash covers its content and the
hash of the case's previous record, so changing any row breaks every hash after it."""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from banjian.crypto import sm3_hex

GENESIS = "0" * 64


class ChainedRecord(Protocol):
    case_id: str
    seq: int
    at: datetime
    actor: str
    role: str
    department: str | None
    action: str
    comment: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


def canonical(case_id: str, seq: int, at: datetime, actor: str, role: str, department: str | None,
              action: str, comment: str | None, data: dict[str, Any]) -> bytes:
    """The bytes a record's hash covers: its content as sorted, compact JSON (UTC times)."""
    body = {"case_id": case_id, "seq": seq, "at": _utc(at), "actor": actor, "role": role, "department": department,
            "action": action, "comment": comment, "data": data}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def utc_text(at: datetime) -> str:
    """A record's time as its hash covers it: UTC, microseconds, `Z` (chain.json's `hashed_at`)."""
    return _utc(at)


def _utc(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link(prev_hash: str, content: bytes) -> str:
    """The hash of a record: SM3 over the previous record's hash and this record's content."""
    return sm3_hex(prev_hash.encode() + content)


def record_hash(prev_hash: str, r: ChainedRecord) -> str:
    return link(prev_hash, canonical(r.case_id, r.seq, r.at, r.actor, r.role, r.department, r.action,
                                     r.comment, r.data))


def first_altered(records: Iterable[ChainedRecord]) -> ChainedRecord | None:
    """Recompute the chain in order of `seq`; the first record whose hash or link is wrong."""
    prev = GENESIS
    for r in records:
        if r.prev_hash != prev or record_hash(prev, r) != r.hash:
            return r
        prev = r.hash
    return None

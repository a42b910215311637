"""Chain verification of a case's records, and the signed daily chain heads over all cases."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select
from temporalio.client import Client

from banjian import chain
from banjian.audit.evidence import attachment_findings, licence_findings
from banjian.audit.package_check import package_finding
from banjian.audit.snapshot import RecordReplayer, comparable, snapshot_discrepancy
from banjian.audit.timeline import (
    HEAD_SIGNING_LABEL,
    HEADS_DIR,
    SYSTEM_KEY_FILE,
    CaseSource,
    _aware,
    _rows,
    load_source,
)
from banjian.crypto import Sm2Signer, load_or_create_signer, sm2_verify, sm3_hex
from banjian.db import CaseEvent, ChainHead
from banjian.lenient_rows import case_row
from banjian.timefmt import china_date, end_of, iso_at, start_of

log = logging.getLogger("banjian.audit")
#: where the local file store keeps uploaded files under the data dir (banjian/storage.py)
FILES_DIR = "files"

def verify_case(session: Session, case_id: str, source: CaseSource | None = None,
                heads_dir: Path | None = None, files_dir: Path | None = None) -> dict[str, Any]:
    """Recompute the case's hash chain and check it against every independent witness available.

    Returns {"verified", "records", "first_altered": {"seq", "at", "action"} | null, "reason",
    "findings": [...], "checked": [...], "not_checked": [...]} (`not_checked`: `history` and `snapshot`
    when no history was at hand: `verified` then vouches for the chain alone). `first_altered` is the earliest record found altered,
    missing or out of place; `findings` lists every check that failed. Beside the records, the case
    row is compared with the state the workflow last recorded (`snapshot_differs`, when `source`
    tells it), the archive package with its recorded digest (`archive_altered`), the material files
    in `files_dir` with their upload records and archived digests (`attachment_altered`) and the
    e-licence the case issued (`licence_altered`, `banjian/audit/evidence.py`): findings that name no
    record (`seq` null; `reason` is theirs when no record is found altered)."""
    rows = _rows(session, case_id)
    row = case_row(session, case_id)
    findings: list[dict[str, Any]] = []
    checked = ["chain"]
    # 1. the chain itself: each hash covers the content and the previous hash; seqs run 1..N
    prev, expect = chain.GENESIS, 1
    for r in rows:
        if r.seq != expect:
            findings.append({"seq": expect, "reason": "missing", "detail": f"record {expect} is missing"})
            break
        if r.prev_hash != prev:
            findings.append({"seq": r.seq, "reason": "link_broken",
                             "detail": "the record does not link to the record before it"})
            break
        if chain.record_hash(prev, r) != r.hash:
            findings.append({"seq": r.seq, "reason": "content_altered",
                             "detail": "the record's content does not match its hash"})
            break
        prev, expect = r.hash, expect + 1
    # 2. completeness: the case row knows how many records were written
    if row is not None and rows and row.rev > rows[-1].seq:
        findings.append({"seq": rows[-1].seq + 1, "reason": "missing",
                         "detail": f"records {rows[-1].seq + 1}..{row.rev} were removed"})
    elif row is not None and not rows and row.rev > 0:
        findings.append({"seq": 1, "reason": "missing", "detail": "every record was removed"})
    # 3. the Temporal history (source of truth): recompute the expected hashes from it
    if source is not None:
        checked.append(source.origin)
        db = {r.seq: r for r in rows}
        prev = chain.GENESIS
        for rec in source.records:
            e = rec.entry
            want = chain.link(prev, chain.canonical(case_id, e.seq, e.at, e.actor, e.role, e.department,
                                                    e.action, e.comment, e.model_dump(mode="json")["data"]))
            prev = want
            r = db.get(e.seq)
            if r is None:
                if rec.completed:
                    findings.append({"seq": e.seq, "reason": "missing",
                                     "detail": f"record {e.seq} is in the {source.origin} history but not in "
                                               "the read model", "action": e.action})
                    break
                continue
            if r.hash != want:
                findings.append({"seq": e.seq, "reason": "differs_from_history",
                                 "detail": f"the record differs from what the {source.origin} history says"})
                break
    # 4. the signed daily chain heads that sealed this case's chain
    if heads_dir is not None:
        sealed = _sealed_tips(session, heads_dir, case_id)
        if sealed:
            checked.append("chain_heads")
        db = {r.seq: r for r in rows}
        last = 0
        for day, seq, h, problem in sealed:
            if problem:
                findings.append({"seq": last + 1, "reason": "chain_head_invalid", "day": day.isoformat(),
                                 "detail": problem})
                break
            r = db.get(seq)
            if r is None or r.hash != h:
                findings.append({"seq": last + 1, "reason": "differs_from_chain_head", "day": day.isoformat(),
                                 "detail": f"the records up to {seq} differ from those sealed on {day} "
                                           f"(altered at or after record {last + 1})"})
                break
            last = seq
    # 5. the case row: the state the workflow last recorded (known from the history)
    if source is not None and row is not None and comparable(source, row):
        checked.append("snapshot")
        snap = snapshot_discrepancy(case_id, source, row)
        if snap is not None:
            findings.append({"seq": None, "reason": "snapshot_differs", "fields": snap["fields"],
                             "temporal": snap["temporal"], "read_model": snap["read_model"], "detail": snap["detail"]})
    # 6. the archive package: its recorded SM3 digest
    archived, altered = package_finding(session, case_id)
    if archived:
        checked.append("archive_package")
    if altered is not None:
        findings.append(altered)
    # 7. the material files and the e-licence the records point at
    files, problems = attachment_findings(session, case_id, files_dir)
    if files:
        checked.append("attachments")
    findings += problems
    issued, problems = licence_findings(session, case_id)
    if issued:
        checked.append("licence")
    findings += problems
    # the chain and the history name the exact record; a chain head only bounds it from below; the
    # case row and the archive package are no record
    records = [f for f in findings if f["seq"] is not None]
    exact = [f for f in records if f["reason"] not in ("differs_from_chain_head", "chain_head_invalid")]
    first = min(exact or records, key=lambda f: f["seq"]) if records else None
    first_altered = None
    if first is not None:
        r = next((x for x in rows if x.seq == first["seq"]), None)
        rec = next((x.entry for x in (source.records if source else []) if x.entry.seq == first["seq"]), None)
        at = r.at if r is not None else (rec.at if rec is not None else None)
        first_altered = {"seq": first["seq"], "at": iso_at(at) if at else None,
                         "action": r.action if r is not None else (rec.action if rec is not None else None)}
    reason = first["reason"] if first else (findings[0]["reason"] if findings else None)
    # without the workflow's history (Temporal unreachable, or a history gone with no archive package)
    # the records are checked only against themselves: say so, rather than pass as fully verified
    not_checked = [] if source is not None else ["history", "snapshot"]
    return {"verified": not findings, "records": len(rows), "first_altered": first_altered,
            "reason": reason, "findings": findings, "checked": checked, "not_checked": not_checked}


async def verify_case_full(client: Client | None, session_factory: Callable[[], Session], case_id: str,
                           data_dir: Path | None, replayer: RecordReplayer | None = None) -> dict[str, Any]:
    """verify_case with the Temporal (or archived) history fetched (a lean case's replayed by
    `replayer` for the state it last recorded) and the chain heads of data_dir."""
    source = await load_source(client, session_factory, case_id, replayer=replayer)
    heads = data_dir / HEADS_DIR if data_dir is not None else None
    files = data_dir / FILES_DIR if data_dir is not None else None
    with session_factory() as session:
        return verify_case(session, case_id, source, heads, files)


# =====================================================================================================
# Daily chain heads
# =====================================================================================================
def system_signer(data_dir: Path) -> Sm2Signer:
    return _signer(str((Path(data_dir) / SYSTEM_KEY_FILE).resolve()))


@cache
def _signer(path: str) -> Sm2Signer:
    return load_or_create_signer(Path(path))


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)  # the columns store aware times (in UTC)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    return _utc(start_of(day)), _utc(end_of(day))


def day_tips(session: Session, day: date) -> tuple[dict[str, tuple[int, str]], int]:
    """The tip (last seq and hash) of each case's chain among the records of `day` (China time),
    and how many records that day holds."""
    lo, hi = _day_bounds(day)
    rows = session.exec(select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.hash)
                        .where(CaseEvent.at >= lo, CaseEvent.at < hi)
                        .order_by(col(CaseEvent.case_id), col(CaseEvent.seq))).all()
    tips: dict[str, tuple[int, str]] = {}
    for cid, seq, h in rows:
        tips[cid] = (seq, h)
    return tips, len(rows)


def head_of(prev_head: str, day: date, tips: dict[str, tuple[int, str]]) -> str:
    """SM3 over the previous day's head, the day, and every case's tip that day (sorted by case)."""
    body = f"{prev_head}\n{day.isoformat()}\n" + "".join(f"{cid}\t{seq}\t{h}\n" for cid, (seq, h) in sorted(tips.items()))
    return sm3_hex(body.encode())


def signed_bytes(day: date, records: int, head: str) -> bytes:
    """What the system key signs for a day."""
    return f"{HEAD_SIGNING_LABEL}\n{day.isoformat()}\n{records}\n{head}\n".encode()


def _prev_head(session: Session, day: date) -> str:
    prev = session.exec(select(ChainHead).where(ChainHead.day < day).order_by(col(ChainHead.day).desc())
                        .limit(1)).first()
    return prev.head if prev else chain.GENESIS


def seal_day(session_factory: Callable[[], Session], data_dir: Path, day: date) -> ChainHead:
    """Seal `day`: compute and sign its head, store it (replacing an earlier seal of that day) and
    write the tips it covers to data_dir/chain-heads/{day}.json."""
    signer = system_signer(data_dir)
    with session_factory() as session:
        tips, records = day_tips(session, day)
        prev = _prev_head(session, day)
        head = head_of(prev, day, tips)
        signature = signer.sign(signed_bytes(day, records, head))
        row = session.get(ChainHead, day) or ChainHead(day=day, head="", records=0, signature="", public_key="",
                                                       created_at=datetime.now(UTC))
        row.head, row.records, row.signature, row.public_key = head, records, signature, signer.public_key_hex
        row.created_at = datetime.now(UTC)
        session.add(row)
        out = Path(data_dir) / HEADS_DIR
        out.mkdir(parents=True, exist_ok=True)
        doc = {"day": day.isoformat(), "prev_head": prev, "head": head, "records": records,
               "tips": {cid: {"seq": s, "hash": h} for cid, (s, h) in sorted(tips.items())},
               "signature": signature, "public_key": signer.public_key_hex, "algorithm": "SM3/SM2",
               "signed": signed_bytes(day, records, head).decode()}
        tmp = out / f".{day.isoformat()}.json.tmp"
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(out / f"{day.isoformat()}.json")
        session.commit()
        session.refresh(row)
        return row


def seal_due(session_factory: Callable[[], Session], data_dir: Path, now: datetime | None = None,
             grace: timedelta = timedelta(hours=1)) -> list[date]:
    """Seal every day that has records, has ended (plus `grace`, for records still in flight at
    midnight) and is not sealed yet, in order. Returns the days sealed."""
    now = now or datetime.now(UTC)
    last_open = china_date(now - grace)  # days before this one are over
    sealed: list[date] = []
    with session_factory() as session:
        last = session.exec(select(func.max(ChainHead.day))).one()
    cursor = start_of(last + timedelta(days=1)) if last else None
    while True:
        with session_factory() as session:
            stmt = select(func.min(CaseEvent.at))
            if cursor is not None:
                stmt = stmt.where(CaseEvent.at >= _utc(cursor))
            first = session.exec(stmt).one()
        if first is None:
            break
        day = china_date(_aware(first))
        if day >= last_open:
            break
        seal_day(session_factory, data_dir, day)
        sealed.append(day)
        cursor = end_of(day)
    return sealed


def verify_heads(session_factory: Callable[[], Session], data_dir: Path | None = None) -> list[dict[str, Any]]:
    """Check every sealed day: its signature, its link to the day before, that the read model still
    yields the same head and, with `data_dir`, that its tips file is there and reproduces it (a tips
    file whose day has no head in the database is reported too). One result per day, oldest first."""
    out = []
    with session_factory() as session:
        heads = {h.day: h for h in session.exec(select(ChainHead)).all()}
        files = _tips_files(data_dir / HEADS_DIR) if data_dir is not None else {}
        prev = chain.GENESIS
        for day in sorted(set(heads) | set(files)):
            h = heads.get(day)
            if h is None:
                out.append({"day": day.isoformat(), "verified": False, "records": None, "head": None,
                            "problems": [f"the chain head of {day} is missing from the database (its tips file "
                                         "remains)"]})
                continue
            problems = []
            if not sm2_verify(h.public_key, signed_bytes(h.day, h.records, h.head), h.signature):
                problems.append("the signature does not verify")
            if data_dir is not None and h.public_key != system_signer(data_dir).public_key_hex:
                problems.append("signed by a key that is not the system key")
            tips, records = day_tips(session, h.day)
            if head_of(prev, h.day, tips) != h.head or records != h.records:
                problems.append(f"the read model no longer yields this head ({records} records now, "
                                f"{h.records} sealed)")
            if data_dir is not None:
                problem = _tips_file_problem(files.get(day), day, h)
                if problem:
                    problems.append(problem)
            out.append({"day": h.day.isoformat(), "verified": not problems, "records": h.records,
                        "head": h.head, "problems": problems})
            prev = h.head
    return out


#: a tips file that is there but cannot be read as one (`_tips_files`)
UNREADABLE_TIPS = "unreadable"


def _tips_files(heads_dir: Path) -> dict[date, dict[str, Any] | str]:
    """day → the tips file's document ({"prev_head", "tips": {case: (seq, hash)}}), or UNREADABLE_TIPS
    for a file named after a day whose content is no tips document."""
    out: dict[date, dict[str, Any] | str] = {}
    if not heads_dir.is_dir():
        return out
    for path in sorted(heads_dir.glob("*.json")):
        try:
            day = date.fromisoformat(path.stem)
        except ValueError:
            continue  # no day's file
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            tips = {str(cid): (int(t["seq"]), str(t["hash"])) for cid, t in doc["tips"].items()}
            out[day] = {"prev_head": str(doc["prev_head"]), "tips": tips}
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            out[day] = UNREADABLE_TIPS
    return out


def _tips_file_problem(doc: dict[str, Any] | str | None, day: date, h: ChainHead) -> str | None:
    if doc is None:
        return f"the sealed tips file of {day} is missing"
    if isinstance(doc, str):
        return f"the sealed tips file of {day} is unreadable"
    if head_of(doc["prev_head"], day, doc["tips"]) != h.head:
        return f"the sealed tips of {day} do not reproduce its head"
    return None


def _has_records_on(session: Session, case_id: str, day: date) -> bool:
    lo, hi = _day_bounds(day)
    return session.exec(select(func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == case_id, CaseEvent.at >= lo, CaseEvent.at < hi)).one() > 0


def _sealed_tips(session: Session, heads_dir: Path, case_id: str) -> list[tuple[date, int, str, str | None]]:
    """(day, seq, hash, problem) for every sealed day whose tips include the case, oldest first.
    The tips file is trusted only if it reproduces the signed head stored for that day; a sealed
    day whose tips file is missing or unreadable is a problem for each case with records that day."""
    heads = {h.day: h for h in session.exec(select(ChainHead)).all()}
    files = _tips_files(heads_dir)
    out = []
    for day in sorted(set(heads) | set(files)):
        doc, h = files.get(day), heads.get(day)
        if not isinstance(doc, dict):
            if h is not None and _has_records_on(session, case_id, day):
                out.append((day, 0, "", _tips_file_problem(doc, day, h)))
            continue
        tip = doc["tips"].get(case_id)
        if tip is None:
            continue
        problem = None
        if h is None:
            problem = f"the chain head of {day} is missing from the database"
        elif head_of(doc["prev_head"], day, doc["tips"]) != h.head:
            problem = f"the sealed tips of {day} do not reproduce its head"
        elif not sm2_verify(h.public_key, signed_bytes(day, h.records, h.head), h.signature):
            problem = f"the chain head of {day} has an invalid signature"
        out.append((day, tip[0], tip[1], problem))
    return out


async def seal_forever(session_factory: Callable[[], Session], data_dir: Path, every: float = 3600) -> None:
    """Seal finished days as they end (run beside the worker)."""
    while True:
        try:
            days = await asyncio.to_thread(seal_due, session_factory, data_dir)
            if days:
                log.info("sealed chain heads: %s", ", ".join(d.isoformat() for d in days))
        except Exception:  # keep sealing later; never take the worker down
            log.exception("sealing chain heads failed")
        await asyncio.sleep(every)


"""What a case's records point at, checked beside its hash chain: the uploaded material files
(附件: their bytes, the SM3 digest recorded at upload, and the digest its archive package kept) and
the e-licence the case issued (电子证照: present, its signed fields intact, its status the one its
recorded status changes left). Findings name no record (`seq` null); `banjian audit verify` and
GET /api/cases/{id}/verify report them with the chain's."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from banjian.audit.package_check import intact_package
from banjian.crypto import sm3_hex
from banjian.db import Archive, CaseEvent
from banjian.files import StoredFile
from banjian.lenient_rows import case_row
from banjian.licence_ops import signature_ok
from banjian.licence_seal import seal_ok
from banjian.licence_store import Licence, LicenceEvent

ATTACHMENT_ALTERED = "attachment_altered"
LICENCE_ALTERED = "licence_altered"
#: the history action that names the licence a case issued (workflows/licensing.py)
LICENCE_ISSUED = "licence_issued"
CHUNK = 1024 * 1024


def _file_sm3(path: Path) -> str | None:
    """The SM3 digest of a stored file's bytes, or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            data = b"".join(iter(lambda: f.read(CHUNK), b""))
    except OSError:
        return None
    return sm3_hex(data)


def archived_digests(session: Session, case_id: str) -> dict[str, str]:
    """file_id → SM3 of each material file as the case's archive package recorded it (application.json);
    empty without an intact package (a missing or altered one is `archive_altered` already)."""
    arc = session.get(Archive, case_id)
    data = intact_package(arc) if arc is not None else None
    if data is None:
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            application = json.loads(z.read("application.json"))
    except (KeyError, ValueError, zipfile.BadZipFile):
        return {}
    return {m["file_id"]: m["sm3"] for m in application.get("materials") or []
            if isinstance(m, dict) and m.get("file_id") and m.get("sm3")}


def attachment_findings(session: Session, case_id: str, files_dir: Path | None) -> tuple[int, list[dict[str, Any]]]:
    """(how many material files were checked, a finding for each one that is missing or altered).

    Each material file of the case (every version) must have its upload record, its bytes in the
    file store must hash to the SM3 recorded at upload, and, once archived, that SM3 must be the one
    the package kept (which catches bytes replaced together with their upload record)."""
    row = case_row(session, case_id)
    if row is None or files_dir is None:
        return 0, []
    archived = archived_digests(session, case_id)
    findings: list[dict[str, Any]] = []
    checked = 0
    for m in (row.snapshot or {}).get("materials") or []:
        fid = m.get("file_id") if isinstance(m, dict) else None
        if not fid:
            continue
        checked += 1
        where = {"seq": None, "reason": ATTACHMENT_ALTERED, "file_id": fid, "material": m.get("name"),
                 "version": m.get("version")}
        stored = session.get(StoredFile, fid)
        if stored is None:
            findings.append({**where, "problem": "record_missing",
                             "detail": f"the upload record of file {fid} is missing"})
            continue
        digest = _file_sm3(files_dir / fid) if fid.isalnum() else None
        if digest is None:
            findings.append({**where, "problem": "file_missing",
                             "detail": f"file {fid} is missing from the file store"})
        elif digest != stored.sm3:
            findings.append({**where, "problem": "bytes_altered",
                             "detail": f"the bytes of file {fid} do not match the SM3 digest recorded at upload"})
        elif fid in archived and archived[fid] != stored.sm3:
            findings.append({**where, "problem": "digest_altered",
                             "detail": f"file {fid} and its recorded SM3 digest differ from those the archive "
                                       "package kept"})
    return checked, findings


def issued_licence_id(session: Session, case_id: str) -> str | None:
    """The licence the case's records say it issued (the last `licence_issued` record)."""
    rows = session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == LICENCE_ISSUED)
                        .order_by(col(CaseEvent.seq).desc())).all()
    for r in rows:
        lid = (r.data or {}).get("licence_id")
        if lid:
            return str(lid)
    return None


def licence_findings(session: Session, case_id: str) -> tuple[bool, list[dict[str, Any]]]:
    """(whether the case issued a licence to check, a finding when that licence is missing, its signed
    fields no longer match its signature, its status is not the one its last recorded status
    change (or its issue: valid) left, or status and changes do not match their seal)."""
    lid = issued_licence_id(session, case_id)
    if lid is None:
        return False, []
    where = {"seq": None, "reason": LICENCE_ALTERED, "licence_id": lid}
    row = session.get(Licence, lid)
    if row is None or row.case_id != case_id:
        return True, [{**where, "problem": "licence_missing",
                       "detail": f"the e-licence {lid} this case issued is missing"}]
    findings = []
    if not signature_ok(session, row):
        findings.append({**where, "problem": "fields_altered",
                         "detail": f"the fields of e-licence {lid} do not match its SM2 signature"})
    last = session.exec(select(LicenceEvent).where(LicenceEvent.licence_id == lid)
                        .order_by(col(LicenceEvent.at).desc(), col(LicenceEvent.id).desc())).first()
    expected = last.status if last is not None else "valid"
    if row.status != expected:
        findings.append({**where, "problem": "status_altered", "status": row.status, "expected": expected,
                         "detail": f"e-licence {lid} is '{row.status}' but its recorded status changes leave "
                                   f"it '{expected}'"})
    elif not seal_ok(session, row):  # status and changes edited together, or a change's record altered
        findings.append({**where, "problem": "status_seal_invalid", "status": row.status,
                         "detail": f"the status '{row.status}' of e-licence {lid} and its recorded status changes "
                                   "do not match the issuing department's status seal"})
    return True, findings

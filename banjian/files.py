"""Uploaded files (申请材料的电子文件): their record, the accepted types, and who may read them.

A file is stored once under a fresh id with its SM3 digest, size and media type, and never
replaced or deleted: a supplement attaches a new file as a new version of the material.
"""
from __future__ import annotations

import zipfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import filetype
from sqlalchemy import String, cast
from sqlmodel import Field, Session, SQLModel, select

from banjian.contracts import Actor
from banjian.db import Case
from banjian.enums import Role
from banjian.errors import DomainError, Invalid, NotFound

MAX_FILE_BYTES = 20 * 1024 * 1024
#: what a name may end with, and the media type its content must have
ACCEPTED = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
            ".ofd": "application/ofd"}
READ_ALL = (Role.AUDITOR, Role.ADMIN)


class StoredFile(SQLModel, table=True):
    """One uploaded file; the bytes are in the file store under `file_id`."""

    __tablename__ = "files"
    file_id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=255)
    size: int
    media_type: str = Field(max_length=64)
    sm3: str = Field(max_length=64)
    uploaded_by: str = Field(index=True, max_length=64)
    created_at: datetime


class TooLarge(DomainError):
    status = 413


class UnsupportedType(DomainError):
    status = 415


def too_large() -> TooLarge:
    return TooLarge("file_too_large", "文件不能超过 20 MiB", "a file may be at most 20 MiB", field="file")


def expected_type(name: str) -> str:
    """The media type a file name promises, or 415."""
    ext = Path(name).suffix.lower()
    if ext not in ACCEPTED:
        raise UnsupportedType("unsupported_type", "只接受 PDF、JPEG、PNG 或 OFD 文件",
                              "only PDF, JPEG, PNG and OFD files are accepted", field="file")
    return ACCEPTED[ext]


def sniff(head: bytes, local_path: Path | None) -> str | None:
    """The media type the content shows (magic bytes); OFD is a zip package with OFD.xml at its root."""
    kind = filetype.guess(head)
    if kind is None:
        return None
    if kind.mime in ("application/pdf", "image/jpeg", "image/png"):
        return str(kind.mime)
    if kind.mime == "application/zip" and local_path is not None:
        try:
            with zipfile.ZipFile(local_path) as z:
                return "application/ofd" if "OFD.xml" in z.namelist() else None
        except zipfile.BadZipFile:
            return None
    return None


#: the longest file name kept (the column's width)
MAX_NAME = 255


def file_name(raw: str) -> str:
    """The name a file is kept under: its last path component (a browser's `C:\\fakepath\\x.pdf` or a
    crafted `../../etc/x.pdf` keeps `x.pdf`), without control characters, at most `MAX_NAME`
    characters with its extension kept."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if len(name) > MAX_NAME:
        suffix = Path(name).suffix[:16]
        name = name[:MAX_NAME - len(suffix)] + suffix
    return name


def check_content(name: str, head: bytes, local_path: Path | None) -> str:
    """415 unless the name and the content agree on one of the accepted types."""
    promised = expected_type(name)
    if sniff(head, local_path) != promised:
        raise UnsupportedType("type_mismatch", "文件内容与文件类型不符（只接受 PDF、JPEG、PNG 或 OFD）",
                              "the content does not match the file's type (PDF, JPEG, PNG or OFD only)",
                              field="file")
    return promised


def not_found(file_id: str) -> NotFound:
    return NotFound("file_not_found", f"文件 {file_id} 不存在", f"no file {file_id}", field="file_id")


def cases_using(session: Session, file_id: str) -> list[Case]:
    """The cases (and sub-cases) whose materials carry the file. Ids are hex, so a text match on
    the snapshot finds exactly them on SQLite and PostgreSQL alike."""
    if not file_id.isalnum():
        return []
    return list(session.exec(select(Case).where(cast(Case.snapshot, String).like(f'%"{file_id}"%'))).all())


def readable(session: Session, actor: Actor, row: StoredFile) -> bool:
    """The uploader, auditors and admins, and the staff of a department whose case uses the file."""
    if row.uploaded_by == actor.username or actor.has(*READ_ALL):
        return True
    if actor.department is None or actor.has(Role.APPLICANT):
        return False
    return any(c.department == actor.department for c in cases_using(session, row.file_id))


def check_own_files(session: Session, actor: Actor, materials: Iterable[object], field: str = "materials") -> None:
    """Every `file_id` among `materials` (dicts or models) must be the caller's own upload: 404 otherwise."""
    for i, m in enumerate(materials):
        file_id = m.get("file_id") if isinstance(m, dict) else getattr(m, "file_id", None)
        if file_id is None:
            continue
        row = session.get(StoredFile, str(file_id))
        if row is None or row.uploaded_by != actor.username:
            raise NotFound("file_not_found", f"文件 {file_id} 不存在", f"no file {file_id} of yours",
                           field=f"{field}[{i}].file_id")


def invalid_upload(message: str, message_en: str) -> Invalid:
    return Invalid("invalid_upload", message, message_en, field="file")




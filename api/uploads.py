"""Reading multipart uploads as they stream in: files go straight to the file store, never whole
into memory, and a file past the limit is refused while it arrives.

The JSON API (`POST /api/files`) stops at the first byte past 20 MiB (413). A page form keeps
reading the other fields and skips the rest of an oversize file, so the form can be shown again
with its values and a message beside the file.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlmodel import Session

from banjian.crypto import Sm3Stream
from banjian.errors import DomainError
from banjian.files import MAX_FILE_BYTES, StoredFile, check_content, file_name, invalid_upload, too_large
from banjian.storage import FileStore, FileWriter

MAX_FIELDS_BYTES = 256 * 1024  # all text fields of one form together
MAX_PARTS = 64
MAX_FORM_BYTES = 12 * MAX_FILE_BYTES  # a page form with many materials; beyond this the request is refused


@dataclass
class FilePart:
    """One file part of a form, written to the store's incoming area (not yet committed)."""

    field: str
    filename: str
    writer: FileWriter | None
    size: int = 0
    too_large: bool = False
    sm3: Sm3Stream = field(default_factory=Sm3Stream)

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[FilePart] = field(default_factory=list)

    def first(self, name: str, default: str = "") -> str:
        return (self.fields.get(name) or [default])[0]

    def discard(self) -> None:
        for f in self.files:
            f.discard()


def _disposition(value: bytes) -> tuple[str, str | None]:
    _, params = parse_options_header(value)
    name = params.get(b"name", b"").decode("utf-8", "replace")
    filename = params.get(b"filename")
    return name, filename.decode("utf-8", "replace") if filename is not None else None


async def read_form(request: Request, store: FileStore, abort_oversize: bool,
                    max_fields_bytes: int = MAX_FIELDS_BYTES) -> Form:
    """Parse a multipart request. Empty file inputs (no name, no bytes) are left out. A form whose
    text is long by nature (an item definition pasted on `/admin/items`) passes a larger
    `max_fields_bytes`, so that its page can answer an over-long text in place."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise invalid_upload("请以 multipart/form-data 上传文件", "send the file as multipart/form-data")
    length = request.headers.get("content-length")
    if abort_oversize and length and length.isdigit() and int(length) > MAX_FILE_BYTES + max_fields_bytes:
        raise too_large()  # refused before a byte is read
    form = Form()
    headers: dict[str, bytes] = {}
    cur: dict = {}
    field_bytes = 0
    errors: list[DomainError] = []

    def on_part_begin() -> None:
        headers.clear()
        cur.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        cur["hf"] = cur.get("hf", b"") + data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        cur["hv"] = cur.get("hv", b"") + data[start:end]

    def on_header_end() -> None:
        headers[cur.pop("hf", b"").decode("latin-1").lower()] = cur.pop("hv", b"")

    def on_headers_finished() -> None:
        name, filename = _disposition(headers.get("content-disposition", b""))
        if len(form.files) + len(form.fields) >= MAX_PARTS:
            errors.append(invalid_upload("表单项过多", "too many parts"))
        cur["name"] = name
        if filename is not None:
            part = FilePart(field=name, filename=filename, writer=store.writer() if filename else None)
            form.files.append(part)
            cur["file"] = part
        else:
            cur["value"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal field_bytes
        chunk = data[start:end]
        part: FilePart | None = cur.get("file")
        if part is None:
            field_bytes += len(chunk)
            if field_bytes > max_fields_bytes:
                errors.append(invalid_upload("表单内容过长", "the form's fields are too long"))
                return
            cur["value"] += chunk
            return
        if part.too_large or part.writer is None:
            return
        part.size += len(chunk)
        if part.size > MAX_FILE_BYTES:
            part.too_large = True
            part.discard()
            if abort_oversize:
                errors.append(too_large())
            return
        part.sm3.update(chunk)
        part.writer.write(chunk)

    def on_part_end() -> None:
        if "value" in cur:
            form.fields.setdefault(cur["name"], []).append(cur["value"].decode("utf-8", "replace"))

    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end})
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_FORM_BYTES:
                raise too_large()
            parser.write(chunk)
            if errors:
                raise errors[0]
        parser.finalize()
    except DomainError:
        form.discard()
        raise
    except Exception as e:  # a malformed body
        form.discard()
        raise invalid_upload("上传内容格式错误", f"malformed multipart body: {e}") from None
    form.files = [f for f in form.files if f.filename or f.size]
    return form


def store_file(session: Session, store: FileStore, part: FilePart, username: str) -> StoredFile:
    """Check a received part (empty 422, oversize 413, type 415) and commit it with its record."""
    try:
        if part.too_large:
            raise too_large()
        if part.size == 0 or part.writer is None:
            raise invalid_upload("文件为空", "the file is empty")
        file_id = uuid.uuid4().hex
        head = part.writer.head()
        local = getattr(part.writer, "tmp", None)
        name = file_name(part.filename)
        media_type = check_content(name, head, local)
        part.writer.commit(file_id)
        part.writer = None
    finally:
        part.discard()
    row = StoredFile(file_id=file_id, name=name, size=part.size, media_type=media_type,
                     sm3=part.sm3.hexdigest(), uploaded_by=username, created_at=datetime.now(UTC))
    session.add(row)
    session.commit()
    return row


def file_json(row: StoredFile) -> dict:
    return {"file_id": row.file_id, "name": row.name, "size": row.size, "media_type": row.media_type,
            "sm3": row.sm3}

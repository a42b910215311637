"""Files (申请材料文件): upload one, read one back. Contract: "Files and e-licences"."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import CurrentUser, SessionDep
from api.uploads import file_json, read_form, store_file
from banjian.files import StoredFile, invalid_upload, not_found, readable

router = APIRouter(prefix="/api/files", tags=["files"])


@router.post("", status_code=201, openapi_extra={"requestBody": {"content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"],
               "properties": {"file": {"type": "string", "format": "binary"}}}}}}})
async def upload(request: Request, actor: CurrentUser, session: SessionDep) -> JSONResponse:
    """Store one file (multipart field `file`): PDF, JPEG, PNG or OFD, at most 20 MiB."""
    form = await read_form(request, request.app.state.files, abort_oversize=True)
    parts = [f for f in form.files if f.field == "file"]
    if len(parts) != 1:
        form.discard()
        raise invalid_upload("请在 file 字段上传一个文件", "send exactly one file in the field `file`")
    for other in form.files:
        if other is not parts[0]:
            other.discard()
    row = store_file(session, request.app.state.files, parts[0], actor.username)
    return JSONResponse(file_json(row), status_code=201)


@router.get("/{file_id}")
def download(file_id: str, request: Request, actor: CurrentUser, session: SessionDep) -> StreamingResponse:
    """The bytes, to the uploader, the departments of a case using the file, auditors and admins."""
    row = session.get(StoredFile, file_id)
    if row is None or not readable(session, actor, row):
        raise not_found(file_id)
    return StreamingResponse(request.app.state.files.read(file_id), media_type=row.media_type, headers={
        "Content-Length": str(row.size), "X-Content-SM3": row.sm3,
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row.name)}"})

"""E-licences (电子证照库): verify (no login), read, list the caller's, change status, print.
Contract: "Files and e-licences"; the fields the contract is silent on are in docs/api.md."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.bodies import body_doc, json_body
from api.bounds import Offset
from api.deps import CurrentUser, SessionDep
from api.licence_document import render_document
from banjian import licence_ops as ops
from banjian.licence_store import master_key
from banjian.licences import LicenceAction

router = APIRouter(tags=["licences"])

LicenceId = Annotated[str, Path(min_length=1, max_length=160, description="a GB/T 36904 licence identifier")]


class LicenceActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["suspend", "reinstate", "revoke", "cancel"]
    comment: str = Field(min_length=1, max_length=2000, pattern=r"\S")  # a reason, not spaces alone


VerifyCode = Annotated[str | None, Query(max_length=32, description="the verification code printed on the licence")]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/api/licences/{licence_id}/verify", name="licence_verify")
def verify(licence_id: LicenceId, request: Request, session: SessionDep, code: VerifyCode = None) -> dict:
    """Verify a licence (no login): signature, status and validity, why it is not valid, and the
    holder (its id masked), as the contract has it; `holder_disclosed` says whether the licence's
    verification code was given. Logged; limited per address (429)."""
    address = client_address(request)
    request.app.state.verify_limiter.hit(address)
    return ops.verify(session, licence_id, address, code=code)


@router.get("/api/licences/{licence_id}")
def get_licence(licence_id: LicenceId, actor: CurrentUser, session: SessionDep) -> dict:
    """The licence with its face data (the holder, the issuing department, auditors, admins)."""
    return ops.detail(session, ops.get_readable(session, actor, licence_id))


@router.post("/api/licences/{licence_id}/actions", openapi_extra=body_doc(LicenceActionBody))
async def licence_action(licence_id: LicenceId, request: Request, actor: CurrentUser, session: SessionDep) -> dict:
    """Suspend, reinstate, revoke or cancel (the issuing department's approver), with a comment.
    404 and 403 come before a bad body's 422 (contract order)."""
    await run_in_threadpool(ops.may_act, session, actor, licence_id)
    body = await json_body(request, LicenceActionBody)

    def act() -> dict:
        key = master_key(request.app.state.settings.licence_master_key)
        row = ops.act(session, actor, licence_id, LicenceAction(body.action), body.comment, key)
        return ops.detail(session, row)

    return await run_in_threadpool(act)


@router.get("/api/me/licences")
def my_licences(actor: CurrentUser, session: SessionDep,
                limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Offset = 0) -> dict:
    """The caller's licences, newest first; `status` as of today (expired ones say so)."""
    rows, total = ops.held_by(session, actor, limit, offset)
    on = ops.today()
    return {"items": [ops.summary(r, on) for r in rows], "total": total}


@router.get("/api/licences/{licence_id}/document", response_class=HTMLResponse)
def document(licence_id: LicenceId, request: Request, actor: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The printable licence (HTML, Chinese) with a QR code of its public verification page."""
    row = ops.get_readable(session, actor, licence_id)
    return HTMLResponse(render_document(request.app.state.settings, session, row))

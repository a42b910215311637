"""Consultations and complaints (咨询投诉): file (a consultation needs no login), list, read, answer."""
from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.bodies import body_doc, json_body
from api.bounds import Offset
from api.deps import CurrentUser, current_user, oauth2
from api.inquiries import InquiryService
from banjian.contracts import Actor
from banjian.inquiries import MAX_TEXT

router = APIRouter(prefix="/api/inquiries", tags=["inquiries"])
InquiryId = Annotated[str, Path(min_length=1, max_length=40)]


async def optional_user(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Actor | None:
    """The caller if a token or session cookie came with the request, else None (no login)."""
    if not token and not request.cookies.get("banjian_token"):
        return None
    return await current_user(request, token)


MaybeUser = Annotated[Actor | None, Depends(optional_user)]


def service(request: Request) -> InquiryService:
    return InquiryService(request.app.state.cases)


Service = Annotated[InquiryService, Depends(service)]


class InquiryIn(BaseModel):
    """POST /api/inquiries."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["consultation", "complaint"]
    item_code: str | None = Field(default=None, min_length=1, max_length=64)
    case_id: str | None = Field(default=None, min_length=1, max_length=40)
    text: str = Field(min_length=1, max_length=MAX_TEXT, pattern=r"\S")
    contact: str | None = Field(default=None, min_length=1, max_length=200)
    channel: Literal["web", "window", "hotline"] = "web"


class AnswerIn(BaseModel):
    """POST /api/inquiries/{id}/answer."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_TEXT, pattern=r"\S")
    outcome: Literal["upheld", "partly_upheld", "not_upheld"] | None = None


@router.post("", status_code=201)
async def file_inquiry(body: InquiryIn, actor: MaybeUser, inquiries: Service, request: Request) -> JSONResponse:
    """File a consultation (anyone; a contact is required without login) or a complaint (the
    applicant about their own case). Without login the answer carries an `access_key` for reading it,
    and filings are limited per address (429 with Retry-After)."""
    if actor is None:
        request.app.state.inquiry_limiter.hit(request.client.host if request.client else None)
    return JSONResponse(await inquiries.file(actor, body.model_dump()), status_code=201)


@router.get("")
def list_inquiries(actor: CurrentUser, inquiries: Service,
                   scope: Annotated[str, Query(max_length=20)] = "mine",
                   status: Annotated[Literal["open", "answered"] | None, Query()] = None,
                   limit: int = Query(50, ge=1, le=500), offset: Offset = 0) -> dict:
    """`mine`: what the caller asked; `department`: what the caller's department must answer."""
    return inquiries.list(actor, scope, status, limit, offset)


@router.get("/{inquiry_id}")
def get_inquiry(inquiry_id: InquiryId, actor: MaybeUser, inquiries: Service,
                key: Annotated[str | None, Query(max_length=64)] = None) -> dict:
    """One inquiry with its answer: to its asker (or whoever holds its `access_key`) and its department."""
    return inquiries.get(actor, inquiry_id, key)


@router.post("/{inquiry_id}/answer", openapi_extra=body_doc(AnswerIn))
async def answer_inquiry(inquiry_id: InquiryId, request: Request, actor: CurrentUser, inquiries: Service) -> dict:
    """The department's answer (its staff); a complaint's outcome is recorded on its case. 404 and
    403 come before a bad body's 422 (contract order)."""
    await asyncio.to_thread(inquiries.may_answer, actor, inquiry_id)
    body = await json_body(request, AnswerIn)
    return await inquiries.answer(actor, inquiry_id, body.text, body.outcome)

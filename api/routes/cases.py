"""Cases: apply, read, search, act. (The full history is in api/routes/audit.py.)"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from api.bounds import CaseId, Offset, Text, one_of
from api.copies import copied_tasks
from api.deps import CasesDep, CurrentUser, SessionDep
from banjian import inbox
from banjian.action_data import MAX_COMMENT
from banjian.enums import ItemKind, Status, WarningLevel
from banjian.json_limits import loads

router = APIRouter(prefix="/api", tags=["cases"])


class ApplicantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["citizen", "organisation"]
    id_number: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)


class AgentIn(BaseModel):
    """Who files for the applicant (经办人 / 委托代理人); its rules are checked by `banjian.agents`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=1, max_length=32)
    phone: str | None = Field(default=None, max_length=20)


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    file_id: str | None = Field(default=None, max_length=128)
    licence_id: str | None = Field(default=None, max_length=200)


#: materials one application may list: a bundle's whole set is a few dozen; more is no application
MAX_APPLICATION_MATERIALS = 500


class Application(BaseModel):
    """POST /api/cases."""

    model_config = ConfigDict(extra="forbid")
    item_code: str = Field(min_length=1, max_length=64)
    applicant: ApplicantIn
    agent: AgentIn | None = None
    form: dict[str, Any] = {}
    materials: list[MaterialIn] = Field(default=[], max_length=MAX_APPLICATION_MATERIALS)
    channel: Literal["web", "window", "mobile"] = "web"
    idempotency_key: str | None = Field(default=None, max_length=128)
    pre_review: bool = False


class ActionBody(BaseModel):
    """POST /api/cases/{id}/actions."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)
    data: dict[str, Any] = {}

    @field_validator("data", mode="before")
    @classmethod
    def _null_is_no_data(cls, value: Any) -> Any:
        """`"data": null` is what many clients send for an optional object left out: no data."""
        return {} if value is None else value


@router.post("/cases", status_code=201)
async def apply(body: Application, actor: CurrentUser, cases: CasesDep) -> JSONResponse:
    """Apply for an item (an applicant as themself, or a clerk at the window on someone's behalf)."""
    case, created = await cases.submit(actor, body.model_dump())
    return JSONResponse(case, status_code=201 if created else 200)


@router.get("/cases")
def search(actor: CurrentUser, cases: CasesDep, status: Text = None, item_code: Text = None,
           department: Text = None, warning: Text = None, applicant: Text = None,
           q: Text = None, kind: Text = None, limit: int = Query(50, ge=1, le=500),
           offset: Offset = 0) -> dict:
    """Cases the caller may see, newest first. `status`, `warning` and `kind` take only their fixed
    values (422 `invalid_choice` listing them otherwise); an empty value is no filter."""
    status = one_of("status", status, (s.value for s in Status))
    warning = one_of("warning", warning, (w.value for w in WarningLevel))
    kind = one_of("kind", kind, (k.value for k in ItemKind))
    return cases.search(actor, status, item_code, department, warning, applicant, q, kind, limit, offset)


@router.get("/cases/by-number/{case_no}")
def get_case_by_number(case_no: Annotated[str, Path(min_length=1, max_length=80)], actor: CurrentUser,
                       cases: CasesDep) -> dict:
    """The case with this unified case number (统一受理号码); seen by those who may see the case."""
    return cases.get_by_number(actor, case_no)


@router.get("/cases/{case_id}")
def get_case(case_id: CaseId, actor: CurrentUser, cases: CasesDep) -> dict:
    return cases.get(actor, case_id)


@router.post("/cases/{case_id}/actions", openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": ActionBody.model_json_schema()}}}})
async def act(case_id: CaseId, request: Request, actor: CurrentUser, cases: CasesDep,
              x_request_id: str | None = Header(default=None, max_length=200)) -> dict:
    """Post an action (body: `ActionBody`); checked 404 → 403 → 409 → 422 before anything changes,
    a malformed body too: it is read here, not by the framework, so that its 422 comes after the
    checks the contract puts first. A retry with the same `X-Request-Id` header is applied once."""
    payload: Any = None
    try:
        payload = loads(await request.body() or b"null")
        body = ActionBody.model_validate(payload)
    except ValidationError as e:
        await cases.refuse_before_422(actor, case_id, payload)
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False)]) \
            from None
    except ValueError as e:  # not JSON at all
        await cases.refuse_before_422(actor, case_id, None)
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {e}",
                                       "input": {}}]) from None
    return await cases.act(actor, case_id, body.action, body.comment, body.data, request_id=x_request_id)


@router.get("/tasks")
def tasks(actor: CurrentUser, cases: CasesDep, session: SessionDep,
          scope: Annotated[str, Query(max_length=40)] = "mine",
          limit: int = Query(100, ge=1, le=1000), offset: Offset = 0,
          item_code: Annotated[str | None, Query(max_length=64)] = None,
          warning: Annotated[str | None, Query(max_length=10)] = None,
          status: Annotated[str | None, Query(max_length=40)] = None) -> dict:
    """The caller's inbox, the most urgent warning first (red, yellow, notice, none), then earliest due. `scope=copied`: open cases copied to the caller.
    `item_code`, `warning` (red, yellow, notice or none) and `status` filter the inbox."""
    found = copied_tasks(session, actor, limit, offset) if scope == "copied" else \
        cases.tasks(actor, scope, limit, offset, item_code=item_code or None, warning=warning or None,
                    status=status or None)
    inbox.with_applicants(session, found["items"])
    return found

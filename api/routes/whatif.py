"""What-if simulation of a draft (试运行): N cases of the draft on the real workflow, in virtual time."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.bounds import DraftId, ItemCode
from api.deps import CurrentUser
from api.routes.authoring import DraftsDep
from api.validation import problem
from banjian.errors import Invalid
from banjian.json_limits import loads
from banjian.whatif import MAX_CASES, RULES, Profile
from services.whatif_run import simulate

router = APIRouter(prefix="/api/items", tags=["items"])


class SimulateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # strict: `true` or "5" is not a number of cases
    cases: int = Field(default=100, ge=1, le=MAX_CASES, strict=True, description="how many cases to simulate")
    profile: Profile = Field(default_factory=Profile)


def invalid(e: ValidationError) -> Invalid:
    """A pydantic error as the house's 422 (the first problem, with its path), worded in Chinese
    and English: a profile's own rules (`banjian.whatif.RULES`), else pydantic's (`api.validation`)."""
    first = e.errors()[0]
    path = ".".join(str(p) for p in first["loc"])
    if first["type"] in RULES:
        zh, en = RULES[first["type"]]
        zh, en = f"字段 {path}：{zh}" if path else zh, f"field `{path}`: {en}" if path else en
    else:
        said = problem({**first, "loc": ("body", *first["loc"])})
        zh, en = said["message"], said["message_en"]
    return Invalid("invalid_profile" if path.startswith("profile") else "invalid_body",
                   f"试运行参数有误：{zh}", en, field=path or None)


def simulate_body(raw: bytes) -> SimulateBody:
    try:
        data: Any = loads(raw or b"{}")
    except ValueError as e:
        raise Invalid("unparsable", f"请求体无法解析：{e}", f"the body cannot be parsed: {e}", field="") from None
    try:
        return SimulateBody.model_validate(data)
    except ValidationError as e:
        raise invalid(e) from None


@router.post("/{code}/drafts/{draft_id}/simulate",
             openapi_extra={"requestBody": {"required": False, "content": {
                 "application/json": {"schema": SimulateBody.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
async def simulate_draft(code: ItemCode, draft_id: DraftId, request: Request, actor: CurrentUser,
                         drafts: DraftsDep) -> dict:
    """Run N cases of the draft forward in virtual time with a profile of how long each step takes
    → `{"cases", "on_time_rate", "warnings", "working_days": {"p50", "p90"}, "by_step": [...]}`.
    422 for a draft with problems or a bad profile; 503 when Temporal cannot skip time."""
    drafts.get(actor, code, draft_id)  # 404 / 403 before the body is read (422)
    body = simulate_body(await request.body())
    item = drafts.definition(actor, code, draft_id)
    state = request.app.state
    return await simulate(state.client, state.settings, state.sessions, item, body.cases, body.profile)

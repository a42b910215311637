"""Item authoring: drafts (save, read, list, publish), the flow diagram of a version and of a draft."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import col, select

from api.bodies import definition_body
from api.bounds import DraftId, ItemCode
from api.deps import CatalogDep, CurrentUser
from api.diagram import DiagramError, item_diagram
from api.routes.items import item_detail
from banjian.catalog import Catalog
from banjian.contracts import Actor
from banjian.db import Department, Item
from banjian.drafts import Drafts
from banjian.enums import Role
from banjian.errors import DomainError
from banjian.items.schema import ItemDefinition
from banjian.rules import authorise_authoring

router = APIRouter(prefix="/api/items", tags=["items"])


async def get_drafts(request: Request) -> Drafts:
    return Drafts(request.app.state.catalog, request.app.state.sessions)


DraftsDep = Annotated[Drafts, Depends(get_drafts)]


def may_author(actor: Actor) -> None:
    """Only admins and authors keep drafts (which department's items: checked with the draft)."""
    if not actor.has(Role.ADMIN, Role.AUTHOR):
        authorise_authoring(actor, None)  # raises forbidden_role


@router.post("/{code}/drafts", status_code=201)
async def create_draft(code: ItemCode, request: Request, actor: CurrentUser, drafts: DraftsDep) -> dict:
    """Save a draft (admin or the department's `author`): stored with every problem it has, never
    used by new cases. → `{"draft_id", "version": null, "problems": [...], ...}`"""
    may_author(actor)  # 403 before the body is read (422)
    data = await definition_body(request)
    return drafts.create(actor, code, data)


@router.get("/{code}/drafts")
def list_drafts(code: ItemCode, actor: CurrentUser, drafts: DraftsDep) -> dict:
    """The item's drafts, newest first → `{"items": [...], "total"}`."""
    return drafts.list(actor, code)


@router.get("/{code}/drafts/{draft_id}")
def get_draft(code: ItemCode, draft_id: DraftId, actor: CurrentUser, drafts: DraftsDep) -> dict:
    return drafts.get(actor, code, draft_id)


@router.put("/{code}/drafts/{draft_id}")
async def update_draft(code: ItemCode, draft_id: DraftId, request: Request, actor: CurrentUser, drafts: DraftsDep) -> dict:
    """Replace a draft's definition; validated again. A published draft cannot change (409). With
    `If-Match: <revision>` (the draft's `revision` as last read), a draft saved by someone else since
    is a 409 `draft_changed` and is left as it is."""
    drafts.get(actor, code, draft_id)  # 404 / 403 before the body is read (422)
    data = await definition_body(request)
    expected = request.headers.get("if-match")
    return drafts.update(actor, code, draft_id, data, expected.strip().strip('"')[:64] if expected else None)


@router.delete("/{code}/drafts/{draft_id}", status_code=204, response_class=Response)
def delete_draft(code: ItemCode, draft_id: DraftId, actor: CurrentUser, drafts: DraftsDep) -> Response:
    """Delete an unpublished draft (admin or the department's author) → 204; 404 unknown draft,
    409 `draft_published` once published. Recorded in the admin log (`item.draft_delete`)."""
    drafts.delete(actor, code, draft_id)  # 404 before 403, as every draft route
    return Response(status_code=204)


@router.post("/{code}/drafts/{draft_id}/publish", status_code=201)
def publish_draft(code: ItemCode, draft_id: DraftId, actor: CurrentUser, drafts: DraftsDep, catalog: CatalogDep) -> JSONResponse:
    """Publish the draft as the item's next version → 201 the new version (as GET /api/items/{code});
    422 listing its problems; 409 when already published or another publish won."""
    definition = drafts.publish(actor, code, draft_id)
    return JSONResponse(item_detail(catalog, definition), status_code=201)


SVG = {200: {"content": {"image/svg+xml": {}}, "description": "the flow as SVG"}}


def _svg(catalog: Catalog, item: ItemDefinition, caption: str | None = None) -> Response:
    """The flow of `item` as an SVG response, its lanes named by the departments table."""
    with catalog.session_factory() as session:
        names = {d.code: d.name for d in session.exec(select(Department)).all()}
        members = {i.code: i.name for i in session.exec(select(Item).where(col(Item.code).in_(item.members))).all()} \
            if item.members else {}
    try:
        svg = item_diagram(item, names, caption, members)
    except DiagramError as e:
        raise DomainError("diagram_unavailable", f"无法生成流程图：{e}", f"the diagram cannot be drawn: {e}",
                          status=503) from None
    return Response(svg, media_type="image/svg+xml")


@router.get("/{code}/diagram", response_class=Response, responses=SVG)
def diagram(code: ItemCode, _: CurrentUser, catalog: CatalogDep,
            version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> Response:
    """The flow of a version (default: the current one) as an SVG diagram drawn by Graphviz `dot`."""
    item = catalog.version(code, version) if version is not None else catalog.current(code)
    return _svg(catalog, item)


@router.get("/{code}/drafts/{draft_id}/diagram", response_class=Response, responses=SVG)
def draft_diagram(code: ItemCode, draft_id: DraftId, actor: CurrentUser, drafts: DraftsDep,
                  catalog: CatalogDep) -> Response:
    """The flow of a draft as an SVG diagram, for those who may read the draft (404 / 403 as for the
    draft). A draft that breaks only cross-field rules is drawn; one the schema cannot read is a 422
    listing its problems. The title says 草稿 (or the version it was published as)."""
    item, draft = drafts.drawable(actor, code, draft_id)
    published = draft["version"]
    return _svg(catalog, item, f"第 {published} 版" if published else f"草稿 {draft_id[:8]}，未发布")

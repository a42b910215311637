"""The event feed's subscribers over HTTP (admin): add or replace, pause, resume, remove, status,
and the parked events (listed, re-queued).
Every change is recorded in the admin log. See banjian/feed.py and docs/api.md."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminUser, CurrentUser, SessionDep, require
from banjian import feed
from banjian.adminlog import record_admin
from banjian.enums import Role

router = APIRouter(prefix="/api", tags=["feed"])
Name = Annotated[str, Path(max_length=64)]


class SubscriberBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000)
    secret: str | None = Field(default=None, max_length=200)
    #: only the events of these departments' cases (a department's own system); absent: every event
    departments: list[Annotated[str, Field(max_length=32)]] | None = Field(default=None, max_length=feed.MAX_DEPARTMENTS)


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/subscribers")
def list_subscribers(actor: CurrentUser, session: SessionDep) -> dict:
    """Every subscriber with its counts (admin)."""
    require(actor, Role.ADMIN)
    return {"items": [feed.status(session, s.name) for s in feed.list_subscribers(session)]}


@router.put("/subscribers/{name}")
async def put_subscriber(name: Name, request: Request, actor: AdminUser, body: SubscriberBody) -> dict:
    """Add a subscriber or replace one of that name (admin); answers the secret (generated when
    not given): the only time it is shown."""
    sessions = request.app.state.sessions
    url = feed.clean_url(body.url)
    secret = feed.add_subscriber(sessions, name, url, body.secret, body.departments)
    with sessions() as session:
        departments = feed.status(session, name)["departments"]
    record_admin(sessions, actor.username, "subscriber.add", name, {"url": url, "departments": departments},
                 _address(request))
    await request.app.state.feed.ensure(name)
    return {"name": name, "url": url, "secret": secret, "departments": departments}


@router.post("/subscribers/{name}/pause")
def pause(name: Name, request: Request, actor: CurrentUser) -> dict:
    """Stop sending to a subscriber (events keep queueing) (admin)."""
    return _set_paused(name, request, actor, True)


@router.post("/subscribers/{name}/resume")
def resume(name: Name, request: Request, actor: CurrentUser) -> dict:
    """Send again, parked events included (admin)."""
    return _set_paused(name, request, actor, False)


def _set_paused(name: str, request: Request, actor, paused: bool) -> dict:
    require(actor, Role.ADMIN)
    sessions = request.app.state.sessions
    feed.set_paused(sessions, name, paused)
    record_admin(sessions, actor.username, "subscriber.pause" if paused else "subscriber.resume", name, {},
                 _address(request))
    with sessions() as session:
        return feed.status(session, name)


@router.delete("/subscribers/{name}")
def remove(name: Name, request: Request, actor: CurrentUser) -> dict:
    """Remove a subscriber and its queue (admin)."""
    require(actor, Role.ADMIN)
    sessions = request.app.state.sessions
    feed.remove_subscriber(sessions, name)
    record_admin(sessions, actor.username, "subscriber.remove", name, {}, _address(request))
    return {"name": name, "removed": True}


@router.get("/subscribers/{name}/status")
def status(name: Name, actor: CurrentUser, session: SessionDep) -> dict:
    """`{"pending", "delivered", "last_error"}` and `parked`, `paused` (admins, supervisors, auditors)."""
    require(actor, Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR)
    return feed.status(session, name)


@router.get("/subscribers/{name}/parked")
def list_parked(name: Name, actor: CurrentUser, session: SessionDep,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict:
    """`{"items": [{"event_id", "case_id", "case_no", "seq", "attempts", "last_error", "created_at"}],
    "total"}`: the events the far end refused with a 4xx, waiting for an operator (admin)."""
    require(actor, Role.ADMIN)
    return feed.parked(session, name, limit, offset)


@router.post("/subscribers/{name}/retry")
def retry_parked(name: Name, request: Request, actor: CurrentUser) -> dict:
    """Put every parked event back in the queue, paused or not (admin); answers `{"requeued"}` and
    the status."""
    require(actor, Role.ADMIN)
    sessions = request.app.state.sessions
    count = feed.requeue_parked(sessions, name)
    record_admin(sessions, actor.username, "subscriber.retry", name, {"requeued": count}, _address(request))
    with sessions() as session:
        return {"requeued": count, **feed.status(session, name)}

"""The web pages (Chinese, server-rendered, working without JavaScript): one router per audience.

`install(app)` mounts the static files and the routers, and turns errors on page routes into
Chinese error pages (the JSON API keeps its error bodies)."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.routes.pages import (
    admin,
    apply,
    audit_reads,
    booking,
    case_documents,
    cases,
    chain_heads,
    consult,
    draft_deletion,
    front_desk,
    front_office,
    item_booking,
    item_changes,
    item_drafts,
    joint_list,
    licence_audit,
    licences,
    notices,
    oversight,
    public,
    rectifications,
    staff_licences,
    subscribers,
    supervision,
)

STATIC = Path(__file__).resolve().parents[2] / "static"
routers = [public.router, apply.router, cases.router, oversight.router, admin.router, licences.router,
           supervision.router, item_drafts.router, item_changes.router, front_office.router, booking.router,
           front_desk.router, rectifications.router, staff_licences.router, consult.router,
           item_booking.router, case_documents.router, notices.router, draft_deletion.router,
           licence_audit.router, joint_list.router, subscribers.router, audit_reads.router,
           chain_heads.router]


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for r in routers:
        app.include_router(r)

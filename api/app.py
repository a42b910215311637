"""The FastAPI application: `create_app(settings)` wires the database, Temporal and the routers."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api import errors, openapi
from api.feed import FeedStarter
from api.feed import running as feed_running
from api.middleware import HeadAsGet, PathCORS, SecurityHeaders
from api.nul_guard import RefuseNul
from api.observability import Observe
from api.routes import (
    admin,
    appointments,
    audit,
    auth,
    authoring,
    calendar,
    cases,
    codec,
    files,
    health,
    inquiries,
    item_changes,
    items,
    licence_audit,
    licences,
    metrics,
    notices,
    pages,
    payments,
    public,
    rectifications,
    simulation,
    subscribers,
    supervision,
    version_moves,
    whatif,
)
from api.service import CaseService
from api.throttle import AddressLimiter
from banjian.audit import seal_forever
from banjian.auth import Tokens
from banjian.catalog import Catalog
from banjian.db import make_engine, session_factory
from banjian.logins import LoginGuard
from banjian.migrate import upgrade
from banjian.production import refusal
from banjian.settings import Settings
from banjian.storage import make_store
from banjian.tracing import instrument_app
from banjian.tracing import tracer_provider as tracer_provider_for


def create_app(settings: Settings | None = None, client: Client | None = None, engine=None,
               ready: bool = True, tracer_provider=None) -> FastAPI:
    """The API. `client` and `engine` may be handed in (tests, `banjian up`); otherwise they are
    made from the settings at start-up. `ready=False` keeps /api/health at 503 until set.
    `tracer_provider` (default: from the settings; None while tracing is off) traces requests."""
    settings = settings or Settings()
    reason = refusal(settings)
    if reason:  # `banjian api`/`up` say so in one line before; this guards other ways of serving the app
        raise RuntimeError(reason)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal client, engine
        if engine is None:
            engine = make_engine(settings.db_url, **settings.pool_options("api"))
            upgrade(engine)
        if client is None:
            from banjian.temporal import connect

            client = await connect(settings)
        own_engine = engine

        sessions = session_factory(own_engine)

        catalog = Catalog(sessions)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.catalog = catalog
        app.state.client = client
        app.state.tokens = Tokens(settings.secret_key(), settings.token_ttl_seconds)
        app.state.logins = LoginGuard(sessions, settings.login_window_seconds, settings.login_limit,
                                      settings.lockout_after, settings.lockout_seconds)
        app.state.verify_limiter = AddressLimiter(settings.verify_limit, settings.verify_window_seconds)
        app.state.inquiry_limiter = AddressLimiter(settings.inquiry_limit, settings.inquiry_window_seconds)
        app.state.cases = CaseService(settings, client, sessions, catalog)
        app.state.actors = {}
        app.state.files = make_store(settings)
        if not hasattr(app.state, "ready"):
            app.state.ready = ready
        # the daily chain heads over all cases' records, sealed and signed once each day is over
        sealer = asyncio.create_task(seal_forever(sessions, settings.data_dir))
        app.state.feed = FeedStarter(client, sessions, settings)
        try:
            async with feed_running(app.state.feed):  # one delivery workflow per feed subscriber
                yield
        finally:
            sealer.cancel()

    app = FastAPI(title="banjian 办件", version="0.1.0", lifespan=lifespan,
                  description="互联网+政务服务 approval system: cases as durable Temporal workflows.")
    errors.install(app)
    openapi.install(app)
    app.add_middleware(HeadAsGet)  # innermost: the access log and the metrics keep the caller's HEAD
    app.add_middleware(PathCORS, prefix="/api/codec", origins=settings.codec_origin_list)
    app.add_middleware(RefuseNul)  # inside Observe and the security headers: counted, logged and headed
    app.add_middleware(Observe)
    app.add_middleware(SecurityHeaders, hsts=settings.hsts)  # outermost: on every response
    instrument_app(app, tracer_provider or tracer_provider_for(settings))

    for r in (health, auth, items, authoring, item_changes, cases, audit, calendar, simulation, codec, admin, metrics, files, whatif,
              version_moves, subscribers, licences, supervision, public, inquiries, appointments, payments,
              rectifications, notices, licence_audit):
        app.include_router(r.router)
    pages.install(app)
    return app

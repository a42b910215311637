"""The FastAPI application: `create_app(settings)` wires the database, Temporal and the routers."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from temporalio.client import Client

from api import errors
from api.routes import audit, auth, calendar, cases, health, items, simulation
from api.service import CaseService
from banjian.audit import seal_forever
from banjian.auth import Tokens
from banjian.catalog import Catalog
from banjian.db import make_engine
from banjian.migrate import upgrade
from banjian.settings import Settings


def create_app(settings: Settings | None = None, client: Client | None = None, engine=None,
               ready: bool = True) -> FastAPI:
    """The API. `client` and `engine` may be handed in (tests, `banjian up`); otherwise they are
    made from the settings at start-up. `ready=False` keeps /api/health at 503 until set."""
    settings = settings or Settings()

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

        def sessions() -> Session:
            return Session(own_engine, expire_on_commit=False)

        catalog = Catalog(sessions)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.catalog = catalog
        app.state.client = client
        app.state.tokens = Tokens(settings.secret_key(), settings.token_ttl_seconds)
        app.state.cases = CaseService(settings, client, sessions, catalog)
        app.state.actors = {}
        if not hasattr(app.state, "ready"):
            app.state.ready = ready
        # the daily chain heads over all cases' records, sealed and signed once each day is over
        sealer = asyncio.create_task(seal_forever(sessions, settings.data_dir))
        try:
            yield
        finally:
            sealer.cancel()

    app = FastAPI(title="banjian 办件", version="0.1.0", lifespan=lifespan,
                  description="互联网+政务服务 approval system: cases as durable Temporal workflows.")
    errors.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    for r in (health, auth, items, cases, audit, calendar, simulation):
        app.include_router(r.router)
    return app

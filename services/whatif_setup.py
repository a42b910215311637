"""The setting of a what-if run (`services.whatif_run`): the Temporal namespace its cases run in
and the scratch read model its worker records them in; nothing real is touched."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from sqlmodel import Session
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from banjian.catalog import Catalog
from banjian.db import CalendarYear, make_engine, session_factory
from banjian.errors import Unavailable
from banjian.items.schema import ItemDefinition
from banjian.migrate import upgrade
from banjian.seed import ensure_departments
from banjian.settings import Settings

NAMESPACE_WAIT = 30.0  # seconds a freshly registered namespace may take to be served


def whatif_namespace(settings: Settings) -> str:
    return f"{settings.namespace}-whatif"


class TimeSkippingOff(Unavailable):
    pass


def time_skipping_off() -> TimeSkippingOff:
    return TimeSkippingOff("time_skipping_unavailable",
                           "Temporal 服务未开启按工作流时间跳跃（frontend.WorkflowTimeSkippingEnabled），无法试运行",
                           "the Temporal server does not allow per-workflow time skipping "
                           "(frontend.WorkflowTimeSkippingEnabled=true): simulation is unavailable")


async def namespace_client(client: Client, namespace: str) -> Client:
    """A client of the what-if namespace, registered when missing (the embedded server has it)."""
    transient = (RPCStatusCode.CANCELLED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
    for attempt in range(4):
        try:
            await client.workflow_service.register_namespace(RegisterNamespaceRequest(
                namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)))
        except RPCError as e:  # exists already; or this client may not register (then it must exist)
            if e.status in transient and attempt < 3:  # a busy server: ask again shortly
                await asyncio.sleep(0.5 * 2 ** attempt)
                continue
            if e.status not in (RPCStatusCode.ALREADY_EXISTS, RPCStatusCode.PERMISSION_DENIED):
                raise
        break
    config = client.config()
    config["namespace"] = namespace
    return Client(**config)


def scratch(item: ItemDefinition, calendar_rows: list[CalendarYear], folder: Path,
             members: list[ItemDefinition] | None = None) -> Callable[[], Session]:
    """A scratch read model: schema, departments, the draft as its version (and a bundle's member
    items as published), the real calendar."""
    engine = make_engine(f"sqlite:///{folder / 'whatif.db'}")
    upgrade(engine)

    sessions = session_factory(engine)

    ensure_departments(sessions)
    for definition in [*(members or []), item]:
        Catalog(sessions).store(definition, created_by="whatif")
    with sessions() as session:
        for row in calendar_rows:
            session.add(CalendarYear(year=row.year, schedule=row.schedule, loaded_at=row.loaded_at,
                                     loaded_by=row.loaded_by))
        session.commit()
    sessions.engine = engine  # type: ignore[attr-defined]
    return sessions

"""Shared fixtures: one Temporal dev server with time skipping per session, a worker on a random
task queue, the read model on SQLite (and PostgreSQL where a test asks), the API in process.

Workflows are started with a plain client (no time-skipping stamp), so their clocks move only
when a test fast-forwards them — exactly as the simulation clock of `banjian up` does.
"""
from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from banjian import form_values
from banjian.auth import add_user
from banjian.codec import data_converter
from banjian.db import make_engine, session_factory
from banjian.ids import make_citizen_id, make_credit_code
from banjian.items.schema import FormField
from banjian.seed import ensure_base
from banjian.settings import Settings
from banjian.temporal import TIME_SKIPPING_FLAG, temporal_cli
from worker import build_worker

PASSWORD = "test-password-1"
# Payload encryption in tests: a fixed key ring (two keys, the first encrypts) shared by the
# environment, the client and every stack's settings.
TEST_PAYLOAD_KEYS = "test2:00112233445566778899aabbccddeeff,test1:0f1e2d3c4b5a69788796a5b4c3d2e1f0"
TEST_CONVERTER = data_converter(Settings(payload_keys=TEST_PAYLOAD_KEYS))
PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=shutil.which("temporal") or temporal_cli(),
        dev_server_extra_args=TIME_SKIPPING_FLAG,
        data_converter=TEST_CONVERTER,
    ) as env:
        yield env


@pytest.fixture(scope="session")
async def client(temporal_env: WorkflowEnvironment) -> Client:
    """A plain client: workflows it starts keep real time until a test fast-forwards them."""
    target = temporal_env.client.service_client.config.target_host
    return await Client.connect(target, data_converter=TEST_CONVERTER)


def new_postgres_url() -> str:
    """A fresh, empty PostgreSQL database on the local server."""
    name = f"banjian_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"


def drop_postgres(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Stack:
    """The system in process: settings, engine, client, the API as an httpx client."""

    settings: Settings
    engine: Any
    client: Client
    env: WorkflowEnvironment
    http: httpx.AsyncClient
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def sessions(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def user(self, username: str, *roles: str, department: str | None = None, id_number: str | None = None,
             name: str | None = None) -> User:
        add_user(self.sessions, username, PASSWORD, list(roles), department, id_number, name or username)
        return User(self, username)

    def applicant(self, username: str | None = None, organisation: bool = False) -> User:
        username = username or f"app-{uuid.uuid4().hex[:8]}"
        n = uuid.uuid4().int
        idn = (make_credit_code(f"9133010{n % 10**9:09d}") if organisation
               else make_citizen_id("330106", date(1980 + n % 30, 1 + n % 12, 1 + n % 28), n % 999))
        return self.user(username, "applicant", id_number=idn, name=f"申请人{username}")

    def staff(self, department: str, role: str) -> User:
        return self.user(f"{department}-{role}-{uuid.uuid4().hex[:6]}", role, department=department)

    async def advance(self, case_id: str, days: float) -> dict:
        """Advance a case's clock through the simulation route (as an admin)."""
        admin = self.tokens.get("admin") or await self._admin()
        r = await self.http.post(f"/api/simulation/cases/{case_id}/advance", json={"days": days},
                                 headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200, r.text
        return r.json()

    async def _admin(self) -> str:
        u = self.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
        self.tokens["admin"] = await u.token()
        return self.tokens["admin"]


class User:
    """A user of the in-process API: `await u.get(...)`, `await u.act(case, action, ...)`."""

    def __init__(self, stack: Stack, username: str) -> None:
        self.stack, self.username = stack, username
        self._token: str | None = None

    async def token(self) -> str:
        if self._token is None:
            r = await self.stack.http.post("/api/auth/token", data={"username": self.username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._token = r.json()["access_token"]
        return self._token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    async def get(self, path: str, **kw) -> httpx.Response:
        return await self.stack.http.get(path, headers=await self.headers(), **kw)

    async def post(self, path: str, json: Any = None, **kw) -> httpx.Response:
        return await self.stack.http.post(path, json=json, headers=await self.headers(), **kw)

    async def put(self, path: str, json: Any = None, **kw) -> httpx.Response:
        return await self.stack.http.put(path, json=json, headers=await self.headers(), **kw)

    async def act(self, case_id: str, action: str, comment: str | None = None, **data) -> httpx.Response:
        body: dict[str, Any] = {"action": action}
        if comment is not None:
            body["comment"] = comment
        if data:
            body["data"] = data
        return await self.post(f"/api/cases/{case_id}/actions", json=body)

    async def ok(self, case_id: str, action: str, comment: str | None = None, **data) -> dict:
        r = await self.act(case_id, action, comment, **data)
        assert r.status_code == 200, f"{action} by {self.username}: {r.status_code} {r.text}"
        return r.json()

    async def case(self, case_id: str) -> dict:
        r = await self.get(f"/api/cases/{case_id}")
        assert r.status_code == 200, r.text
        return r.json()

    async def apply(self, item_code: str, **over) -> httpx.Response:
        return await self.post("/api/cases", json=await application(self, item_code, **over))


class People:
    """Users made once per test module (each new user costs a password hash and a login):
    `people.staff(dept, role)`, `people.applicant(n)`, `people.admin`, and `people.clerk` …
    for the staff of `amr`."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.users = stack, {}

    def staff(self, department: str, role: str) -> User:
        if (department, role) not in self.users:
            self.users[department, role] = self.stack.staff(department, role)
        return self.users[department, role]

    def applicant(self, n: int = 0) -> User:
        if ("applicant", n) not in self.users:
            self.users["applicant", n] = self.stack.applicant()
        return self.users["applicant", n]

    @property
    def admin(self) -> User:
        if "admin" not in self.users:
            self.users["admin"] = self.stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
        return self.users["admin"]

    def __getattr__(self, role: str) -> User:
        if role in ("clerk", "handler", "approver", "head"):
            return self.staff("amr", role)
        raise AttributeError(role)


@pytest.fixture
async def browser(stack) -> AsyncIterator[Any]:
    """A logged-out page session (cookies, CSRF tokens) on the shared stack (tests/pages_client.py)."""
    from tests.pages_client import PageClient  # it imports this module

    c = PageClient(stack)
    yield c
    await c.close()


@pytest.fixture(scope="module")
def people(stack) -> People:
    return People(stack)


async def application(user: User, item_code: str, **over) -> dict[str, Any]:
    """A complete application for `item_code` as `user` (every required field and material)."""
    item = (await user.get(f"/api/items/{item_code}")).json()
    me = (await user.get("/api/me")).json()
    form = {}
    day = form_values.today()
    for f in item["form"]:
        if f["required"]:
            value = {"text": "测试", "number": 1, "boolean": True, "date": "2026-12-01",
                     "choice": (f.get("choices") or [""])[0]}[f["type"]]
            field = FormField.model_validate(f)  # a value the field's bounds refuse gives way to one they take
            form[f["name"]] = value if form_values.refusal(field, value, day) is None else \
                form_values.sample_value(field, day, text="测试")
    body = {"item_code": item_code,
            "applicant": {"kind": me["id_kind"] or "citizen", "id_number": me["id_number"],
                          "name": me["display_name"]},
            "form": form, "materials": [{"name": m["name"]} for m in item["materials"] if m["required"]],
            "channel": "web"}
    body.update(over)
    return body


def staff_every_department(engine) -> None:
    """A city whose departments are staffed: one (login-less) user per department and staff role, so
    that definitions posted by tests meet `role_without_staff` whatever ran before them."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from banjian.db import Department
    from banjian.db import User as UserRow
    from banjian.enums import STAFF_ROLES

    with Session(engine) as session:
        for dept in session.exec(select(Department)).all():
            for role in STAFF_ROLES:
                name = f"staff-{dept.code}-{role}"
                if session.get(UserRow, name) is None:
                    session.add(UserRow(username=name, password_hash="!", roles=[str(role)], department=dept.code,
                                        display_name=name, created_at=datetime.now(UTC)))
        session.commit()


def own_serial_range(engine) -> None:
    """Stacks of a test session are separate read models sharing one Temporal server: each draws its
    case serials from a range of its own (a city's read model and Temporal namespace go together,
    so this is a test-only concern: a clash would only make submissions skip ahead, slowly)."""
    import random
    from datetime import datetime, timedelta

    from banjian.db import CaseSequence
    from banjian.timefmt import CHINA

    start = random.randrange(1, 99) * 1_000_000
    today = datetime.now(CHINA).date()
    with Session(engine) as session:
        for day in (today, today + timedelta(days=1)):
            if session.get(CaseSequence, day) is None:
                session.add(CaseSequence(day=day, last=start))
        session.commit()


def own_licence_range(engine) -> None:
    """Likewise for e-licence sequences: a licence's expiry workflow is `licence-{id}`, and ids (type,
    issuer, sequence) drawn from separate read models would clash on the shared Temporal server."""
    import random

    from banjian.catalog import Catalog
    from banjian.db import Department
    from banjian.licence_store import LicenceSequence
    from banjian.licences import issuer_of, type_code_of

    start = random.randrange(1, 99) * 10_000
    with Session(engine) as session:
        for item in Catalog(session_factory(engine)).all_current():
            if item.licence is None:
                continue
            dept = session.get(Department, item.department)
            _, issuer = issuer_of(item.licence, item.implementing_body.model_dump(mode="json"), item.department,
                                  dept.name if dept else None, dept.credit_code if dept else None)
            type_code = type_code_of(item.licence)
            if not session.exec(select(LicenceSequence).where(LicenceSequence.type_code == type_code,
                                                              LicenceSequence.issuer_code == issuer)).first():
                session.add(LicenceSequence(type_code=type_code, issuer_code=issuer, last=start))
                session.flush()
        session.commit()


async def make_stack(env: WorkflowEnvironment, client: Client, tmp: Path, db_url: str | None,
                     settings_options: dict[str, Any] | None = None, **app_options: Any) -> AsyncIterator[Stack]:
    settings = Settings(data_dir=tmp, database_url=db_url, task_queue=f"banjian-test-{uuid.uuid4().hex[:8]}",
                        simulation=True, temporal_address=client.service_client.config.target_host,
                        payload_keys=TEST_PAYLOAD_KEYS,
                        workflow_sandbox=True,  # tests keep the SDK's determinism checks
                        # the tests file many anonymous consultations from one address (the limit's own
                        # test swaps in a small limiter)
                        **{"inquiry_limit": 100000, **(settings_options or {})})
    engine = make_engine(settings.db_url, **settings.pool_options("api"))
    ensure_base(engine)
    staff_every_department(engine)
    own_serial_range(engine)
    own_licence_range(engine)
    worker_engine = make_engine(settings.db_url, **settings.pool_options("worker"))  # as `banjian up` does
    worker = build_worker(client, settings, worker_engine)
    app = create_app(settings, client=client, engine=engine, **app_options)
    async with worker, app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://banjian.test", timeout=60) as http:
            yield Stack(settings, engine, client, env, http, app)
    engine.dispose()
    worker_engine.dispose()


@pytest.fixture(scope="session")
async def stack(temporal_env, client, tmp_path_factory) -> AsyncIterator[Stack]:
    """The whole system on SQLite, shared by the tests of a session (cases never collide)."""
    async for s in make_stack(temporal_env, client, tmp_path_factory.mktemp("sqlite"), None):
        yield s


@pytest.fixture(scope="session")
async def pg_stack(temporal_env, client, tmp_path_factory) -> AsyncIterator[Stack]:
    """The whole system with its read model on the local PostgreSQL server."""
    url = new_postgres_url()
    try:
        async for s in make_stack(temporal_env, client, tmp_path_factory.mktemp("pg"), url):
            yield s
    finally:
        await asyncio.to_thread(drop_postgres, url)


def json_line(output: str) -> str:
    """A CLI command's JSON answer among its output: in a shared test process other tests' log lines
    (and logging's own error reports about closed streams) may come before or after it."""
    return [line for line in output.strip().splitlines() if line.startswith("{")][-1]

"""Schemathesis over the OpenAPI document, against the in-process app, as admin, staff and
applicant: no answer is a 5xx, and no protected route answers anything but 401 without a token.

A short seeded run here (`make test`); `make fuzz` runs more examples per route
(BANJIAN_FUZZ_EXAMPLES, default 300). The app runs on the test's event loop; Hypothesis
drives it from a worker thread, each request handed to that loop.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.conftest import Stack, application, drop_postgres, make_stack, new_postgres_url

EXAMPLES = int(os.environ.get("BANJIAN_FUZZ_EXAMPLES", "6"))
SEED = int(os.environ.get("BANJIAN_FUZZ_SEED", "20261202"))
#: routes that need no login
PUBLIC = {("GET", "/api/health"), ("POST", "/api/auth/token"),
          ("GET", "/api/licences/{licence_id}/verify"),  # anyone may verify a licence (contract)
          # no login: published results, a consultation, and reading one's answer with its access key
          ("GET", "/api/public/results"), ("POST", "/api/inquiries"), ("GET", "/api/inquiries/{inquiry_id}"),
          ("POST", "/api/payments/callback")}  # signed by the payment provider instead (401 unsigned)


@pytest.fixture(scope="module")
async def fuzz_stack(temporal_env, client, tmp_path_factory) -> AsyncIterator[Stack]:
    """A stack of its own: fuzzed admin calls (calendar loads, item versions) touch nobody else."""
    async for s in make_stack(temporal_env, client, tmp_path_factory.mktemp("fuzz"), None):
        yield s


@pytest.fixture(scope="module")
async def pg_fuzz_stack(temporal_env, client, tmp_path_factory) -> AsyncIterator[Stack]:
    """The same on PostgreSQL, which refuses what SQLite lets by (a text longer than its column, a
    number past its type, a NUL character)."""
    url = await asyncio.to_thread(new_postgres_url)
    try:
        async for s in make_stack(temporal_env, client, tmp_path_factory.mktemp("fuzz-pg"), url):
            yield s
    finally:
        await asyncio.to_thread(drop_postgres, url)


def _request_kwargs(kw: dict[str, Any], auth: dict[str, str] | None) -> dict[str, Any]:
    """A schemathesis case serialised for `requests`, as httpx arguments."""
    headers = {k: v for k, v in (kw.get("headers") or {}).items() if k.lower() != "authorization"}
    headers.update(auth or {})
    if kw.get("cookies"):  # as a header: httpx deprecates per-request cookies
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in kw["cookies"].items())
    out: dict[str, Any] = {"method": kw["method"], "url": kw["url"], "headers": headers, "params": kw.get("params")}
    if "json" in kw:
        out["json"] = kw["json"]
    elif isinstance(kw.get("data"), (bytes, str)):
        out["content"] = kw["data"]
    elif kw.get("data") is not None:
        out["data"] = kw["data"]
    if kw.get("files"):
        out["files"] = kw["files"]
    return out


def _fuzz(loop: asyncio.AbstractEventLoop, http: httpx.AsyncClient, schema: Any,
          roles: dict[str, dict[str, str]]) -> list[str]:
    """Every operation, every role: returns the problems found (5xx, authentication ignored)."""
    problems: list[str] = []

    def send(kwargs: dict[str, Any]) -> httpx.Response:
        return asyncio.run_coroutine_threadsafe(http.request(**kwargs), loop).result(timeout=120)

    def checker(op: Any) -> Any:
        key = (op.method.upper(), op.path)

        @seed(SEED)
        @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(), role=st.sampled_from(sorted(roles)))
        def check(case: Any, role: str) -> None:
            kw = case.as_transport_kwargs(base_url=str(http.base_url).rstrip("/"))
            try:
                r = send(_request_kwargs(kw, roles[role]))
            except Exception as e:  # the in-process transport re-raises what would be a 500
                problems.append(f"{key} as {role}: 500 {e!r} <- {kw.get('url')}")
                return
            if r.status_code >= 500:
                problems.append(f"{key} as {role}: {r.status_code} {r.text[:200]} <- {kw.get('url')}")
            if key not in PUBLIC:
                anon = send(_request_kwargs(kw, None))
                if anon.status_code != 401:
                    problems.append(f"{key} without a token: {anon.status_code} <- {kw.get('url')}")

        return check

    for result in schema.get_all_operations():
        checker(result.ok())()
    return problems


async def _fuzz_stack(stack: Stack) -> list[str]:
    """Fuzz every operation of `stack` as admin, staff and applicant, with a case to find."""
    admin = stack.user("fuzz-admin", "admin")
    staff = stack.user("fuzz-staff", "clerk", "handler", "approver", department="amr")
    applicant = stack.applicant("fuzz-applicant")
    assert (await applicant.apply("food-business-licence")).status_code == 201  # something to find
    roles = {"admin": await admin.headers(), "staff": await staff.headers(), "applicant": await applicant.headers()}
    document = stack.app.openapi()
    schema = schemathesis.openapi.from_dict(document)
    return await asyncio.to_thread(_fuzz, asyncio.get_running_loop(), stack.http, schema, roles)


async def test_openapi_fuzz_finds_no_server_error_and_no_open_route(fuzz_stack):
    problems = await _fuzz_stack(fuzz_stack)
    assert not problems, "\n".join(sorted(set(problems))[:40])


@pytest.mark.postgres
async def test_openapi_fuzz_on_postgresql_finds_no_server_error_and_no_open_route(pg_fuzz_stack):
    problems = await _fuzz_stack(pg_fuzz_stack)
    assert not problems, "\n".join(sorted(set(problems))[:40])


async def test_the_numbers_fuzzing_found_are_bounded(stack, people):
    admin = people.admin
    for path in ("/api/calendar/2405826", "/api/calendar/1948", "/api/calendar/2101",
                 "/api/cases?offset=127107604346221428736", "/api/cases?offset=-1", "/api/cases?limit=100000",
                 "/api/audit/reads?offset=488322695696732888498176", "/api/tasks?offset=99999999999999999999"):
        r = await admin.get(path)
        assert r.status_code == 422, (path, r.status_code, r.text)
    assert (await admin.get("/api/calendar/2026")).status_code == 200
    assert (await admin.get("/api/cases?offset=100000")).status_code == 200
    # a form's numbers too
    applicant = stack.applicant()
    for huge in (10**16, -1e300):
        body = await application(applicant, "food-business-licence")
        body["form"]["business_area"] = huge
        r = await applicant.post("/api/cases", json=body)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "form.business_area", r.text
    assert (await applicant.get("/api/cases")).json()["total"] == 0

"""When a limit is truly reached the API answers 503 with Retry-After and changes nothing:
no free database connection, or Temporal refusing a submission for now. Never a 500."""
from __future__ import annotations

import pytest
from sqlmodel import select

from banjian.db import Case, IdempotencyKey, make_engine, session_factory

ITEM = "food-business-licence"


async def test_no_free_database_connection_is_503_with_retry_after(stack, monkeypatch):
    applicant = stack.applicant()
    case = (await applicant.apply(ITEM)).json()
    await applicant.token()
    tiny = make_engine(stack.settings.db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)

    sessions = session_factory(tiny)

    held = tiny.connect()  # the pool's only connection is busy elsewhere
    try:
        monkeypatch.setattr(stack.app.state.cases, "sessions", sessions)
        monkeypatch.setattr(stack.app.state.cases, "engine", tiny)  # the hot reads' connections (api/reads.py)
        r = await applicant.get(f"/api/cases/{case['id']}")
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "2"
        assert r.json()["detail"]["code"] == "busy"
    finally:
        held.close()
    r = await applicant.get(f"/api/cases/{case['id']}")  # the connection is free again
    assert r.status_code == 200
    tiny.dispose()


class RefusingClient:
    """Temporal answering as it does when a workflow task failed on a saturated worker."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def execute_update_with_start_workflow(self, *args, **kwargs):
        from temporalio.service import RPCError, RPCStatusCode

        raise RPCError("Workflow Task in failed state.", RPCStatusCode.FAILED_PRECONDITION, b"")


async def test_submission_refused_by_a_busy_temporal_is_503_and_a_retry_succeeds(stack, monkeypatch):
    applicant = stack.applicant()
    key = "busy-1"
    body_over = {"idempotency_key": key}
    cases = stack.app.state.cases
    monkeypatch.setattr(cases, "client", RefusingClient(cases.client))
    r = await applicant.apply(ITEM, **body_over)
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] and r.json()["detail"]["code"] == "temporal_busy"
    assert (await applicant.get("/api/cases")).json()["total"] == 0
    monkeypatch.undo()
    # the retry with the same key gets the number drawn for the first attempt, and one case
    with stack.sessions() as session:
        stored = session.get(IdempotencyKey, f"{applicant.username}\x1f{key}")
        assert stored is not None
    r = await applicant.apply(ITEM, **body_over)
    assert r.status_code in (200, 201), r.text
    assert (r.json()["id"], r.json()["case_no"]) == (stored.case_id, stored.case_no)
    with stack.sessions() as session:
        rows = session.exec(select(Case).where(Case.applicant_username == applicant.username)).all()
    assert [c.id for c in rows] == [stored.case_id]


@pytest.mark.postgres
async def test_a_database_that_cannot_be_reached_is_503_with_retry_after(pg_stack, monkeypatch):
    """PostgreSQL down or restarting: reads, actions and pages answered 500 internal_error (and logged a
    traceback each) though nothing is wrong with the request and a retry succeeds once it is back."""
    from tests.pages_client import PageClient
    from tests.test_durability import free_port

    applicant, clerk = pg_stack.applicant(), pg_stack.staff("amr", "clerk")
    case = (await applicant.apply(ITEM)).json()
    await applicant.token()
    await clerk.token()
    dead = make_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port(set())}/banjian", pool_timeout=0.2)
    sessions = session_factory(dead)
    monkeypatch.setattr(pg_stack.app.state.cases, "sessions", sessions)
    monkeypatch.setattr(pg_stack.app.state.cases, "engine", dead)
    state = pg_stack.app.state  # Starlette's State keeps its attributes out of __dict__: no monkeypatch
    kept = state.sessions, state.engine
    state.sessions, state.engine = sessions, dead
    browser = PageClient(pg_stack)
    try:
        for r in (await applicant.get(f"/api/cases/{case['id']}"), await clerk.act(case["id"], "accept")):
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "2"
            assert r.json()["detail"]["code"] == "database_unavailable"
        page = await browser.get("/guide")
        assert page.status_code == 503 and "text/html" in page.headers["content-type"], page.text[:300]
        assert "服务暂不可用" in page.text
        # the metrics still answer (an outage is when they are read), saying the database did not
        scrape = await pg_stack.http.get("/metrics")
        assert scrape.status_code == 200, scrape.text[:300]
        assert "banjian_database_up 0.0" in scrape.text and "banjian_cases{" not in scrape.text
        assert "banjian_http_requests_total" in scrape.text
    finally:
        await browser.close()
        monkeypatch.undo()
        state.sessions, state.engine = kept
        dead.dispose()
    assert (await applicant.case(case["id"]))["status"] == "submitted"  # nothing changed; back once it answers
    assert "banjian_database_up 1.0" in (await pg_stack.http.get("/metrics")).text

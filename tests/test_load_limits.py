"""When a limit is truly reached the API answers 503 with Retry-After and changes nothing:
no free database connection, or Temporal refusing a submission for now. Never a 500."""
from __future__ import annotations

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

"""A subscriber limited to some departments (a department's own system): it takes those departments'
case events only, every one of them, numbered without gaps; bad input is a 422 naming the field."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from banjian.db import make_engine
from banjian.errors import Invalid
from banjian.feed import Delivery, add_subscriber, enqueue_history, status
from banjian.feed_events import case_context
from banjian.seed import ensure_base
from services.cli import app as cli
from tests.conftest import json_line

SECRET = "feed-departments-secret-0123"


class _Entry:
    def __init__(self, case_id: str, seq: int, action: str) -> None:
        self.case_id, self.seq, self.action, self.comment, self.actor, self.role = case_id, seq, action, None, "x", "clerk"
        self.at, self.data = datetime(2026, 12, 2, tzinfo=UTC), {}


def test_a_subscriber_of_some_departments_takes_their_events_only(tmp_path):
    """Every subscriber took every department's events: a department's own system subscribed to the feed
    received other departments' opinions, refusal reasons and staff names."""
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    ensure_base(engine)

    def sessions() -> Session:
        return Session(engine)

    add_subscriber(sessions, "province", "http://127.0.0.1:1/events", SECRET)
    add_subscriber(sessions, "fire-sys", "http://127.0.0.1:2/events", SECRET, ["fire"])
    add_subscriber(sessions, "two", "http://127.0.0.1:3/events", SECRET, ["amr", "fire", "amr"])
    with sessions() as session:
        assert status(session, "province")["departments"] is None
        assert status(session, "fire-sys")["departments"] == ["fire"]
        assert status(session, "two")["departments"] == ["amr", "fire"]
        amr = case_context("food-business-licence", "食品经营许可", "amr")
        fire = case_context("construction-permit-joint", "并联审批", "fire")
        enqueue_history(session, "no-a", "accepted", [_Entry("a", 1, "submitted"), _Entry("a", 2, "accept")], amr, None)
        enqueue_history(session, "no-f", "accepted", [_Entry("f-02", 1, "sub_case_started")], fire, None)
        enqueue_history(session, "no-f", "in_review", [_Entry("f-02", 2, "pass")], fire, None)
        session.commit()
        rows = session.exec(select(Delivery).order_by(Delivery.subscriber, Delivery.case_id, Delivery.seq)).all()
    got: dict[str, list[tuple[str, int]]] = {}
    for r in rows:
        got.setdefault(r.subscriber, []).append((r.case_id, r.seq))
        assert json.loads(r.body)["department"] in ("amr", "fire")
    assert got["province"] == [("a", 1), ("a", 2), ("f-02", 1), ("f-02", 2)]
    assert got["fire-sys"] == [("f-02", 1), ("f-02", 2)]
    assert got["two"] == got["province"]
    # replaced without departments: every event again
    add_subscriber(sessions, "fire-sys", "http://127.0.0.1:2/events", SECRET)
    with sessions() as session:
        assert status(session, "fire-sys")["departments"] is None
    for bad, field in (([], "departments"), (["fire", "nope"], "departments[1]")):
        with pytest.raises(Invalid) as e:
            add_subscriber(sessions, "fire-sys", "http://127.0.0.1:2/events", SECRET, bad)
        assert e.value.field == field
    with sessions() as session:
        assert status(session, "fire-sys")["departments"] is None  # a refused change changes nothing
    engine.dispose()


async def test_the_api_takes_departments_and_names_a_bad_one(stack):
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    name = f"dept-{uuid.uuid4().hex[:6]}"
    try:
        r = await admin.put(f"/api/subscribers/{name}", json={"url": "http://127.0.0.1:1/events", "secret": SECRET,
                                                               "departments": ["fire"]})
        assert r.status_code == 200 and r.json()["departments"] == ["fire"], r.text
        assert (await admin.get(f"/api/subscribers/{name}/status")).json()["departments"] == ["fire"]
        for departments, field, code in ((["fire", "nowhere"], "departments[1]", "unknown_department"),
                                         ([], "departments", "invalid_departments"),
                                         (["x" * 33], "departments[0]", None), ("fire", "departments", None)):
            r = await admin.put(f"/api/subscribers/{name}", json={"url": "http://127.0.0.1:1/events",
                                                                   "secret": SECRET, "departments": departments})
            assert r.status_code == 422, (departments, r.text)
            assert r.json()["detail"]["field"] == field, (departments, r.text)
            if code:
                assert r.json()["detail"]["code"] == code
        assert (await admin.get(f"/api/subscribers/{name}/status")).json()["departments"] == ["fire"]
    finally:
        await stack.http.delete(f"/api/subscribers/{name}", headers=await admin.headers())


def test_the_cli_takes_departments(tmp_path):
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    out = runner.invoke(cli, ["subscribers", "add", "fire-sys", "--url", "http://127.0.0.1:1/e", "--department", "fire",
                              "--department", "hcd", *d])
    assert out.exit_code == 0, out.output
    assert json.loads(json_line(out.output))["departments"] == ["fire", "hcd"]
    listed = json.loads(json_line(runner.invoke(cli, ["subscribers", "list", *d]).output))["items"]
    assert listed[0]["departments"] == ["fire", "hcd"]
    bad = runner.invoke(cli, ["subscribers", "add", "x", "--url", "http://127.0.0.1:1/e", "--department", "nope", *d])
    assert bad.exit_code == 1 and "departments[0]" in bad.output and "Traceback" not in bad.output, bad.output

"""The detail keys of a feed event (banjian/feed_events.py) and the operators' lists of service
accounts and subscribers. End to end with the reference receiver: tests/test_feed.py."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlmodel import Session, select
from typer.testing import CliRunner

from banjian.db import make_engine
from banjian.feed import Delivery, add_subscriber, enqueue_history, event_body
from banjian.feed_events import DETAIL_KEYS, actor_kind, case_context, details
from banjian.seed import ensure_base
from services.cli import app as cli
from tests.conftest import json_line

CONTEXT = case_context("food-business-licence", "食品经营许可", "amr")


def test_actor_kind_tells_people_department_systems_and_the_system_apart():
    assert [actor_kind(r) for r in ("clerk", "applicant", "system_of:amr", "system", None)] == [
        "person", "person", "system_account", "system", "person"]


def test_a_deny_carries_the_cases_refusal_reason_and_a_warning_both_reasons():
    deny = details(CONTEXT, "amr-approver", "approver", "deny", "材料不符", {},
                   refusal="材料不符；住建局：消防不合格")
    assert deny["reason"] == "材料不符；住建局：消防不合格" and deny["comment"] == "材料不符"
    assert details(CONTEXT, "a", "approver", "deny", "材料不符", {})["reason"] == "材料不符"
    refused = details(CONTEXT, "amr-clerk", "clerk", "refuse_acceptance", "不属于本机关职权范围", {})
    assert refused["reason"] == "不属于本机关职权范围" and refused["reason_en"] is None
    warning = details(CONTEXT, "system", "system", "warning", "承诺时限即将届满", {"reason_en": "the promised "
                      "limit is near", "level": "notice"})
    assert (warning["reason"], warning["reason_en"], warning["actor_kind"]) == (
        "承诺时限即将届满", "the promised limit is near", "system")
    expired = details(CONTEXT, "system", "system", "payment_expired", "未缴费，办件终止", {"reason_en": "not paid"})
    assert expired["reason"] == "未缴费，办件终止"
    accept = details(CONTEXT, "amr-sys", "system_of:amr", "accept", None, {})
    assert accept == {**CONTEXT, "actor": "amr-sys", "actor_kind": "system_account", "role": "system_of:amr",
                      "comment": None, "reason": None, "reason_en": None}
    assert set(accept) == set(DETAIL_KEYS)


def test_the_detail_keys_never_replace_the_contracts_keys():
    body = json.loads(event_body("c1", "no-1", 3, "accept", "2026-12-02T08:00:00+08:00", "accepted", {"x": 1},
                                 {"seq": 99, "status": "forged", "actor": "amr-clerk"}))
    assert (body["seq"], body["status"], body["actor"], body["event_id"]) == (3, "accepted", "amr-clerk", "c1-3")


class _Entry:
    def __init__(self, seq: int, action: str, comment: str | None, actor: str, role: str) -> None:
        self.case_id, self.seq, self.action, self.comment, self.actor, self.role = "case-1", seq, action, comment, actor, role
        self.at, self.data = datetime(2026, 12, 2, tzinfo=UTC), {}


def test_enqueue_history_writes_the_details_into_each_subscribers_body(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    ensure_base(engine)

    def sessions() -> Session:
        return Session(engine)

    add_subscriber(sessions, "prov", "http://127.0.0.1:1/events", "s" * 20)
    add_subscriber(sessions, "sms", "http://127.0.0.1:2/events", "t" * 20)
    with sessions() as session:
        entries = [_Entry(1, "submitted", None, "zhangsan", "applicant"),
                   _Entry(2, "deny", "不符合条件", "amr-approver", "approver")]
        assert enqueue_history(session, "no-1", "decided", entries, CONTEXT, "不符合条件；消防不合格") == 4
        session.commit()
        rows = session.exec(select(Delivery).order_by(Delivery.subscriber, Delivery.seq)).all()
    engine.dispose()
    bodies = [json.loads(r.body) for r in rows]
    assert [b["seq"] for b in bodies] == [1, 2, 1, 2] and bodies[:2] == bodies[2:]
    assert bodies[0]["actor"] == "zhangsan" and bodies[0]["reason"] is None and bodies[0]["item_name"] == "食品经营许可"
    assert bodies[1]["reason"] == "不符合条件；消防不合格" and bodies[1]["department"] == "amr"


def test_subscribers_cli_lists_every_subscriber_without_its_secret(tmp_path):
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    assert json.loads(json_line(runner.invoke(cli, ["subscribers", "list", *d]).output)) == {"items": []}
    secrets_ = [json.loads(json_line(runner.invoke(cli, ["subscribers", "add", n, "--url", f"http://127.0.0.1:1/{n}",
                                                         *d]).output))["secret"] for n in ("sms", "prov")]
    assert runner.invoke(cli, ["subscribers", "pause", "sms", *d]).exit_code == 0
    out = runner.invoke(cli, ["subscribers", "list", *d])
    assert out.exit_code == 0, out.output
    items = json.loads(json_line(out.output))["items"]
    assert [(i["name"], i["url"], i["state"]) for i in items] == [("prov", "http://127.0.0.1:1/prov", "active"),
                                                                 ("sms", "http://127.0.0.1:1/sms", "paused")]
    assert set(items[0]) == {"name", "url", "departments", "created_at", "state", "pending", "delivered", "parked", "last_error",
                             "last_error_at", "last_delivered_at", "oldest_pending_at", "retrying", "max_attempts",
                             "next_retry_at"}
    assert items[0]["created_at"].endswith("+08:00") and items[0]["pending"] == 0
    assert all(s not in out.output for s in secrets_)

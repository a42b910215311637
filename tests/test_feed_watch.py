"""What an operator and an integrator see of a subscriber: the retries under way in its status, the
feed's queues in `GET /metrics` (for an alert at 3 a.m.), and addresses refused when added rather
than failing every delivery afterwards."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from activities.feed import FeedActivities
from banjian.db import make_engine, session_factory
from banjian.feed import PENDING, Delivery, Subscriber, add_subscriber, event_body, list_overview, status
from banjian.feed_contracts import FeedInput
from banjian.feed_metrics import FeedQueues
from banjian.metrics import exposition
from banjian.seed import ensure_base
from banjian.settings import Settings
from services.status import _waiting

SECRET = "feed-watch-secret-0123456789"


def _pending(name: str, case_id: str, seq: int, created: datetime) -> Delivery:
    return Delivery(subscriber=name, case_id=case_id, seq=seq, state=PENDING, next_at=created, created_at=created,
                    body=event_body(case_id, f"no-{case_id}", seq, "submitted", "2026-12-02T08:00:00+08:00",
                                    "submitted", {}))


def _db(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'feed.db'}")
    ensure_base(engine)
    return engine, session_factory(engine)


async def test_the_status_tells_how_many_events_are_being_retried_how_often_and_when_next(tmp_path):
    """At 3 a.m. the status said `pending` and `last_error` but nothing of the retries: whether the
    sender still tries, how often it has, and when it tries again."""
    engine, sessions = _db(tmp_path)
    add_subscriber(sessions, "prov", "http://127.0.0.1:1/events", SECRET)  # a closed port: every attempt fails
    created = datetime.now(UTC) - timedelta(minutes=5)
    with sessions() as session:
        session.add_all([_pending("prov", "c1", 1, created), _pending("prov", "c1", 2, created)])
        session.commit()
        fresh = status(session, "prov")
    assert (fresh["retrying"], fresh["max_attempts"], fresh["next_retry_at"]) == (0, 0, None)
    feed = FeedActivities(sessions, Settings(data_dir=tmp_path, feed_poll_seconds=0.1))
    before = datetime.now(UTC)
    result = await ActivityEnvironment().run(feed.drain, FeedInput(name="prov", drain_seconds=2))
    assert result.retry_at is not None
    with sessions() as session:
        now = status(session, "prov")
        listed = next(s for s in list_overview(session) if s["name"] == "prov")
        tried = max(r.attempts for r in session.exec(select(Delivery).where(Delivery.subscriber == "prov")))
    # per case, only the head is tried: one event retrying, the other waits behind it
    assert now["pending"] == 2 and now["retrying"] == 1 and now["max_attempts"] == tried >= 1, now
    assert datetime.fromisoformat(now["next_retry_at"]) >= before.replace(microsecond=0), now
    assert datetime.fromisoformat(now["next_retry_at"]) <= datetime.now(UTC) + timedelta(seconds=30), now
    assert {k: listed[k] for k in ("retrying", "max_attempts", "next_retry_at")} == \
        {k: now[k] for k in ("retrying", "max_attempts", "next_retry_at")}
    feed_line = next(p for p in _waiting(sessions) if p.name == "feed")  # `banjian status`
    assert f"prov active: 2 pending, 0 parked, 1 retrying (up to {tried} attempts)" in feed_line.detail, feed_line
    engine.dispose()


def test_the_metrics_carry_each_subscribers_queue(tmp_path):
    """`GET /metrics` had no series of the feed: no alert could fire while the provincial platform
    took nothing for hours."""
    engine, sessions = _db(tmp_path)
    add_subscriber(sessions, "prov", "http://127.0.0.1:1/events", SECRET)
    add_subscriber(sessions, "sms", "http://127.0.0.1:2/events", SECRET)
    now = datetime.now(UTC)
    with sessions() as session:
        session.add_all([_pending("prov", "c1", 1, now - timedelta(hours=2)), _pending("prov", "c2", 1, now)])
        session.get(Subscriber, "sms").paused = True  # type: ignore[union-attr]
        session.commit()
        rows = list_overview(session)
    text = exposition(feed_queues=FeedQueues(lambda: rows, now)).decode()
    assert 'banjian_feed_pending{subscriber="prov"} 2.0' in text
    assert 'banjian_feed_pending{subscriber="sms"} 0.0' in text
    assert 'banjian_feed_paused{subscriber="sms"} 1.0' in text and 'banjian_feed_paused{subscriber="prov"} 0.0' in text
    waited = float(re.search(r'banjian_feed_oldest_pending_seconds\{subscriber="prov"\} (\S+)', text).group(1))  # type: ignore[union-attr]
    assert 7199 <= waited <= 7201
    assert 'banjian_feed_oldest_pending_seconds{subscriber="sms"} 0.0' in text
    assert 'banjian_feed_retrying{subscriber="prov"} 0.0' in text
    engine.dispose()


async def test_the_metrics_route_reads_the_feed_queues(stack):
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    name = f"watch-{uuid.uuid4().hex[:6]}"
    assert (await admin.put(f"/api/subscribers/{name}", json={"url": "http://127.0.0.1:1/events",
                                                               "secret": SECRET})).status_code == 200
    try:
        r = await stack.http.get("/metrics")
        assert r.status_code == 200
        assert re.search(rf'banjian_feed_pending\{{subscriber="{name}"\}} \d', r.text), r.text[-2000:]
    finally:
        await stack.http.delete(f"/api/subscribers/{name}", headers=await admin.headers())


async def test_an_address_with_blanks_around_it_is_stored_without_them(stack):
    """` http://…/events` (a pasted address) was answered 200 and stored as given; the sender then failed
    every delivery with `UnsupportedProtocol` while the status showed no fault at the add."""
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    name = f"blank-{uuid.uuid4().hex[:6]}"
    r = await admin.put(f"/api/subscribers/{name}", json={"url": " http://127.0.0.1:1/events\n", "secret": SECRET})
    try:
        assert r.status_code == 200, r.text
        assert r.json()["url"] == "http://127.0.0.1:1/events"
        got = await admin.get(f"/api/subscribers/{name}/status")
        assert got.json()["url"] == "http://127.0.0.1:1/events"
    finally:
        await stack.http.delete(f"/api/subscribers/{name}", headers=await admin.headers())


async def test_an_address_carrying_a_password_is_refused(stack):
    """`http://user:password@host/` was stored and then shown to supervisors and auditors in the status
    and kept in the admin log."""
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    name = f"cred-{uuid.uuid4().hex[:6]}"
    for url in ("http://user:pw@127.0.0.1:1/events", "https://token@province.example/events"):
        r = await admin.put(f"/api/subscribers/{name}", json={"url": url, "secret": SECRET})
        assert r.status_code == 422, (url, r.text)
        detail = r.json()["detail"]
        assert (detail["code"], detail["field"]) == ("invalid_url", "url")
        assert "用户名或密码" in detail["message"] and "password" in detail["message_en"]
    assert (await admin.get(f"/api/subscribers/{name}/status")).status_code == 404


def test_the_cli_strips_blanks_and_refuses_a_password_in_the_address(tmp_path):
    from services.cli import app as cli

    runner = CliRunner()
    bad = runner.invoke(cli, ["subscribers", "add", "prov", "--url", "http://u:p@127.0.0.1:1/e",
                              "--data-dir", str(tmp_path)])
    assert bad.exit_code == 1 and "用户名或密码" in bad.output and "Traceback" not in bad.output, bad.output
    ok = runner.invoke(cli, ["subscribers", "add", "prov", "--url", " http://127.0.0.1:1/e ", "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert '"url": "http://127.0.0.1:1/e"' in ok.output
    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    with Session(engine) as session:
        assert [s.url for s in session.exec(select(Subscriber)).all()] == ["http://127.0.0.1:1/e"]
    engine.dispose()


async def test_a_secret_with_blanks_around_it_or_a_control_character_is_refused(stack):
    """`"secret": "0123456789abcdef\\n"` (a pasted key) was stored as given: a far end that keeps the
    key without its blank refused every signature, and the events waited for ever."""
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    name = f"key-{uuid.uuid4().hex[:6]}"
    for secret in (f"{SECRET}\n", f" {SECRET}", f"{SECRET} ", f"{SECRET[:10]}\t{SECRET[10:]}", " " * 20):
        r = await admin.put(f"/api/subscribers/{name}", json={"url": "http://127.0.0.1:1/events", "secret": secret})
        assert r.status_code == 422, (secret, r.text)
        detail = r.json()["detail"]
        assert (detail["code"], detail["field"]) == ("invalid_secret", "secret") and "空白" in detail["message"]
    assert (await admin.get(f"/api/subscribers/{name}/status")).status_code == 404
    r = await admin.put(f"/api/subscribers/{name}", json={"url": "http://127.0.0.1:1/events", "secret": "密钥 with inner blanks 0123"})
    assert r.status_code == 200, r.text
    await stack.http.delete(f"/api/subscribers/{name}", headers=await admin.headers())


def test_the_documented_signature_known_answer_holds():
    """An integrator writing the receiving side had no known answer to test their HMAC-SM3 against; the
    one docs/api.md now gives must be what the sender computes, by the sender's code and by an
    independent HMAC over SM3 (`cryptography`)."""
    from pathlib import Path

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import hmac as crypto_hmac

    from banjian.feed import sign

    doc = (Path(__file__).parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    m = re.search(r"secret `([^`]+)`, body `([^`]+)` \((\d+) bytes, no\s+newline\) → `X-Banjian-Signature: ([0-9a-f]{64})`",
                  doc)
    assert m is not None, "docs/api.md gives no known answer for the feed's signature"
    secret, body, size, signature = m.group(1), m.group(2).encode(), int(m.group(3)), m.group(4)
    assert len(body) == size
    assert sign(secret, body) == signature
    mac = crypto_hmac.HMAC(secret.encode(), hashes.SM3())
    mac.update(body)
    assert mac.finalize().hex() == signature

"""The subscribers page (/admin/subscribers, 订阅系统): an admin sees each event-feed subscriber with
the state `banjian status` judges (重试中 with its last error, 有积压, 正常, 已暂停), its queue and
address without secrets, and pauses and resumes it (CSRF checked, in the admin log); others may not."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from banjian.adminlog import AdminLogEntry
from banjian.feed import PENDING, Delivery, Subscriber, add_subscriber, event_body
from banjian.feed import status as feed_status
from tests.pages_client import PageClient, csrf_of, text_of

SECRET = "page-subscriber-secret-0123456789"


def _pending(name: str, seq: int, attempts: int, created: datetime, next_at: datetime) -> Delivery:
    return Delivery(subscriber=name, case_id=f"c-{name}", seq=seq, state=PENDING, attempts=attempts,
                    created_at=created, next_at=next_at,
                    body=event_body(f"c-{name}", f"no-{name}", seq, "submitted", "2026-12-02T08:00:00+08:00",
                                    "submitted", {}))


def _row(html: str, name: str) -> str:
    m = re.search(rf'<tr id="subscriber-{re.escape(name)}">(.*?)</tr>', html, re.S)
    assert m, f"no row for {name}"
    return text_of("<body>" + m.group(1))


def subscribers_in_trouble(stack) -> tuple[str, str, str]:
    """A failing subscriber (two events refused, retried), a healthy one and one with a stale queue."""
    tag = uuid.uuid4().hex[:6]
    failing, healthy, stale = f"prov-{tag}", f"dept-{tag}", f"slow-{tag}"
    now = datetime.now(UTC)
    # the sender of the shared stack is not started for these (added without the API): the rows stay
    add_subscriber(stack.sessions, failing, "https://platform.example/events?token=far-end-token", SECRET)
    add_subscriber(stack.sessions, healthy, "http://127.0.0.1:1/dept", SECRET, ["amr"])
    add_subscriber(stack.sessions, stale, "http://127.0.0.1:1/slow", SECRET)
    with stack.sessions() as session:
        sub = session.get(Subscriber, failing)
        sub.last_error, sub.last_error_at = "HTTP 503 Service Unavailable", now - timedelta(minutes=1)
        session.add(sub)
        session.add_all([_pending(failing, 1, 3, now - timedelta(minutes=5), now + timedelta(minutes=2)),
                         _pending(failing, 2, 1, now - timedelta(minutes=4), now + timedelta(minutes=1)),
                         _pending(stale, 1, 0, now - timedelta(minutes=25), now + timedelta(hours=1))])
        session.commit()
    return failing, healthy, stale


async def test_an_admin_sees_each_subscriber_with_its_state_and_last_error(stack, people, browser):
    failing, healthy, stale = subscribers_in_trouble(stack)
    await browser.login(people.admin.username)
    r = await browser.get("/admin/subscribers")
    assert r.status_code == 200, r.text
    assert '<a href="/admin/subscribers">订阅系统</a>' in r.text  # in the admin navigation
    row = _row(r.text, failing)
    assert "重试中" in row and "2件重试中，最多已试3次" in row
    assert "HTTP503ServiceUnavailable" in row and "全部部门" in row
    assert "https://platform.example/events" in row and "5分钟" in row  # the oldest pending event's wait
    assert re.search(r"待推送.*?2", r.text)
    # no secret: neither the signing key nor a token in the address's query
    assert SECRET not in r.text and "far-end-token" not in r.text
    healthy_row = _row(r.text, healthy)
    assert healthy_row == f"{healthy}http://127.0.0.1:1/dept市市场监督管理局正常0——无暂停推送（{healthy}）"
    assert "重试中" not in healthy_row
    assert "有积压" in _row(r.text, stale) and "25分钟" in _row(r.text, stale)


async def test_an_admin_pauses_and_resumes_a_subscriber_and_the_admin_log_records_it(stack, people, browser):
    failing, _, _ = subscribers_in_trouble(stack)
    await browser.login(people.admin.username)
    page = await browser.get("/admin/subscribers")
    assert f'action="/admin/subscribers/{failing}/pause"' in page.text
    # without the page's CSRF token nothing changes
    forged = await browser.http.post(f"/admin/subscribers/{failing}/pause", data={"csrf_token": "forged"},
                                     files={"_": ("", b"", "application/octet-stream")})
    assert forged.status_code == 403
    with stack.sessions() as session:
        assert feed_status(session, failing)["paused"] is False
    r = await browser.submit(f"/admin/subscribers/{failing}/pause", page.text)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/subscribers?done=paused")
    with stack.sessions() as session:
        assert feed_status(session, failing)["paused"] is True
    page = await browser.get(r.headers["location"])
    assert f"已暂停向 {failing} 推送" in page.text
    paused_row = _row(page.text, failing)
    assert "已暂停" in paused_row and "重试中" not in paused_row and "暂停中" in paused_row  # no retry while paused
    assert f'action="/admin/subscribers/{failing}/resume"' in page.text
    r = await browser.submit(f"/admin/subscribers/{failing}/resume", page.text)
    assert r.status_code == 303
    with stack.sessions() as session:
        assert feed_status(session, failing)["paused"] is False
        logged = session.exec(select(AdminLogEntry).where(AdminLogEntry.target == failing)
                              .order_by(AdminLogEntry.id)).all()
    assert [(e.actor, e.action) for e in logged] == [(people.admin.username, "subscriber.pause"),
                                                     (people.admin.username, "subscriber.resume")]
    # an unknown subscriber: 404, nothing logged
    r = await browser.submit("/admin/subscribers/nobody-here/pause", page.text)
    assert r.status_code == 404 and "不存在" in r.text


async def test_only_admins_see_the_subscribers_page_or_pause_a_subscriber(stack, people, browser):
    failing, _, _ = subscribers_in_trouble(stack)
    r = await browser.get("/admin/subscribers")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    for role in ("clerk", "supervisor", "auditor"):
        other = PageClient(stack)
        try:
            user = getattr(people, role) if role == "clerk" else stack.user(f"{role}-{uuid.uuid4().hex[:6]}", role)
            await other.login(user.username)
            r = await other.get("/admin/subscribers")
            assert r.status_code == 403, (role, r.status_code)
            assert failing not in r.text
            home = await other.get("/")
            r = await other.http.post(f"/admin/subscribers/{failing}/pause", data={"csrf_token": csrf_of(home.text)},
                                      files={"_": ("", b"", "application/octet-stream")})
            assert r.status_code == 403, (role, r.status_code)
            assert '<a href="/admin/subscribers">' not in home.text
        finally:
            await other.close()
    with stack.sessions() as session:
        assert feed_status(session, failing)["paused"] is False

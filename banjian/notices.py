"""The applicant's message centre (消息中心 / 办件提醒): notices derived from the read model, and
what each user has read.

No workflow writes a notice. A notice is one of:
- a history entry (`case_events`) of the applicant's own top-level case whose action is in
  `banjian.notice_texts.CASE_NOTICES` (what needs the applicant or tells them an outcome);
- the answer to one of their consultations or complaints (`inquiries.answered_at`);
- a status change of an e-licence they hold (`licence_events` of `licences.holder_username`: suspended,
  reinstated, revoked, cancelled by its issuer, or expired), once its time has come;
- the reminder of a window appointment they booked for today or tomorrow (from 09:00 the day before,
  as `banjian.appointment_reminders` times the feed's reminder).

Read state is one row per user (`notice_reads`): the highest case-event id and the latest other
notice time they have seen. Opening the notices page (or the API's mark-read) moves both to the
newest notice shown, so a notice recorded meanwhile stays unread. The unread count looks only at the
cases whose row was written since the user last read everything (`count_from`, index
`ix_cases_applicant_recorded`), less a margin for transactions still open then, and stops counting at
`COUNT_CAP`.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlmodel import Field, Session, SQLModel, col

from banjian.appointments import Appointment, slot_start
from banjian.db import Case, CaseEvent, Item
from banjian.inquiries import Inquiry
from banjian.licence_store import Licence, LicenceEvent
from banjian.notice_texts import CASE_NOTICES, appointment_notice, case_notice, inquiry_notice, licence_notice
from banjian.timefmt import CHINA, iso_at

#: the header shows at most this ("99+" beyond)
COUNT_CAP = 100
#: a case row written this long before the last read may still hold an event committed after it
MARGIN = timedelta(minutes=5)
#: inquiries answered, newest first, that the centre lists at most
MAX_INQUIRIES = 200
#: status changes of the user's licences, newest first, that the centre lists at most
MAX_LICENCE_CHANGES = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NoticeRead(SQLModel, table=True):
    """How far a user has read their notices (one row per user: bounded)."""

    __tablename__ = "notice_reads"
    username: str = Field(primary_key=True, max_length=64)
    events_through: int = Field(default=0, description="highest case_events.id seen")
    others_through: datetime | None = Field(default=None, description="latest answer or reminder time seen")
    count_from: datetime = Field(description="the unread count looks at cases written from then on: the last "
                                 "time every case notice was read, less a margin (UTC)")


@dataclass
class Notice:
    """One notice as the page and the API show it."""

    id: str
    at: datetime
    body: dict[str, Any]
    event_id: int | None = None

    def json(self, unread: bool) -> dict[str, Any]:
        return {"id": self.id, "at": iso_at(self.at), **self.body, "unread": unread}


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _state(session: Session, username: str) -> NoticeRead | None:
    return session.get(NoticeRead, username)


def _notice_actions(action: Any, data: Any) -> Any:
    """History entries that make a notice: their action is in `CASE_NOTICES`, and a `return_to` only
    when it went back to the applicant (`data.step_id` "applicant"; to a step it is internal)."""
    return and_(action.in_(sorted(CASE_NOTICES)),
                or_(action != "return_to", data["step_id"].as_string() == "applicant"))


def _event_filter(username: str):
    return and_(Case.applicant_username == username, col(Case.parent_id).is_(None),
                _notice_actions(col(CaseEvent.action), col(CaseEvent.data)), Case.id == CaseEvent.case_id)


def _reminders(session: Session, username: str, now: datetime) -> list[tuple[Appointment, datetime]]:
    """Booked appointments of today or tomorrow (China time) whose reminder time has come."""
    today = now.astimezone(CHINA).date()
    rows = session.execute(select(Appointment).where(
        Appointment.username == username, Appointment.status == "booked",
        col(Appointment.day).in_([today, today + timedelta(days=1)]))).scalars().all()
    out = []
    for r in rows:
        day_before: date = r.day - timedelta(days=1)
        remind = max(datetime.combine(day_before, time(9, 0), tzinfo=CHINA), _aware(r.created_at))
        if remind <= now and slot_start(r.slot) > now - timedelta(hours=12):
            out.append((r, remind))
    return out


def _count_statement() -> Any:
    """One statement, built once (only its parameters change): the capped count of unread case
    notices among the cases written since `count_from`, the unread answers, the user's bookings of
    today or tomorrow (only those are looked at further), and how far the user has read."""
    r = NoticeRead.__table__  # type: ignore[attr-defined]
    c, e, q, a, lic, le = (t.__table__ for t in (Case, CaseEvent, Inquiry, Appointment,  # type: ignore[attr-defined]
                                                 Licence, LicenceEvent))
    user = bindparam("u", type_=r.c.username.type)

    def mine(column: Any, default: Any) -> Any:
        return func.coalesce(select(column).where(r.c.username == user).scalar_subquery(), default)

    epoch = bindparam("epoch", EPOCH, type_=r.c.count_from.type)
    capped = select(e.c.id).select_from(c.join(e, e.c.case_id == c.c.id)).where(
        c.c.applicant_username == user, c.c.parent_id.is_(None), c.c.recorded_at >= mine(r.c.count_from, epoch),
        e.c.id > mine(r.c.events_through, 0), _notice_actions(e.c.action, e.c.data)).limit(COUNT_CAP).subquery()
    # only the user's own rows through their index: a later answer is an answered one, and the
    # bookings' status and day are compared through coalesce, so no planner walks every user's
    answered = select(func.count()).select_from(q).where(
        q.c.asker == user, q.c.answered_at > mine(r.c.others_through, epoch))
    changed = select(func.count()).select_from(lic.join(le, le.c.licence_id == lic.c.id)).where(
        lic.c.holder_username == user, le.c.at > mine(r.c.others_through, epoch),
        le.c.at <= bindparam("now", type_=le.c.at.type))
    day = func.coalesce(a.c.day, a.c.day)
    booked = select(func.count()).select_from(a).where(
        a.c.username == user, func.coalesce(a.c.status, "") == "booked",
        day.in_([bindparam("d1", type_=a.c.day.type), bindparam("d2", type_=a.c.day.type)]))
    return select(select(func.count()).select_from(capped).scalar_subquery(), answered.scalar_subquery(),
                  changed.scalar_subquery(), booked.scalar_subquery(), select(r.c.others_through).where(r.c.username == user).scalar_subquery())


_COUNT = _count_statement()


def unread_count(session: Session, username: str, now: datetime | None = None) -> int:
    """Unread notices of `username`, at most `COUNT_CAP`: one indexed statement, cheap enough for every
    page's header (see the module's docstring)."""
    now = now or datetime.now(UTC)
    today = now.astimezone(CHINA).date()
    events, answers, changes, booked, others = session.execute(
        _COUNT, {"u": username, "d1": today, "d2": today + timedelta(days=1), "now": now}).one()
    n = events + answers + changes
    if booked:
        n += sum(1 for _, at in _reminders(session, username, now) if others is None or at > _aware(others))
    return min(n, COUNT_CAP)


def unread_total(session: Session, username: str, now: datetime | None = None) -> int:
    """Unread notices of `username`, all of them (not capped): what `GET /api/me/notices` answers as
    `unread`, so that a client never reads the header's cap as the count."""
    return int(listing(session, username, True, 1, 0, now)["total"])


def _is_unread(n: Notice, state: NoticeRead | None) -> bool:
    if state is None:
        return True
    if n.event_id is not None:
        return n.event_id > state.events_through
    return state.others_through is None or n.at > _aware(state.others_through)


def listing(session: Session, username: str, unread: bool | None, limit: int, offset: int,
            now: datetime | None = None) -> dict[str, Any]:
    """The user's notices, newest first: `{"items", "total", "unread"}` (`unread=True`: only unread
    ones; `False`: only read ones)."""
    now = now or datetime.now(UTC)
    state = _state(session, username)
    want = offset + limit
    ev_conds = [_event_filter(username)]
    inq_conds = [Inquiry.asker == username, Inquiry.status == "answered"]
    others = state.others_through if state else None
    if unread is not None and state is not None:
        ev_conds.append(CaseEvent.id > state.events_through if unread  # type: ignore[operator]
                        else CaseEvent.id <= state.events_through)  # type: ignore[operator]
        if others is not None:
            inq_conds.append(Inquiry.answered_at > others if unread  # type: ignore[operator]
                             else Inquiry.answered_at <= others)  # type: ignore[operator]
    elif unread is False:  # nothing read yet
        ev_conds.append(CaseEvent.id < 0)  # type: ignore[operator]
        inq_conds.append(Inquiry.id == "\0")
    base = select(CaseEvent, Case.case_no, Case.item_code, Case.item_name, Case.status, Case.snapshot) \
        .select_from(Case).join(CaseEvent, Case.id == CaseEvent.case_id).where(*ev_conds)
    total = session.execute(select(func.count()).select_from(
        select(CaseEvent.id).select_from(Case).join(CaseEvent, Case.id == CaseEvent.case_id)
        .where(*ev_conds).subquery())).scalar_one()
    events = [Notice(f"e{e.id}", _aware(e.at), case_notice(e, case_no, code, name, status, snap), e.id)
              for e, case_no, code, name, status, snap in session.execute(
                  base.order_by(col(CaseEvent.at).desc(), col(CaseEvent.id).desc()).limit(want)).all()]
    inq_rows = session.execute(select(Inquiry).where(*inq_conds)
                               .order_by(col(Inquiry.answered_at).desc()).limit(MAX_INQUIRIES)).scalars().all()
    case_nos = _case_numbers(session, [r.case_id for r in inq_rows if r.case_id])
    answers = [Notice(f"q{r.id}", _aware(r.answered_at or r.filed_at), inquiry_notice(r, case_nos.get(r.case_id or "")))
               for r in inq_rows]
    reminders = [Notice(f"a{r.id}", at, appointment_notice(r)) for r, at in _reminders(session, username, now)]
    changes = [Notice(f"l{ev.id}", _aware(ev.at), licence_notice(ev, row))
               for ev, row in _licence_changes(session, username, now)]
    if unread is not None:
        reminders = [n for n in reminders if _is_unread(n, state) == unread]
        changes = [n for n in changes if _is_unread(n, state) == unread]
    numbers = _case_numbers(session, [n.body["case_id"] for n in changes if n.body.get("case_id")])
    for n in changes:
        n.body["case_no"] = numbers.get(n.body.get("case_id") or "")
    _name_items(session, answers + reminders + changes)
    others_found = answers + reminders + changes
    total += len(others_found)
    merged = list(heapq.merge(events, sorted(others_found, key=lambda n: n.at, reverse=True),
                              key=lambda n: n.at, reverse=True))[offset:want]
    return {"items": merged, "total": total, "state": state}


def _licence_changes(session: Session, username: str, now: datetime) -> list[tuple[LicenceEvent, Licence]]:
    """Status changes of the licences `username` holds, newest first, up to now (an expiry the
    simulation clock dated later shows once that time has come)."""
    rows = session.execute(select(LicenceEvent, Licence).join(Licence, col(Licence.id) == LicenceEvent.licence_id)
                           .where(Licence.holder_username == username, col(LicenceEvent.at) <= now)
                           .order_by(col(LicenceEvent.at).desc(), col(LicenceEvent.id).desc())
                           .limit(MAX_LICENCE_CHANGES)).all()
    return [(ev, row) for ev, row in rows]


def _name_items(session: Session, found: list[Notice]) -> None:
    """The item's name on an answer or a reminder (people read names, not codes)."""
    codes = {n.body["item_code"] for n in found if n.body.get("item_code") and not n.body.get("item_name")}
    if not codes:
        return
    rows = session.execute(select(Item.code, Item.name).where(col(Item.code).in_(sorted(codes)))).all()
    names = {r[0]: r[1] for r in rows}
    for n in found:
        if not n.body.get("item_name"):
            n.body["item_name"] = names.get(n.body.get("item_code") or "")


def _case_numbers(session: Session, ids: list[str]) -> dict[str, str | None]:
    if not ids:
        return {}
    return {r[0]: r[1] for r in session.execute(select(Case.id, Case.case_no).where(col(Case.id).in_(ids))).all()}


def as_json(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The listed notices as the API answers them, each with whether it was unread."""
    return [n.json(_is_unread(n, found["state"])) for n in found["items"]]


def mark_read(session: Session, username: str, shown: list[Notice]) -> None:
    """The user has seen `shown`: everything up to the newest of them is read (never moved back)."""
    _advance(session, username, max((n.event_id for n in shown if n.event_id is not None), default=None),
             max((n.at for n in shown if n.event_id is None), default=None))


def mark_all_read(session: Session, username: str, now: datetime | None = None) -> None:
    """Every notice there is now is read (the API's mark-read)."""
    now = now or datetime.now(UTC)
    newest_event = session.execute(select(func.max(CaseEvent.id)).select_from(Case)
                                   .join(CaseEvent, Case.id == CaseEvent.case_id)
                                   .where(_event_filter(username))).scalar_one()
    answered = session.execute(select(func.max(Inquiry.answered_at)).where(
        Inquiry.asker == username, Inquiry.status == "answered")).scalar_one()
    others = [_aware(answered)] if answered else []
    others += [at for _, at in _reminders(session, username, now)]
    others += [_aware(ev.at) for ev, _ in _licence_changes(session, username, now)[:1]]
    _advance(session, username, newest_event, max(others, default=None))


def _advance(session: Session, username: str, event_id: int | None, other_at: datetime | None) -> None:
    state = _state(session, username) or NoticeRead(username=username, count_from=EPOCH)
    if event_id is not None:
        state.events_through = max(state.events_through, event_id)
    if other_at is not None and (state.others_through is None or other_at > _aware(state.others_through)):
        state.others_through = other_at
    started = datetime.now(UTC)
    left = session.execute(select(CaseEvent.id).select_from(Case).join(CaseEvent, Case.id == CaseEvent.case_id)
                           .where(_event_filter(username), CaseEvent.id > state.events_through)  # type: ignore[operator]
                           .limit(1)).first()
    if left is None:  # every case notice is read: the count need look only at cases written from now on
        state.count_from = started - MARGIN
    session.add(state)
    session.commit()


__all__ = ["COUNT_CAP", "Notice", "NoticeRead", "as_json", "listing", "mark_all_read", "mark_read", "unread_count",
           "unread_total"]

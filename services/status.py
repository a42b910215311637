"""`banjian status`: one look at an installation for the operator on call — is `banjian up` running,
does the database answer at the current schema, does Temporal answer with a worker polling, does
the API answer its readiness probe, and what is waiting (open and overdue cases, the archive queue,
the platform feed). Every probe has a short timeout and reports instead of raising."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from banjian import archive_queue, feed
from banjian.db import Case, make_engine
from banjian.enums import CLOSED
from banjian.migrate import schema_revision
from banjian.ops.datadir import DataDirLock
from banjian.settings import Settings
from banjian.timefmt import waited

#: how long each probe waits for an answer
PROBE_TIMEOUT_S = 3.0
#: exit status of `banjian status`: everything fine / a part is down or wrong / running, but a part is
#: degraded (an event-feed subscriber the sender cannot deliver to). Not 2: that is a usage error.
EXIT_OK, EXIT_FAILING, EXIT_DEGRADED = 0, 1, 3
#: an active subscriber whose oldest pending event has waited longer than this is degraded, even
#: before the far end refused anything (the sender tries at least every 30 s)
FEED_STALE_S = 600


@dataclass
class Part:
    """One line of the report: `ok` True (fine), False (down or wrong: the exit status is 1), or None
    (nothing to judge: a figure, or a part this installation does not run here). `degraded`: it runs
    but does not do its work (the exit status is 3 unless a part fails)."""

    name: str
    ok: bool | None
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)
    degraded: bool = False


@dataclass
class Report:
    data_dir: str
    parts: list[Part]

    @property
    def ok(self) -> bool:
        return all(p.ok is not False for p in self.parts)

    @property
    def degraded(self) -> list[str]:
        """The names of the degraded parts."""
        return [p.name for p in self.parts if p.degraded]

    @property
    def exit_code(self) -> int:
        return EXIT_FAILING if not self.ok else EXIT_DEGRADED if self.degraded else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        state = "failing" if not self.ok else "degraded" if self.degraded else "ok"
        return {"status": state, "data_dir": self.data_dir, "parts": [asdict(p) for p in self.parts]}

    def lines(self) -> list[str]:
        mark = {True: "ok  ", False: "FAIL", None: "    "}
        out = [f"banjian status: {self.data_dir}"]
        out += [f"  {p.name:<9} {'WARN' if p.degraded and p.ok is not False else mark[p.ok]} {p.detail}"
                for p in self.parts]
        if not self.ok:
            out.append("status: FAILING (" + ", ".join(p.name for p in self.parts if p.ok is False) + ")")
        elif self.degraded:
            out.append("status: DEGRADED (" + ", ".join(self.degraded) + ")")
        else:
            out.append("status: ok")
        return out


def _feed_trouble(sub: dict[str, Any], now: datetime) -> Part | None:
    """The degraded line of one subscriber, or None when its deliveries go through (or an operator
    paused it: then its queue waits by intent). Degraded: events parked (waiting for an operator),
    pending events the far end refused (retrying), or an oldest pending event older than FEED_STALE_S."""
    if sub["state"] == "paused":
        return None
    oldest = datetime.fromisoformat(sub["oldest_pending_at"]) if sub["oldest_pending_at"] else None
    age = (now - oldest).total_seconds() if oldest else None
    stale = age is not None and age > FEED_STALE_S
    if not (sub["parked"] or sub["retrying"] or stale):
        return None
    what = [f"oldest pending event waiting {waited(age)}" if age is not None else "nothing pending"]
    if sub["retrying"]:
        what.append(f"{sub['retrying']} retrying (up to {sub['max_attempts']} attempts)")
    if sub["parked"]:
        what.append(f"{sub['parked']} parked (`banjian subscribers retry {sub['name']}`)")
    error = " ".join((sub["last_error"] or "none recorded").split())[:160]
    return Part(f"feed:{sub['name']}", None, f"subscriber {sub['name']} degraded: " + ", ".join(what)
                + f"; last error: {error}",
                {"subscriber": sub["name"], "oldest_pending_seconds": None if age is None else int(age),
                 "retrying": sub["retrying"], "parked": sub["parked"], "last_error": sub["last_error"],
                 "last_error_at": sub["last_error_at"]}, degraded=True)


#: a subscriber's state for an operator (the subscribers page): running as it should, degraded with
#: retries under way, degraded otherwise (parked events, or an oldest pending event past FEED_STALE_S),
#: or paused by an operator
FEED_OK, FEED_RETRYING, FEED_BACKLOG, FEED_PAUSED = "ok", "retrying", "backlog", "paused"


def feed_state(sub: dict[str, Any], now: datetime) -> str:
    """The state of one subscriber of `feed.list_overview`, by the judgement of `banjian status`
    (`_feed_trouble`): degraded there is `retrying` here when the far end refused pending events,
    else `backlog`."""
    if sub["state"] == "paused":
        return FEED_PAUSED
    if _feed_trouble(sub, now) is None:
        return FEED_OK
    return FEED_RETRYING if sub["retrying"] else FEED_BACKLOG


def _up(settings: Settings) -> tuple[Part, dict[str, Any] | None]:
    running = DataDirLock(settings.data_dir).running_endpoints()
    if running is None:
        where = "TEMPORAL_ADDRESS is set: the API and workers may run elsewhere" if settings.temporal_address \
            else "nothing holds the data dir; `banjian up` starts it"
        # without `up` an installation with its own cluster can still be whole; the embedded one is down
        return Part("up", None if settings.temporal_address else False, f"not running here ({where})"), None
    return Part("up", True, f"running, pid {running.get('pid', '?')}"), running


def _database(settings: Settings) -> tuple[Part, Callable[[], Session] | None]:
    if settings.database_url is None and not (settings.data_dir / "banjian.db").exists():
        return Part("database", False, f"no read model in {settings.data_dir} (banjian.db): `banjian up` makes it"), None
    try:
        engine = make_engine(settings.db_url)
        current, head = schema_revision(engine)
    except Exception as e:  # any driver's error: name it, never a traceback
        return Part("database", False, f"does not answer ({type(e).__name__}: {' '.join(str(e).split())[:160]})"), None
    where = engine.url.render_as_string(hide_password=True)
    if current != head:
        return (Part("database", False, f"{where}: schema at {current or 'none'}, this code needs {head}: run "
                     "`banjian migrate` (or start `banjian up`)"), None)
    return Part("database", True, f"{where}, schema {current}"), lambda: Session(engine)


async def _temporal(settings: Settings) -> list[Part]:
    from banjian.temporal import connect, worker_problem

    quiet = settings.model_copy(update={"sdk_metrics": False})
    try:
        client = await asyncio.wait_for(connect(quiet), PROBE_TIMEOUT_S)
    except Exception as e:
        text = str(e)
        why = ("no answer in time" if isinstance(e, TimeoutError) else "connection refused"
               if "Connection refused" in text or "code: 111" in text else " ".join(text.split())[:160])
        return [Part("temporal", False, f"{settings.temporal_target} does not answer ({why})"),
                Part("workers", False, "unknown (Temporal does not answer)")]
    temporal = Part("temporal", True, f"{settings.temporal_target}, namespace {settings.namespace}")
    try:
        live, problem = await worker_problem(client, settings, timeout=PROBE_TIMEOUT_S)
    except Exception as e:
        return [temporal, Part("workers", False, f"cannot describe task queue {settings.task_queue} ({type(e).__name__})")]
    if problem:
        return [temporal, Part("workers", False, f"{problem} ({settings.task_queue})")]
    return [temporal, Part("workers", True, f"{live} polling task queue {settings.task_queue}", {"polling": live})]


async def _api(url: str | None) -> Part:
    import httpx

    if url is None:
        return Part("api", None, "not known here (give --api http://host:port)")
    probe = url.rstrip("/") + "/api/health"
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as http:
            r = await http.get(probe)
    except httpx.HTTPError as e:
        return Part("api", False, f"{probe} does not answer ({type(e).__name__})")
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code == 200:
        return Part("api", True, probe)
    bad = ", ".join(f"{k}: {v}" for k, v in body.items() if k != "status" and v != "ok") if isinstance(body, dict) else ""
    return Part("api", False, f"{probe} answers {r.status_code}" + (f" ({bad})" if bad else ""))


def _waiting(sessions: Callable[[], Session]) -> list[Part]:
    """The figures an operator looks at first: what is open and late, and what the background work owes."""
    closed = [str(s) for s in CLOSED]
    with sessions() as session:
        is_open = col(Case.status).not_in(closed)
        open_n = session.exec(select(func.count()).select_from(Case).where(is_open)).one()
        overdue = session.exec(select(func.count()).select_from(Case).where(is_open, col(Case.overdue).is_(True))).one()
        warnings = dict(session.exec(select(Case.warning, func.count()).where(is_open, col(Case.warning).is_not(None))
                                     .group_by(col(Case.warning))).all())
        closed_n = session.exec(select(func.count()).select_from(Case).where(col(Case.status).in_(closed))).one()
        depth = archive_queue.depth(session)
        subscribers = feed.list_overview(session)
    shown = ", ".join(f"{level} {n}" for level, n in sorted(warnings.items()))
    parts = [Part("cases", None, f"{open_n} open ({overdue} overdue" + (f"; warnings: {shown}" if shown else "")
                  + f"), {closed_n} closed",
                  {"open": open_n, "overdue": overdue, "warnings": warnings, "closed": closed_n}),
             Part("archive", None, f"{depth} closed case(s) waiting for their package", {"waiting": depth})]
    if subscribers:
        parts.append(Part("feed", None, "; ".join(
            f"{s['name']} {s['state']}: {s['pending']} pending, {s['parked']} parked"
            + (f", {s['retrying']} retrying (up to {s['max_attempts']} attempts)" if s["retrying"] else "")
            + (f" (last error: {s['last_error'][:80]})" if s["last_error"] else "") for s in subscribers),
            {s["name"]: {k: s[k] for k in ("state", "pending", "parked", "retrying", "max_attempts")} for s in subscribers}))
        now = datetime.now(UTC)
        parts += [p for p in (_feed_trouble(s, now) for s in subscribers) if p is not None]
    return parts


async def gather(settings: Settings, api_url: str | None = None) -> Report:
    up, running = _up(settings)
    database, sessions = await asyncio.to_thread(_database, settings)
    parts = [up, database, *await _temporal(settings),
             await _api(api_url or (running or {}).get("api"))]
    if sessions is not None:
        try:
            parts += await asyncio.wait_for(asyncio.to_thread(_waiting, sessions), 30)
        except Exception as e:
            parts.append(Part("cases", False, f"cannot count ({type(e).__name__})"))
    return Report(str(settings.data_dir.resolve()), parts)

"""`banjian accounts …`, `banjian subscribers …` and `banjian receiver`: platform integration
(service accounts of department systems, the outbound event feed, a reference receiver)."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from services.cli_common import DataDir, fail, settings_for

accounts_app = typer.Typer(help="Service accounts of department systems (系统账号).", no_args_is_help=True)
subscribers_app = typer.Typer(help="Subscribers of the event feed (办件信息推送).", no_args_is_help=True)


def _sessions(data_dir: Path | None) -> Callable[[], Session]:
    from banjian.db import make_engine, session_factory
    from banjian.migrate import upgrade
    from banjian.seed import ensure_departments

    engine = make_engine(settings_for(data_dir).db_url)
    upgrade(engine)

    sessions = session_factory(engine)

    ensure_departments(sessions)
    return sessions


def _run(call: Callable[[], object]) -> object:
    from banjian.errors import DomainError

    try:
        return call()
    except DomainError as e:
        fail(f"{e.field or ''}: {e.message} / {e.message_en}")
    return None


@accounts_app.command("add")
def accounts_add(name: str, department: Annotated[str, typer.Option(help="department code")],
                 data_dir: DataDir = None) -> None:
    """Create (or replace) a service account; prints {"client_id", "client_secret"} once."""
    from banjian.adminlog import record_admin
    from banjian.service_accounts import add_account

    sessions = _sessions(data_dir)
    creds = _run(lambda: add_account(sessions, name, department))
    assert isinstance(creds, dict)
    record_admin(sessions, "cli", "account.add", name, {"department": department, "client_id": creds["client_id"]})
    typer.echo(json.dumps(creds))


@accounts_app.command("rotate")
def accounts_rotate(name: str, data_dir: DataDir = None) -> None:
    """A new secret for the account (the old one stops working); prints it once."""
    from banjian.adminlog import record_admin
    from banjian.service_accounts import rotate_account

    sessions = _sessions(data_dir)
    creds = _run(lambda: rotate_account(sessions, name))
    assert isinstance(creds, dict)
    record_admin(sessions, "cli", "account.rotate", name, {"client_id": creds["client_id"]})
    typer.echo(json.dumps(creds))


@accounts_app.command("revoke")
def accounts_revoke(name: str, data_dir: DataDir = None) -> None:
    """Revoke the account: no more tokens; its tokens stop working within seconds."""
    from banjian.adminlog import record_admin
    from banjian.service_accounts import revoke_account

    sessions = _sessions(data_dir)
    _run(lambda: revoke_account(sessions, name))
    record_admin(sessions, "cli", "account.revoke", name, {})
    typer.echo(json.dumps({"name": name, "revoked": True}))


@accounts_app.command("list")
def accounts_list(data_dir: DataDir = None) -> None:
    """Every service account, one JSON line: {"items": [{"name", "client_id", "department",
    "created_at", "rotated_at", "state"}]} (state active or revoked; never a secret)."""
    from banjian.service_accounts import list_accounts

    sessions = _sessions(data_dir)
    with sessions() as session:
        typer.echo(json.dumps({"items": list_accounts(session)}, ensure_ascii=False))


@subscribers_app.command("list")
def subscribers_list(data_dir: DataDir = None) -> None:
    """Every subscriber, one JSON line: {"items": [{"name", "url", "created_at", "state", "pending",
    "delivered", "parked", "last_error"}]} (state active or paused; never the secret)."""
    from banjian import feed

    sessions = _sessions(data_dir)
    with sessions() as session:
        typer.echo(json.dumps({"items": feed.list_overview(session)}, ensure_ascii=False))


@subscribers_app.command("add")
def subscribers_add(name: str, url: Annotated[str, typer.Option(help="where events are POSTed")],
                    secret: Annotated[str | None, typer.Option(help="HMAC-SM3 key (16-200 chars); generated "
                                                                    "and printed when not given")] = None,
                    department: Annotated[list[str] | None, typer.Option(
                        help="only the events of this department's cases (repeat for several; "
                             "none: every event)")] = None,
                    data_dir: DataDir = None) -> None:
    """Add a subscriber (or replace one of that name): it gets every case event from now on (or its
    departments' only)."""
    from banjian import feed
    from banjian.adminlog import record_admin

    sessions = _sessions(data_dir)
    url = feed.clean_url(url)
    key = _run(lambda: feed.add_subscriber(sessions, name, url, secret, department or None))
    departments = sorted(set(department)) if department else None
    record_admin(sessions, "cli", "subscriber.add", name, {"url": url, "departments": departments})
    typer.echo(json.dumps({"name": name, "url": url, "secret": key, "departments": departments}))


def _pause(name: str, data_dir: Path | None, paused: bool) -> None:
    from banjian import feed
    from banjian.adminlog import record_admin

    sessions = _sessions(data_dir)
    _run(lambda: feed.set_paused(sessions, name, paused))
    record_admin(sessions, "cli", "subscriber.pause" if paused else "subscriber.resume", name, {})
    with sessions() as session:
        typer.echo(json.dumps(feed.status(session, name)))


@subscribers_app.command("pause")
def subscribers_pause(name: str, data_dir: DataDir = None) -> None:
    """Stop sending to a subscriber; its events keep queueing."""
    _pause(name, data_dir, True)


@subscribers_app.command("resume")
def subscribers_resume(name: str, data_dir: DataDir = None) -> None:
    """Send again, parked events included."""
    _pause(name, data_dir, False)


@subscribers_app.command("parked")
def subscribers_parked(name: str, data_dir: DataDir = None) -> None:
    """The parked events of a subscriber (a release before 2026-12-03 parked those refused with a 4xx), as one JSON line."""
    from banjian import feed

    sessions = _sessions(data_dir)
    with sessions() as session:
        typer.echo(json.dumps(_run(lambda: feed.parked(session, name, 500)), ensure_ascii=False))


@subscribers_app.command("retry")
def subscribers_retry(name: str, data_dir: DataDir = None) -> None:
    """Put every parked event of a subscriber back in the queue; prints {"requeued", ...status}."""
    from banjian import feed
    from banjian.adminlog import record_admin

    sessions = _sessions(data_dir)
    count = _run(lambda: feed.requeue_parked(sessions, name))
    record_admin(sessions, "cli", "subscriber.retry", name, {"requeued": count})
    with sessions() as session:
        typer.echo(json.dumps({"requeued": count, **feed.status(session, name)}, ensure_ascii=False))


@subscribers_app.command("remove")
def subscribers_remove(name: str, data_dir: DataDir = None) -> None:
    """Remove a subscriber and its queue."""
    from banjian import feed
    from banjian.adminlog import record_admin

    sessions = _sessions(data_dir)
    _run(lambda: feed.remove_subscriber(sessions, name))
    record_admin(sessions, "cli", "subscriber.remove", name, {})
    typer.echo(json.dumps({"name": name, "removed": True}))


@subscribers_app.command("status")
def subscribers_status(name: str, data_dir: DataDir = None) -> None:
    """pending, delivered, parked, paused and the last error of a subscriber."""
    from banjian import feed

    sessions = _sessions(data_dir)
    with sessions() as session:
        typer.echo(json.dumps(_run(lambda: feed.status(session, name)), ensure_ascii=False))


def receiver(port: Annotated[int, typer.Option(min=1, max=65535)],
             secret: Annotated[str, typer.Option(help="the subscriber's secret")],
             host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1") -> None:
    """A reference receiver of the event feed: checks signatures, de-duplicates by event_id, checks
    each case's order; `GET /report` says what it got, `POST /control` makes it fail or hang."""
    import uvicorn

    from banjian.receiver import make_receiver

    uvicorn.run(make_receiver(secret), host=host, port=port, log_level="warning")

"""The `banjian` command: run the system (`up`, `worker`, `api`) and administer it
(`users add`, `items validate|draft|publish`, `calendar load`). Every command takes `--data-dir`."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from banjian.ops.datadir import private_umask
from services.cli_audit import audit_app
from services.cli_common import Cli, DataDir, bad_environment, fail, production_gate, run_loop, settings_for
from services.cli_items import items_app
from services.cli_platform import accounts_app, receiver, subscribers_app

app = Cli(help="banjian 办件: online government service cases on Temporal.", no_args_is_help=True,
          rich_markup_mode="markdown")  # docstrings wrap as paragraphs, not at their line breaks
users_app = typer.Typer(help="Users (用户).", no_args_is_help=True)
calendar_app = typer.Typer(help="The working-day calendar (工作日历).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(items_app, name="items")
app.add_typer(calendar_app, name="calendar")
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(help="payload encryption keys", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def up(data_dir: DataDir = None, port: Annotated[int, typer.Option(help="API port")] = 8000,
       temporal_port: Annotated[int, typer.Option(help="Temporal server port")] = 7233,
       ui_port: Annotated[int | None, typer.Option(help="Temporal Web UI port (default T + 1000)")] = None,
       host: Annotated[str, typer.Option(help="API address")] = "127.0.0.1",
       demo: Annotated[bool, typer.Option("--demo", help="load demo departments, users and cases")] = False) -> None:
    """Start everything: the embedded Temporal server (or TEMPORAL_ADDRESS), a worker and the API."""
    from banjian.ops.errors import one_line_failure
    from services.stack import run_stack

    settings = settings_for(data_dir, new_ok=True, port=port, temporal_port=temporal_port, ui_port=ui_port,
                            host=host)
    production_gate(settings, demo)
    try:
        run_loop(run_stack(settings, demo=demo))
    except KeyboardInterrupt:
        pass
    except Exception as e:  # the operator gets one line; the traceback goes to a file
        fail(one_line_failure(e, settings.data_dir, "up"))


@app.command()
def backup(to: Annotated[Path, typer.Option("--to", help="the backup file to write (.tar.gz)")],
           data_dir: DataDir = None) -> None:
    """Write a consistent backup of the data dir (databases, keys, archives), also while it runs."""
    from banjian.ops import StartupError
    from banjian.ops.backup import backup as take_backup

    settings = settings_for(data_dir)
    try:
        report = take_backup(settings.data_dir, to, settings.database_url, settings.temporal_address)
    except StartupError as e:
        fail(f"banjian backup: {e}")
    typer.echo(json.dumps(report.json(), ensure_ascii=False))


@app.command()
def restore(file: Annotated[Path, typer.Argument(help="a file written by banjian backup")],
            data_dir: Annotated[Path, typer.Option("--data-dir", help="the new data dir (absent or empty)")]) -> None:
    """Make a new data dir from a backup; `banjian up --data-dir` on it resumes every open case. A backup
    whose read model was in PostgreSQL is loaded into DATABASE_URL (a new, empty database)."""
    from banjian.ops import StartupError
    from banjian.ops.backup import restore as restore_backup
    from banjian.ops.datadir import private_umask
    from banjian.settings import Settings

    private_umask()
    try:
        database_url = Settings().database_url  # a backup of a read model in PostgreSQL goes into this one
    except ValidationError as e:
        fail(f"banjian: {bad_environment(e)}")
    try:
        result = restore_backup(file, data_dir, database_url)
    except StartupError as e:
        fail(f"banjian restore: {e}")
    typer.echo(json.dumps(result, ensure_ascii=False))


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run a worker against TEMPORAL_ADDRESS (or the local server)."""
    import worker as worker_module
    from banjian.ops import StartupError

    settings = settings_for(data_dir, new_ok=True)
    production_gate(settings)
    try:
        run_loop(worker_module.main(settings))
    except StartupError as e:
        fail(f"banjian worker: {e}")


@app.command()
def archiver(data_dir: DataDir = None) -> None:
    """Build archive packages only (`banjian up` runs one at a lower CPU priority; its workers then sweep nothing)."""
    from banjian.ops import StartupError
    from services import archiver as archiver_module

    settings = settings_for(data_dir, new_ok=True)
    production_gate(settings)
    try:
        run_loop(archiver_module.main(settings))
    except StartupError as e:
        fail(f"banjian archiver: {e}")


async def _temporal_answers(settings) -> None:
    from banjian.temporal import connect_waiting

    # the SDK's default runtime: the metrics bridge belongs to the API's own event loop (banjian/metrics.py)
    await connect_waiting(settings.model_copy(update={"sdk_metrics": False}))


@app.command()
def api(data_dir: DataDir = None, port: int = 8000, host: str = "127.0.0.1") -> None:
    """Run the API alone (workers run elsewhere)."""
    import uvicorn

    from api.app import create_app
    from banjian.logs import configure_logging
    from banjian.ops import StartupError
    from banjian.ops.preflight import port_taken
    from services.stack import SHUTDOWN_GRACE_S

    settings = settings_for(data_dir, new_ok=True, port=port, host=host)
    production_gate(settings)
    configure_logging(settings)
    # what would otherwise end uvicorn's start-up with a traceback ("Application startup failed"),
    # said in one line before it: the port, and a Temporal that does not answer (waited for like a worker)
    taken = port_taken(port, host)
    if taken:
        fail(f"banjian api: port {port} for the API is taken ({taken.lower()}); choose another with --port")
    try:
        run_loop(_temporal_answers(settings))
    except StartupError as e:
        fail(f"banjian api: {e}")
    uvicorn.run(create_app(settings), host=host, port=port, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)


@app.command()
def status(data_dir: DataDir = None,
           api_url: Annotated[str | None, typer.Option("--api", help="the API's base URL (default: the one "
                                                       "`banjian up` on this data dir serves)")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="one JSON object instead of lines")] = False) -> None:
    """Is everything up, and what is waiting: `up`, database schema, Temporal and its workers, the API's
    readiness, open and overdue cases, the archive queue, the platform feed. Exit 1 when a part fails,
    3 when all run but one is degraded (a feed subscriber whose events do not go through), else 0."""
    from services.status import gather

    settings = settings_for(data_dir)
    report = asyncio.run(gather(settings, api_url))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        for line in report.lines():
            typer.echo(line)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema up to date, add departments and shipped items."""
    from banjian.db import make_engine
    from banjian.seed import ensure_base

    stored = ensure_base(make_engine(settings_for(data_dir, new_ok=True).db_url))
    typer.echo(f"schema up to date; new item versions: {', '.join(stored) or 'none'}")


@users_app.command("add")
def users_add(username: str, password: Annotated[str, typer.Option(help="at least 10 characters, letters and digits")],
              role: Annotated[list[str], typer.Option("--role", help="applicant, clerk, handler, approver, head, "
                                                      "lead, supervisor, auditor, admin, author (repeatable)")],
              department: Annotated[str | None, typer.Option(help="department code")] = None,
              id_number: Annotated[str | None, typer.Option(help="citizen id or credit code")] = None,
              name: Annotated[str | None, typer.Option(help="display name")] = None,
              data_dir: DataDir = None) -> None:
    """Add (or replace) a user."""
    from banjian.auth import add_user
    from banjian.db import make_engine, session_factory
    from banjian.errors import DomainError
    from banjian.migrate import upgrade
    from banjian.seed import ensure_departments

    engine = make_engine(settings_for(data_dir, new_ok=True).db_url)
    upgrade(engine)

    sessions = session_factory(engine)

    ensure_departments(sessions)
    try:
        user = add_user(sessions, username, password, role, department, id_number, name)
    except DomainError as e:
        fail(f"{e.field or ''}: {e.message} / {e.message_en}")
    from banjian.adminlog import record_admin

    record_admin(sessions, "cli", "user.add", user.username,
                 {"roles": user.roles, "department": user.department, "id_number_set": bool(user.id_number)})
    typer.echo(f"user {user.username} ({', '.join(user.roles)}{', ' + user.department if user.department else ''})")


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None) -> None:
    """Add a new payload key in front of the data dir's generated ring (old keys still decrypt).
    Restart `banjian up` (or every worker and API) for it to take effect."""
    from sqlmodel import Session

    from banjian.adminlog import record_admin
    from banjian.codec import rotate_generated_keys
    from banjian.db import make_engine
    from banjian.migrate import upgrade

    settings = settings_for(data_dir)
    if settings.payload_keys:
        fail("the payload keys come from BANJIAN_PAYLOAD_KEYS: rotate them there (new key first, old keys kept)")
    kid = rotate_generated_keys(settings.data_dir)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    record_admin(lambda: Session(engine), "cli", "key.rotate", "payload", {"new_key_id": kid})
    typer.echo(f"new payload key {kid}; restart the system to encrypt with it")


@calendar_app.command("load")
def calendar_load(year: int, file: Path, data_dir: DataDir = None) -> None:
    """Load a year's schedule from a JSON or YAML file ({holidays: [...], workdays: [...]}) and tell
    the open cases of a running system to re-compute their deadlines."""
    import yaml

    from services.calendar_admin import load_year

    settings = settings_for(data_dir)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as e:
        fail(f"banjian calendar load: cannot read {file}: {e.strerror or e}")
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        where = getattr(e, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        fail(f"banjian calendar load: {file} is not a YAML or JSON schedule{at}: "
             f"{' '.join(str(getattr(e, 'problem', None) or e).split())}")
    if not isinstance(data, dict):
        fail(f"banjian calendar load: {file} holds no schedule: expected {{holidays: [...], workdays: [...]}}")
    try:
        n = asyncio.run(load_year(settings, year, data, actor="cli"))
    except Exception as e:
        from banjian.errors import DomainError
        from banjian.ops.errors import database_failure

        if isinstance(e, DomainError):  # the schedule broke a rule: its field, in Chinese and English
            fail(f"banjian calendar load: {e.field + ': ' if e.field else ''}{e.message} / {e.message_en}")
        fail(database_failure(e, settings.database_url) or " ".join(str(getattr(e, "message", e)).split()))
    typer.echo(json.dumps({"year": year, "recomputed_cases": n}))


app.add_typer(accounts_app, name="accounts")
app.add_typer(subscribers_app, name="subscribers")
app.command("receiver")(receiver)


def main() -> None:  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    private_umask()  # every file banjian or its Temporal server creates: readable by its owner only
    app(prog_name="banjian")
    sys.exit(0)

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

from banjian.ops import StartupError
from banjian.ops.datadir import private_umask, secure
from banjian.settings import Settings
from services import replay

app = typer.Typer(help="banjian 办件: online government service cases on Temporal.", no_args_is_help=True)
users_app = typer.Typer(help="Users (用户).", no_args_is_help=True)
items_app = typer.Typer(help="Service item definitions (事项).", no_args_is_help=True)
calendar_app = typer.Typer(help="The working-day calendar (工作日历).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(items_app, name="items")
app.add_typer(calendar_app, name="calendar")
audit_app = typer.Typer(help="Audit (审计): replay case histories, verify the record chains.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(help="payload encryption keys", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data folder (default ./data or $BANJIAN_DATA_DIR)")]


def settings_for(data_dir: Path | None, **over) -> Settings:
    s = Settings()
    updates = {k: v for k, v in over.items() if v is not None}
    if data_dir is not None:
        updates["data_dir"] = data_dir
    s = s.model_copy(update=updates)
    # the data dir and everything written into it: owner only (0700 / 0600); what an older
    # version left readable is tightened by every command
    try:
        secure(s.data_dir)
    except StartupError:
        pass  # reported in one line by the command's own checks (`up`), or by the failing call
    return s


def run_loop(coro) -> None:
    """Run the main coroutine on uvloop where it is installed (a faster event loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def production_gate(settings: Settings, demo: bool = False) -> None:
    """Production mode (BANJIAN_ENV=production) refuses unsafe settings: one line, exit 1."""
    from banjian.production import refusal

    reason = refusal(settings)
    if reason is None and demo and settings.production:
        reason = "production mode refuses to start: --demo adds accounts with a published password"
    if reason:
        fail(reason)


@app.command()
def up(data_dir: DataDir = None, port: Annotated[int, typer.Option(help="API port")] = 8000,
       temporal_port: Annotated[int, typer.Option(help="Temporal server port")] = 7233,
       ui_port: Annotated[int | None, typer.Option(help="Temporal Web UI port (default T + 1000)")] = None,
       host: Annotated[str, typer.Option(help="API address")] = "127.0.0.1",
       demo: Annotated[bool, typer.Option("--demo", help="load demo departments, users and cases")] = False) -> None:
    """Start everything: the embedded Temporal server (or TEMPORAL_ADDRESS), a worker and the API."""
    from banjian.ops.errors import one_line_failure
    from services.stack import run_stack

    settings = settings_for(data_dir, port=port, temporal_port=temporal_port, ui_port=ui_port, host=host)
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
        report = take_backup(settings.data_dir, to, settings.database_url)
    except StartupError as e:
        fail(f"banjian backup: {e}")
    typer.echo(json.dumps(report.json(), ensure_ascii=False))


@app.command()
def restore(file: Annotated[Path, typer.Argument(help="a file written by banjian backup")],
            data_dir: Annotated[Path, typer.Option("--data-dir", help="the new data dir (absent or empty)")]) -> None:
    """Make a new data dir from a backup; `banjian up --data-dir` on it resumes every open case."""
    from banjian.ops import StartupError
    from banjian.ops.backup import restore as restore_backup
    from banjian.ops.datadir import private_umask

    private_umask()
    try:
        result = restore_backup(file, data_dir)
    except StartupError as e:
        fail(f"banjian restore: {e}")
    typer.echo(json.dumps(result, ensure_ascii=False))


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run a worker against TEMPORAL_ADDRESS (or the local server)."""
    import worker as worker_module

    settings = settings_for(data_dir)
    production_gate(settings)
    run_loop(worker_module.main(settings))


@app.command()
def archiver(data_dir: DataDir = None) -> None:
    """Build archive packages only (`banjian up` runs one at a lower CPU priority; its workers then sweep nothing)."""
    from services import archiver as archiver_module

    settings = settings_for(data_dir)
    production_gate(settings)
    run_loop(archiver_module.main(settings))


@app.command()
def api(data_dir: DataDir = None, port: int = 8000, host: str = "127.0.0.1") -> None:
    """Run the API alone (workers run elsewhere)."""
    import uvicorn

    from api.app import create_app
    from banjian.logs import configure_logging
    from services.stack import SHUTDOWN_GRACE_S

    settings = settings_for(data_dir, port=port, host=host)
    production_gate(settings)
    configure_logging(settings)
    uvicorn.run(create_app(settings), host=host, port=port, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema up to date, add departments and shipped items."""
    from banjian.db import make_engine
    from banjian.seed import ensure_base

    stored = ensure_base(make_engine(settings_for(data_dir).db_url))
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

    engine = make_engine(settings_for(data_dir).db_url)
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


@items_app.command("validate")
def items_validate(paths: list[Path]) -> None:
    """Check definition files (or folders); print every problem with its path and rule."""
    from banjian.items.validate import load_definition_file, load_directory
    from banjian.seed import DEPARTMENTS

    known = {d[0] for d in DEPARTMENTS}
    bad = 0
    for path in paths:
        if path.is_dir():
            _, problems = load_directory(path, known)
            files = {str(path / name): ps for name, ps in problems.items()}
            ok = [str(p) for p in sorted(path.glob("*.yaml")) if str(p) not in files and p.name not in problems]
        else:
            _, ps = load_definition_file(path, known)
            files, ok = ({str(path): ps}, []) if ps else ({}, [str(path)])
        for name in ok:
            typer.echo(f"ok    {name}")
        for name, ps in files.items():
            bad += 1
            for p in ps:
                typer.secho(f"error {name}: {p.path or '(file)'}: [{p.code}] {p.message} / {p.message_en}",
                            fg=typer.colors.RED)
    raise typer.Exit(1 if bad else 0)


def _authoring(data_dir: Path | None, as_user: str | None):
    """Drafts of the data dir's catalogue, and who acts: `--as USER` (an admin or author), else the
    command line as an admin of every department."""

    from banjian.auth import actor_of
    from banjian.catalog import Catalog
    from banjian.contracts import Actor
    from banjian.db import User, make_engine, session_factory
    from banjian.drafts import Drafts
    from banjian.enums import Role
    from banjian.seed import ensure_base

    engine = make_engine(settings_for(data_dir).db_url)
    ensure_base(engine)

    sessions = session_factory(engine)

    actor = Actor(username="cli", roles=[Role.ADMIN], display_name="命令行")
    if as_user is not None:
        with sessions() as session:
            user = session.get(User, as_user)
        if user is None:
            fail(f"no user {as_user}")
        actor = actor_of(user)
    return Drafts(Catalog(sessions), sessions), actor


def _print_problems(problems: list) -> None:
    for p in problems:
        typer.secho(f"error {p['path'] or '(file)'}: [{p['code']}] {p['message']} / {p['message_en']}",
                    fg=typer.colors.RED, err=True)


@items_app.command("draft")
def items_draft(file: Path,
                code: Annotated[str | None, typer.Option(help="item code (default: the file's `code`)")] = None,
                draft_id: Annotated[str | None, typer.Option("--draft-id", help="replace this draft")] = None,
                as_user: Annotated[str | None, typer.Option("--as", help="act as this admin or author")] = None,
                data_dir: DataDir = None) -> None:
    """Save a definition file as a draft (validated, never used by new cases); prints the draft as
    JSON. Exit status 1 if the draft has problems (it is stored all the same)."""
    import yaml

    from banjian.errors import DomainError

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        fail(f"{file}: {e}")
    if not isinstance(data, dict):
        fail(f"{file}: not an item definition (a mapping)")
    item_code = code or data.get("code")
    if not isinstance(item_code, str):
        fail("the file has no `code`: give --code")
    drafts, actor = _authoring(data_dir, as_user)
    try:
        draft = (drafts.update(actor, item_code, draft_id, data) if draft_id
                 else drafts.create(actor, item_code, data))
    except DomainError as e:
        fail(f"{e.field or ''}: {e.message} / {e.message_en}")
    typer.echo(json.dumps({k: draft[k] for k in ("draft_id", "code", "version", "problems")}, ensure_ascii=False))
    _print_problems(draft["problems"])
    raise typer.Exit(1 if draft["problems"] else 0)


@items_app.command("publish")
def items_publish(code: str, draft_id: str,
                  as_user: Annotated[str | None, typer.Option("--as", help="act as this admin or author")] = None,
                  data_dir: DataDir = None) -> None:
    """Publish a draft as the item's next version; prints `{"code", "version"}`. Exit status 1 with
    every problem if it has any (nothing is published then)."""
    from banjian.catalog import DefinitionProblems
    from banjian.errors import DomainError

    drafts, actor = _authoring(data_dir, as_user)
    try:
        definition = drafts.publish(actor, code, draft_id)
    except DefinitionProblems as e:
        _print_problems([p.to_dict() for p in e.problems])
        raise typer.Exit(1) from None
    except DomainError as e:
        fail(f"{e.field or ''}: {e.message} / {e.message_en}")
    typer.echo(json.dumps({"code": definition.code, "version": definition.version}))


@items_app.command("simulate")
def items_simulate(code: str, draft_id: str,
                   cases: Annotated[int, typer.Option(help="how many cases to simulate")] = 100,
                   profile: Annotated[Path | None, typer.Option(help="profile file (YAML or JSON)")] = None,
                   as_user: Annotated[str | None, typer.Option("--as", help="act as this admin or author")] = None,
                   data_dir: DataDir = None) -> None:
    """What-if: run CASES cases of a draft on the real workflow in virtual time (a running system's
    Temporal, a namespace of its own); prints the figures as JSON (as the simulate route)."""
    import yaml
    from pydantic import ValidationError

    from banjian.errors import DomainError
    from banjian.temporal import connect
    from banjian.whatif import Profile
    from services.whatif_run import simulate

    try:
        chosen = Profile.model_validate(yaml.safe_load(profile.read_text(encoding="utf-8")) or {}) if profile \
            else Profile()
    except (OSError, yaml.YAMLError, ValidationError) as e:
        fail(f"{profile}: {e}")
    drafts, actor = _authoring(data_dir, as_user)
    settings = settings_for(data_dir)

    async def run() -> dict:
        return await simulate(await connect(settings), settings, drafts.session_factory,
                              drafts.definition(actor, code, draft_id), cases, chosen)

    try:
        typer.echo(json.dumps(asyncio.run(run()), ensure_ascii=False))
    except DomainError as e:
        fail(f"{e.field or ''}: {e.message} / {e.message_en}")


@items_app.command("migrate")
def items_migrate(code: str,
                  from_version: Annotated[int, typer.Option("--from", help="the version the cases are on")],
                  to_version: Annotated[int, typer.Option("--to", help="the later version to move them to")],
                  dry_run: Annotated[bool, typer.Option("--dry-run", help="only list which cases can move")] = False,
                  as_user: Annotated[str | None, typer.Option("--as", help="act as this admin or author")] = None,
                  data_dir: DataDir = None) -> None:
    """Move the open cases of an item from one version to a later one (as the migrations route);
    prints `{"cases", "movable", "blocked", ...}` as JSON."""
    from banjian.errors import DomainError
    from banjian.rules import authorise_authoring
    from banjian.temporal import connect
    from services.version_moves_run import migrate

    drafts, actor = _authoring(data_dir, as_user)
    settings = settings_for(data_dir)

    async def run() -> dict:
        authorise_authoring(actor, drafts.catalog.current(code).department)
        return await migrate(await connect(settings), drafts.catalog, actor, code, from_version, to_version, dry_run)

    try:
        typer.echo(json.dumps(asyncio.run(run()), ensure_ascii=False))
    except DomainError as e:
        fail(f"{e.field or ''}: {e.message} / {e.message_en}")


@calendar_app.command("load")
def calendar_load(year: int, file: Path, data_dir: DataDir = None) -> None:
    """Load a year's schedule from a JSON or YAML file ({holidays: [...], workdays: [...]}) and tell
    the open cases of a running system to re-compute their deadlines."""
    import yaml

    from services.calendar_admin import load_year

    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    settings = settings_for(data_dir)
    try:
        n = asyncio.run(load_year(settings, year, data, actor="cli"))
    except Exception as e:
        fail(str(getattr(e, "message", e)))
    typer.echo(json.dumps({"year": year, "recomputed_cases": n}))


async def _audit_client(settings: Settings, timeout: float = 10):
    """A client of the running system's Temporal, or None (with a note) when it cannot be reached."""
    from banjian.temporal import connect

    try:
        return await asyncio.wait_for(connect(settings), timeout)
    except Exception as e:
        typer.secho(f"note: Temporal at {settings.temporal_target} unreachable ({e})", fg=typer.colors.YELLOW,
                    err=True)
        return None


@audit_app.command("replay")
def audit_replay(cases: Annotated[list[str] | None, typer.Argument(help="case ids (default: --all)")] = None,
                 all_: Annotated[bool, typer.Option("--all", help="every case Temporal holds")] = False,
                 sample: Annotated[int | None, typer.Option(help="a random sample of N cases", min=1)] = None,
                 as_json: Annotated[bool, typer.Option("--json", help="one JSON object per case")] = False,
                 data_dir: DataDir = None) -> None:
    """Replay case histories against the current workflow code: run before deploying new workflow
    code. Exit status 1 if any case does not replay cleanly."""

    from banjian.db import make_engine, session_factory

    if not cases and not all_ and sample is None:
        fail("name case ids, or use --all (or --sample N)")
    settings = settings_for(data_dir)

    engine = make_engine(settings.db_url)

    sessions = session_factory(engine)

    async def named(client):
        for c in cases or []:
            yield await replay.replay_case(client, sessions, c)  # falls back to the archived history

    async def run() -> tuple[int, int]:
        client = await _audit_client(settings)
        if client is None:
            fail("cannot replay without Temporal")
        ok = bad = 0
        reports = named(client) if cases else replay.replay_many(client, sample=sample)
        async for r in reports:
            ok, bad = (ok + 1, bad) if r.verified else (ok, bad + 1)
            if as_json:
                typer.echo(json.dumps(r.json(), ensure_ascii=False))
            elif r.verified:
                typer.echo(f"ok    {r.case_id}  ({r.events} events, {r.source})")
            else:
                typer.secho(f"FAIL  {r.case_id}  ({r.events} events, {r.source}): {r.error}", fg=typer.colors.RED)
        return ok, bad

    ok, bad = asyncio.run(run())
    if not as_json:
        typer.echo(f"{ok} replayed cleanly, {bad} failed")
    raise typer.Exit(1 if bad else 0)


@audit_app.command("verify")
def audit_verify(case: Annotated[str | None, typer.Argument(help="a case id (default: every case)")] = None,
                 as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
                 data_dir: DataDir = None) -> None:
    """Recompute the hash chain of a case's records (or of every case, and every signed daily chain
    head) and name the first altered record. Exit status 1 if anything fails."""
    from sqlmodel import select

    from banjian import audit
    from banjian.db import Case, make_engine, session_factory

    settings = settings_for(data_dir)
    engine = make_engine(settings.db_url)

    sessions = session_factory(engine)

    async def run() -> bool:
        client = await _audit_client(settings)
        with sessions() as session:
            ids = [case] if case else list(session.exec(select(Case.id).order_by(Case.id)).all())
        good = True
        for cid in ids:
            r = await audit.verify_case_full(client, sessions, cid, settings.data_dir)
            good &= r["verified"]
            if as_json:
                typer.echo(json.dumps({"case_id": cid, **r}, ensure_ascii=False))
            elif r["verified"]:
                typer.echo(f"ok    {cid}  ({r['records']} records; checked: {', '.join(r['checked'])})")
            else:
                f = r["first_altered"] or {}
                typer.secho(f"FAIL  {cid}: first altered record {f.get('seq')} ({f.get('action')}, {f.get('at')}): "
                            f"{r['reason']} — {r['findings'][0]['detail']}", fg=typer.colors.RED)
        if case is None:
            for h in audit.verify_heads(sessions, settings.data_dir):
                good &= h["verified"]
                if as_json:
                    typer.echo(json.dumps({"chain_head": h}, ensure_ascii=False))
                elif h["verified"]:
                    typer.echo(f"ok    chain head {h['day']}  ({h['records']} records)")
                else:
                    typer.secho(f"FAIL  chain head {h['day']}: {'; '.join(h['problems'])}", fg=typer.colors.RED)
        return good

    if case is not None:
        with sessions() as session:
            if session.get(Case, case) is None:
                fail(f"no case {case}")
    good = asyncio.run(run())
    raise typer.Exit(0 if good else 1)


@audit_app.command("seal")
def audit_seal(day: Annotated[str | None, typer.Option(help="seal this day (YYYY-MM-DD) now, even if not over")] = None,
               data_dir: DataDir = None) -> None:
    """Seal and sign the daily chain heads of every finished day not sealed yet (or one given day)."""
    from datetime import date

    from banjian import audit
    from banjian.db import make_engine, session_factory

    settings = settings_for(data_dir)
    engine = make_engine(settings.db_url)

    sessions = session_factory(engine)

    if day:
        try:
            d = date.fromisoformat(day)
        except ValueError:
            fail("--day must be YYYY-MM-DD")
        h = audit.seal_day(sessions, settings.data_dir, d)
        typer.echo(json.dumps({"day": d.isoformat(), "head": h.head, "records": h.records}))
    else:
        days = audit.seal_due(sessions, settings.data_dir)
        typer.echo(json.dumps({"sealed": [d.isoformat() for d in days]}))


from services.cli_platform import accounts_app, receiver, subscribers_app  # noqa: E402 (they use the helpers above)

app.add_typer(accounts_app, name="accounts")
app.add_typer(subscribers_app, name="subscribers")
app.command("receiver")(receiver)


def main() -> None:  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    private_umask()  # every file banjian or its Temporal server creates: readable by its owner only
    app(prog_name="banjian")
    sys.exit(0)

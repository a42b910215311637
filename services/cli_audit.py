"""`banjian audit …`: replay case histories against the workflow code, verify the record chains,
seal a day's chain heads."""
from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from banjian.settings import Settings
from services import replay
from services.cli_common import DataDir, fail, settings_for, temporal_unreachable

audit_app = typer.Typer(help="Audit (审计): replay case histories, verify the record chains.", no_args_is_help=True)


async def _audit_client(settings: Settings, timeout: float = 10, required: str | None = None):
    """A client of the running system's Temporal; when it cannot be reached, the command ends in one
    line (`required`: the command's name) or goes on without it after a one-line note."""
    from banjian.temporal import connect

    try:
        return await asyncio.wait_for(connect(settings), timeout)
    except Exception as e:
        if required:
            fail(f"banjian {required}: {temporal_unreachable(settings, e)}")
        typer.secho(f"note: {temporal_unreachable(settings, e)}; checking without the Temporal histories",
                    fg=typer.colors.YELLOW, err=True)
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
        client = await _audit_client(settings, required="audit replay")
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
    head) and name the first altered record; compare each case row with the state its workflow last
    recorded, and each archive package with its recorded digest. Exit status 1 if anything fails, 2 if
    nothing failed but some case could not be checked against its workflow history (Temporal not
    reachable, no archive package), 0 only when every check ran and passed."""
    from sqlmodel import select

    from banjian import audit
    from banjian.db import Case, make_engine, session_factory
    from banjian.lenient_rows import case_row
    from services.recorded_state import record_calls

    settings = settings_for(data_dir)
    engine = make_engine(settings.db_url)

    sessions = session_factory(engine)

    async def run() -> tuple[int, int, int, bool]:
        """(cases fully verified, verified only in part, failed, every chain head good)."""
        client = await _audit_client(settings)
        with sessions() as session:
            ids = [case] if case else list(session.exec(select(Case.id).order_by(Case.id)).all())
        ok = part = bad = 0
        heads_good = True
        for cid in ids:
            r = await audit.verify_case_full(client, sessions, cid, settings.data_dir, record_calls)
            if not r["verified"]:
                bad += 1
            elif r["not_checked"]:
                part += 1
            else:
                ok += 1
            if as_json:
                typer.echo(json.dumps({"case_id": cid, **r}, ensure_ascii=False))
            elif r["verified"] and r["not_checked"]:
                typer.secho(f"part  {cid}  ({r['records']} records; checked: {', '.join(r['checked'])}; "
                            f"NOT checked: {', '.join(r['not_checked'])} — {_no_history(client)})",
                            fg=typer.colors.YELLOW)
            elif r["verified"]:
                typer.echo(f"ok    {cid}  ({r['records']} records; checked: {', '.join(r['checked'])})")
            else:
                _fail_lines(cid, r)
        if case is None:
            for h in audit.verify_heads(sessions, settings.data_dir):
                heads_good &= h["verified"]
                if as_json:
                    typer.echo(json.dumps({"chain_head": h}, ensure_ascii=False))
                elif h["verified"]:
                    typer.echo(f"ok    chain head {h['day']}  ({h['records']} records)")
                else:
                    typer.secho(f"FAIL  chain head {h['day']}: {'; '.join(h['problems'])}", fg=typer.colors.RED)
        return ok, part, bad, heads_good

    if case is not None:
        with sessions() as session:
            if case_row(session, case) is None:  # a row altered past reading is still checked
                fail(f"no case {case}")
    ok, part, bad, heads_good = asyncio.run(run())
    if not as_json:
        line = f"{ok} verified, {part} verified only in part, {bad} failed"
        typer.echo(line + (" (their records were checked only against themselves, not against the workflow "
                           "history: not fully verified)" if part else ""))
    raise typer.Exit(1 if bad or not heads_good else VERIFY_INCOMPLETE if part else 0)


#: `audit verify`'s exit status when nothing failed but some case could be checked only in part
VERIFY_INCOMPLETE = 2


def _no_history(client: object) -> str:
    """Why a case's records were not compared with its workflow history."""
    if client is None:
        return "Temporal could not be reached, and the case has no archive package"
    return "Temporal holds no history of the case, and it has no archive package"


def _fail_lines(case_id: str, r: dict) -> None:
    """What failed for one case: the first altered record, then each finding that names no record
    (the case row, the archive package)."""
    record = next((f for f in r["findings"] if f["seq"] is not None), None)
    if record is not None:
        f = r["first_altered"] or {}
        typer.secho(f"FAIL  {case_id}: first altered record {f.get('seq')} ({f.get('action')}, {f.get('at')}): "
                    f"{r['reason']} — {record['detail']}", fg=typer.colors.RED)
    for f in r["findings"]:
        if f["seq"] is None:
            typer.secho(f"FAIL  {case_id}: {f['reason']} — {f['detail']}{_values(f)}", fg=typer.colors.RED)


def _values(f: dict) -> str:
    """For a case row that differs from its workflow: each field's recorded and stored value."""
    if f.get("reason") != "snapshot_differs" or not isinstance(f.get("temporal"), dict):
        return ""
    stored = f.get("read_model") or {}
    said = [f"{k}: workflow {json.dumps(v, ensure_ascii=False)}, database {json.dumps(stored.get(k), ensure_ascii=False)}"
            for k, v in list(f["temporal"].items())[:5]]
    return " (" + "; ".join(said) + ")"


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

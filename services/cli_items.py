"""`banjian items …`: check, draft, publish, simulate and migrate service item definitions (事项)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from banjian.items.yaml_text import DefinitionTextError, parse_definition_text
from services.cli_common import DataDir, fail, settings_for, temporal_unreachable

items_app = typer.Typer(help="Service item definitions (事项).", no_args_is_help=True)


@items_app.command("validate")
def items_validate(paths: list[Path], data_dir: DataDir = None) -> None:
    """Check definition files (or folders); print every problem with its path and rule. With
    `--data-dir`, each file is checked against that system's catalogue as
    a draft is (its departments, items, staff roles and calendar), as the next version of its item."""
    from banjian.items.validate import load_definition_file, load_directory
    from banjian.seed import DEPARTMENTS

    if data_dir is not None:
        raise typer.Exit(_validate_against(paths, data_dir))
    known = {code: name for code, name, _ in DEPARTMENTS}
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


def _validate_against(paths: list[Path], data_dir: Path) -> int:
    """`items validate --data-dir`: every YAML file (of the folders too) checked as a draft would be;
    1 when any has a problem."""
    drafts, _ = _authoring(data_dir, None)
    files = [f for p in paths for f in (sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p])]
    bad = 0
    for file in files:
        try:
            data = parse_definition_text(file.read_text(encoding="utf-8"), True)
        except (OSError, DefinitionTextError) as e:
            zh = e.zh if isinstance(e, DefinitionTextError) else str(e)
            problems = [{"path": "", "code": "unparsable", "message": zh, "message_en": str(e)}]
        else:
            code = data.get("code") if isinstance(data, dict) else None
            if not isinstance(code, str):
                problems = [{"path": "code", "code": "missing", "message": "定义须写明事项编码 code",
                             "message_en": "the definition names no code"}]
            else:
                version = drafts.catalog.next_version(code)
                problems = [p.to_dict() for p in drafts.catalog.problems({**data, "version": version})[1]]
        if not problems:
            typer.echo(f"ok    {file}")
            continue
        bad += 1
        for p in problems:
            typer.secho(f"error {file}: {p['path'] or '(file)'}: [{p['code']}] {p['message']} / {p['message_en']}",
                        fg=typer.colors.RED)
    return 1 if bad else 0


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
    from banjian.errors import DomainError

    try:
        data = parse_definition_text(file.read_text(encoding="utf-8"), True)
    except OSError as e:
        fail(f"{file}: {e}")
    except DefinitionTextError as e:
        fail(f"{file}: {e.zh} / {e}")
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


async def _client(settings):
    """The running system's Temporal client, or a one-line failure naming where it was looked for."""
    from banjian.temporal import connect

    try:
        return await connect(settings)
    except RuntimeError as e:  # the SDK's "Failed client connect: …"
        fail(f"banjian items: {temporal_unreachable(settings, e)}")


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
        return await simulate(await _client(settings), settings, drafts.session_factory,
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
    from services.version_moves_run import migrate

    drafts, actor = _authoring(data_dir, as_user)
    settings = settings_for(data_dir)

    async def run() -> dict:
        authorise_authoring(actor, drafts.catalog.current(code).department)
        return await migrate(await _client(settings), drafts.catalog, actor, code, from_version, to_version, dry_run)

    try:
        typer.echo(json.dumps(asyncio.run(run()), ensure_ascii=False))
    except DomainError as e:
        fail(f"{e.field or ''}: {e.message} / {e.message_en}")

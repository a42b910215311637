"""What every `banjian` subcommand shares: the `--data-dir` option, the settings it reads, the event
loop, and the one-line failure (services/cli.py assembles the commands)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from pydantic import AliasChoices, ValidationError

from banjian.ops import StartupError
from banjian.ops.datadir import DataDirLock, check_read_model_place, secure
from banjian.settings import Settings


class Cli(typer.Typer):
    """The `banjian` command: a command whose database does not answer (PostgreSQL down, a wrong
    password, no such database) ends with one line naming it, not a page of traceback."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as e:
            from banjian.ops.errors import database_failure

            try:
                url = Settings().database_url
            except ValidationError:
                url = None
            line = database_failure(e, url)
            if line is None:
                raise
            typer.secho(line, fg=typer.colors.RED, err=True)
            raise SystemExit(1) from None


DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data folder (default ./data or $BANJIAN_DATA_DIR)")]


def settings_for(data_dir: Path | None, *, new_ok: bool = False, **over) -> Settings:
    """The settings from the environment with the command's options; a bad environment value ends
    the command with one line naming the variable and the rule (never a traceback). Only the commands
    that start or prepare an installation (`new_ok`: up, worker, api, archiver, migrate, users add)
    make a data dir that does not exist; the others (backup, audit, accounts, subscribers, keys,
    calendar, items) refuse it in one line instead of answering from a new, empty one (a mistyped
    --data-dir, or a command run in another folder without it, whose default is ./data)."""
    try:
        s = Settings()
    except ValidationError as e:
        fail(f"banjian: {bad_environment(e)}")
    updates = {k: v for k, v in over.items() if v is not None}
    if data_dir is not None:
        updates["data_dir"] = data_dir
    s = s.model_copy(update=updates)
    if not new_ok and s.database_url is None and not s.data_dir.exists():
        fail(f"banjian: the data dir {s.data_dir} does not exist: give the --data-dir of the installation "
             "(or set BANJIAN_DATA_DIR); `banjian up` makes a new one")
    # the Temporal of the `banjian up` serving this data dir, unless the caller named one
    chosen = {"temporal_port", "temporal_address", "namespace"} & (s.model_fields_set | set(updates))
    running = None if chosen else DataDirLock(s.data_dir).running_endpoints()
    if running:
        s = s.model_copy(update={k: running[k] for k in ("temporal_port", "temporal_address", "namespace")
                                 if k in running and (running[k] is not None or k == "temporal_address")})
    try:
        check_read_model_place(s.data_dir, s.database_url)
    except StartupError as e:
        fail(f"banjian: {e}")
    # the data dir and everything written into it: owner only (0700 / 0600); what an older
    # version left readable is tightened by every command
    try:
        secure(s.data_dir)
    except StartupError:
        pass  # reported in one line by the command's own checks (`up`), or by the failing call
    return s


def env_names(field: str) -> str:
    """The environment variable(s) a Settings field is read from."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        return " or ".join(str(c) for c in alias.choices)
    if isinstance(alias, str):
        return alias
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def bad_environment(error: ValidationError) -> str:
    """One line for every setting the environment got wrong: its variable, the value, the rule."""
    parts = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        value = problem.get("input")
        secret = any(w in field for w in ("secret", "key", "token", "url", "address"))  # never echoed
        shown = f"={value!r}" if isinstance(value, str | int | float) and not secret else ""
        parts.append(f"{env_names(field)}{shown}: {problem['msg']}")
    return "bad setting in the environment: " + "; ".join(parts) + " (fix or unset it; docs/operations.md)"


def temporal_unreachable(settings: Settings, error: BaseException) -> str:
    """One line for a Temporal server that does not answer: where it was looked for, why in a few
    words (not the SDK's nested transport error), and what to check."""
    text = str(error)
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        why = "no answer in time"
    elif "Connection refused" in text:
        why = "connection refused"
    else:
        why = " ".join(text.splitlines()[0].split())[:160] if text else type(error).__name__
    return (f"cannot reach Temporal at {settings.temporal_target} ({why}): is `banjian up` running on this "
            "data dir? (or set BANJIAN_TEMPORAL_PORT / TEMPORAL_ADDRESS)")


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

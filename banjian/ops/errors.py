"""Turning any failure of an operator's command into one line (the traceback goes to a file)."""
from __future__ import annotations

import traceback
from datetime import datetime
from pathlib import Path

from banjian.ops import StartupError


def one_line_failure(error: BaseException, data_dir: Path, command: str) -> str:
    """The line to print for `error`: its own message for a StartupError; otherwise the error's type
    and first line, with the full traceback written to `data_dir/{command}-error.log`."""
    if isinstance(error, StartupError):
        return f"banjian {command}: {error}"
    first = (str(error).strip().splitlines() or [""])[0]
    where = ""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / f"{command}-error.log"
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {datetime.now().isoformat()}\n")
            f.write("".join(traceback.format_exception(error)))
        where = f" (details: {path})"
    except OSError:
        pass
    return f"banjian {command}: {type(error).__name__}: {first}{where}"


def database_failure(error: BaseException, database_url: str | None) -> str | None:
    """One line for a command that failed because its database did not answer (down, a wrong password,
    no such database, locked), naming the database (password masked) and the driver's first line; None
    for any other error."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(error, OperationalError | InterfaceError):
        return None
    reason = " ".join((str(error.orig or error).strip().splitlines() or [""])[0].split())
    if database_url is None:
        return f"banjian: the read model's database failed: {reason}"
    try:
        shown = make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        shown = "(not shown)"
    return f"banjian: cannot reach the database {shown} (DATABASE_URL): {reason}"

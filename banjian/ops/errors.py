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

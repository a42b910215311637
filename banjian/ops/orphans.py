"""The Temporal dev server left running by a `banjian up` that was killed outright (SIGKILL, the OOM
killer): the kernel ends `up`'s worker and archiver children (PR_SET_PDEATHSIG), but the server child
lives on, holding its port and `temporal.db`. The next `up` on the data dir would then refuse the
port, and a second server started on another port would share the SQLite store with the first.

Whoever holds the data dir's lock (`banjian.lock`) is the only `up` serving it, so any Temporal
server still running on that data dir's `temporal.db` is such an orphan: `up` stops it before its
start-up checks and says so in its log. Linux only (it reads `/proc`); elsewhere nothing is found.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from banjian.ops import StartupError

log = logging.getLogger("banjian")


def _cmdline(entry: Path) -> list[str]:
    try:
        raw = (entry / "cmdline").read_bytes()
    except OSError:  # ended meanwhile, or not ours to read
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def servers_on(temporal_db: Path, proc: Path = Path("/proc")) -> list[int]:
    """The pids of `temporal server start-dev` processes whose `--db-filename` is `temporal_db`."""
    wanted = str(temporal_db.resolve())
    found = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        cmd = _cmdline(entry)
        if "start-dev" not in cmd or "--db-filename" not in cmd:
            continue
        at = cmd.index("--db-filename") + 1
        if at < len(cmd) and os.path.abspath(cmd[at]) == wanted:
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_orphan_servers(temporal_db: Path, grace: float = 15.0) -> list[int]:
    """Stop every Temporal server still running on `temporal_db` (SIGTERM, then SIGKILL after
    `grace` seconds); the pids stopped. Call it only while holding the data dir's lock."""
    pids = servers_on(temporal_db)
    for pid in pids:
        log.warning("a Temporal server (pid %d) is still running on %s, left by a banjian up that was "
                    "killed; stopping it", pid, temporal_db)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        except PermissionError:
            raise StartupError(f"a Temporal server (pid {pid}) of another user still runs on {temporal_db}; "
                               f"stop it (kill {pid}) and start again") from None
    deadline = time.monotonic() + grace
    for pid in pids:
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _running(pid):
            log.warning("the Temporal server (pid %d) did not stop within %.0f s; killing it", pid, grace)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return pids

"""`banjian up` killed outright leaves its Temporal server child running on the data dir's
`temporal.db`; the next `up` on that data dir stops it instead of refusing the port (or, started on
another port, sharing the SQLite store with it)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from banjian.ops.orphans import servers_on, stop_orphan_servers


def fake_server(db: Path) -> subprocess.Popen:
    """A process whose command line reads like the dev server `up` starts on `db`."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "server", "start-dev",
                             "--port", "1", "--db-filename", str(db)])


def test_a_server_left_on_the_data_dirs_store_is_stopped_and_others_are_left_alone(tmp_path, caplog):
    mine, other = tmp_path / "d" / "temporal.db", tmp_path / "other" / "temporal.db"
    orphan, neighbour = fake_server(mine), fake_server(other)
    try:
        assert servers_on(mine) == [orphan.pid]
        with caplog.at_level("WARNING", logger="banjian"):
            assert stop_orphan_servers(mine, grace=10) == [orphan.pid]
        assert orphan.wait(5) is not None
        assert neighbour.poll() is None  # another data dir's server keeps running
        assert any(f"pid {orphan.pid}" in r.message and "left by a banjian up that was killed" in r.message
                   for r in caplog.records)
        assert servers_on(mine) == [] and stop_orphan_servers(mine) == []
    finally:
        for p in (orphan, neighbour):
            p.kill()
            p.wait(5)

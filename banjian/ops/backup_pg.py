"""`banjian backup` / `banjian restore` of a data dir whose read model is in PostgreSQL (DATABASE_URL)
while its Temporal store is the embedded server's `temporal.db`.

Consistency, as for SQLite (`banjian/ops/backup.py`): the Temporal store is held still (a write
transaction on `temporal.db`), and while it is held a REPEATABLE READ transaction on the read model
exports its snapshot (`pg_export_snapshot()`). Everything Temporal recorded was written to the read
model before (a transition's read-model write commits before its workflow task completes), so the
snapshot holds every acknowledged action; a read-model write whose workflow task Temporal had not
recorded yet runs again after a restore (the writes are idempotent upserts). Once `temporal.db` and
the other files are copied the hold ends, and `pg_dump --snapshot` dumps the read model as it was at
that instant while the system goes on (the exporting transaction stays open until it is done).

The dump is `read-model.pgdump` (pg_dump's custom format) in the backup file. `restore` wants
DATABASE_URL naming a new, empty database and loads it with `pg_restore --single-transaction`.
The PostgreSQL client tools (`pg_dump`, `pg_restore`, at least the server's major version) must be
on the PATH.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

from banjian.ops import StartupError

DUMP_FILE = "read-model.pgdump"
DUMP_TIMEOUT = 3600


def _url(database_url: str) -> URL:
    try:
        url = make_url(database_url)
    except Exception:
        raise StartupError("DATABASE_URL is not a database URL (e.g. postgresql+psycopg2://user@host/db)") from None
    if url.get_backend_name() != "postgresql":
        raise StartupError(f"DATABASE_URL {url.render_as_string(hide_password=True)} is not PostgreSQL")
    return url


def shown(database_url: str) -> str:
    """The URL as an operator may read it (password masked)."""
    return _url(database_url).render_as_string(hide_password=True)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """(a libpq connection URI without the password, the environment that carries the password)."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StartupError(f"{name} is not installed (the PostgreSQL client tools, at least the server's major "
                           "version, e.g. apt install postgresql-client)")
    return path


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=DUMP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise StartupError(f"{what} did not finish within {DUMP_TIMEOUT} s") from None
    if out.returncode != 0:
        lines = [ln.strip() for ln in (out.stderr or out.stdout).splitlines() if ln.strip()]
        raise StartupError(f"{what} failed: {lines[0] if lines else f'exit status {out.returncode}'}")


def _engine(database_url: str, **kw: Any) -> Any:
    url = _url(database_url)
    return create_engine(url, connect_args={"connect_timeout": 5}, **kw)


@contextmanager
def reader(database_url: str) -> Iterator[Connection]:
    """A connection to the read model in a read-only REPEATABLE READ transaction whose snapshot is
    not taken yet (`export_snapshot` takes it), open until the block ends."""
    engine = _engine(database_url)
    try:
        try:
            conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
            conn.execute(text("SET TRANSACTION READ ONLY"))
        except SQLAlchemyError as e:
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            raise StartupError(f"cannot reach the database {shown(database_url)} (DATABASE_URL): {reason}") from None
        try:
            yield conn
        finally:
            conn.close()
    finally:
        engine.dispose()


def export_snapshot(conn: Connection) -> str:
    """Take the transaction's snapshot now; its id, for `pg_dump --snapshot`."""
    return str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())


def case_counts(conn: Connection) -> dict[str, int]:
    """Cases by status in the snapshot (empty for a database without the table)."""
    try:
        with conn.begin_nested():
            return {str(s): int(n) for s, n in conn.execute(text("SELECT status, count(*) FROM cases GROUP BY status"))}
    except SQLAlchemyError:
        return {}


def dump(database_url: str, snapshot_id: str, out: Path) -> None:
    """pg_dump of the read model as of the exported snapshot, into `out` (custom format)."""
    uri, env = _libpq(_url(database_url))
    _run([_tool("pg_dump"), "--format=custom", "--compress=6", f"--snapshot={snapshot_id}", "--file", str(out),
          "--dbname", uri], env, f"pg_dump of {shown(database_url)}")


def _user_tables(conn: Connection) -> list[str]:
    return [str(r[0]) for r in conn.execute(text(
        "SELECT schemaname || '.' || tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 LIMIT 5"))]


def check_empty(database_url: str) -> None:
    """The database a backup is restored into answers and holds no table."""
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            tables = _user_tables(conn)
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise StartupError(f"cannot reach the database {shown(database_url)} (DATABASE_URL): {reason}") from None
    finally:
        engine.dispose()
    if tables:
        raise StartupError(f"the database {shown(database_url)} (DATABASE_URL) is not empty (it has {', '.join(tables)}"
                           f"{', …' if len(tables) == 5 else ''}); restore into a new database "
                           "(createdb NEW, then DATABASE_URL=…/NEW)")


def load(database_url: str, dump_file: Path) -> None:
    """pg_restore of a dump into the (empty) database, all or nothing."""
    uri, env = _libpq(_url(database_url))
    _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
          "--dbname", uri, str(dump_file)], env, f"pg_restore into {shown(database_url)}")


def after_restore(database_url: str, days: list[date], skip: int, archive_dir: Path) -> None:
    """What a restore changes in the loaded read model: each day's case sequence moves `skip` serials
    ahead (see `banjian.ops.backup._skip_case_serials`), and the archive packages are found in the
    new data dir's `archives/`."""
    engine = _engine(database_url)
    try:
        with engine.begin() as conn:
            if conn.execute(text("SELECT to_regclass('case_sequences')")).scalar() is not None:
                for d in days:
                    conn.execute(text("INSERT INTO case_sequences (day, last) VALUES (:day, :skip) "
                                      "ON CONFLICT (day) DO UPDATE SET last = case_sequences.last + excluded.last"),
                                 {"day": d, "skip": skip})
            if conn.execute(text("SELECT to_regclass('archives')")).scalar() is not None:
                conn.execute(text("UPDATE archives SET path = :prefix || case_id || '.zip'"),
                             {"prefix": f"{archive_dir}/"})
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise StartupError(f"cannot update the restored read model in {shown(database_url)}: {reason}") from None
    finally:
        engine.dispose()

"""`banjian backup` and `banjian restore`: one file holding a data dir, taken while the system runs.

Consistency: the read model (`banjian.db`) and the Temporal store (`temporal.db`) are held still
together for the moment of the copy: a write transaction is opened on each (read model first), so
no process can commit to either; SQLite's online backup API then copies each through a separate
reading connection (WAL mode lets it read beside the held write lock), and the other files of the
data dir (keys, archives, chain heads) are copied under the same hold. Writers wait meanwhile (the
read model's busy timeout, the Temporal server's `busy_timeout` pragma) and go on afterwards.
Every action acknowledged before the hold is in both files; a read-model write whose activity
Temporal had not yet recorded as done runs again after a restore (the writes are idempotent).

The file is a gzip'd tar with `manifest.json` (format, time, SHA-256 and size of every member, the
number of cases by status) at its root. `restore` checks every digest and each database's
integrity, and only then moves the new data dir into place.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from banjian.ops import StartupError, backup_pg
from banjian.ops.datadir import ENDPOINTS_FILE, LOCK_FILE, READ_MODEL_MARK, DataDirLock, secure
from banjian.ops.preflight import READ_MODEL_FILE, SQLITE_HEADER, TEMPORAL_FILE
from banjian.timefmt import CHINA

FORMAT = "banjian-backup"
VERSION = 1
MANIFEST = "manifest.json"
DATABASES = (READ_MODEL_FILE, TEMPORAL_FILE)
#: never copied: SQLite's side files (their content is in the backup copy), the lock and what the
#: running `up` says about itself, logs
SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".log")
SKIP_NAMES = {LOCK_FILE, ENDPOINTS_FILE}
SKIP_DIRS = {"pycache", "__pycache__"}  # compiled Python kept beside the data (PYTHONPYCACHEPREFIX)
HOLD_TIMEOUT = 30.0


@dataclass
class BackupReport:
    path: Path
    size: int
    hold_seconds: float
    total_seconds: float
    cases: dict[str, int]

    def json(self) -> dict[str, Any]:
        return {"backup": str(self.path), "size": self.size, "hold_seconds": round(self.hold_seconds, 3),
                "seconds": round(self.total_seconds, 3), "cases": self.cases}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _databases(data_dir: Path) -> list[str]:
    """The SQLite databases at the data dir's top: the read model, the Temporal store, then any other
    (a part added later keeps its own `*.db`), in the order they are held."""
    found = [p.name for p in sorted(data_dir.glob("*.db")) if p.is_file() and _is_sqlite(p)]
    return [n for n in DATABASES if n in found] + [n for n in found if n not in DATABASES]


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def _copyable(data_dir: Path, databases: list[str]) -> list[Path]:
    """The data dir's files other than the databases and their side files, relative paths."""
    out = []
    for root, dirs, files in os.walk(data_dir):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            rel = (Path(root) / name).relative_to(data_dir)
            if name in SKIP_NAMES or name.endswith(SKIP_SUFFIXES):
                continue
            if len(rel.parts) == 1 and any(name == d or name.startswith(f"{d}-") for d in databases):
                continue
            out.append(rel)
    return out


def _hold(path: Path) -> sqlite3.Connection:
    """A connection holding the database's write lock: nobody else commits until it rolls back."""
    conn = sqlite3.connect(path, timeout=HOLD_TIMEOUT, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as e:
        conn.close()
        raise StartupError(f"cannot hold {path} still for the backup: {e}") from None
    return conn


def _copy_database(src: Path, dst: Path) -> None:
    with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=HOLD_TIMEOUT)) as reader, \
            closing(sqlite3.connect(dst)) as out:
        reader.backup(out)
        out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file


def _case_counts(read_model: Path) -> dict[str, int]:
    try:
        with closing(sqlite3.connect(f"file:{read_model}?mode=ro", uri=True)) as conn:
            return dict(conn.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall())
    except sqlite3.Error:
        return {}


def backup(data_dir: Path, to: Path, database_url: str | None = None,
           temporal_address: str | None = None) -> BackupReport:
    """Write a consistent backup of `data_dir` (running or not) to the file `to`; with `database_url`
    (PostgreSQL) beside the embedded Temporal store, the read model as `pg_dump` of the same instant
    (banjian/ops/backup_pg.py)."""
    started = time.monotonic()
    data_dir = data_dir.resolve()
    if database_url is not None and temporal_address is None and not (data_dir / TEMPORAL_FILE).is_file():
        raise StartupError(f"{data_dir} is not a banjian data dir (no {TEMPORAL_FILE}; with TEMPORAL_ADDRESS "
                           "naming a cluster, back up PostgreSQL and the cluster's persistence instead)")
    if database_url is not None and temporal_address is not None:
        raise StartupError("the read model is in DATABASE_URL and Temporal is a cluster (TEMPORAL_ADDRESS), not "
                           f"the embedded server's {TEMPORAL_FILE} in the data dir: back up PostgreSQL and the "
                           "Temporal cluster's persistence instead (docs/operations.md)")
    if database_url is None and not (data_dir / READ_MODEL_FILE).is_file():
        raise StartupError(f"{data_dir} is not a banjian data dir (no {READ_MODEL_FILE})")
    to = to.resolve()
    if to.is_relative_to(data_dir):
        raise StartupError(f"the backup file {to} must not lie inside the data dir {data_dir}")
    if to.exists() and to.is_dir():
        raise StartupError(f"{to} is a folder; name the backup file (--to FILE)")
    to.parent.mkdir(parents=True, exist_ok=True)
    present = _databases(data_dir)
    if database_url is not None:  # a banjian.db left from before the data dir moved to PostgreSQL is not it
        present = [n for n in present if n != READ_MODEL_FILE]
    with tempfile.TemporaryDirectory(prefix=".banjian-backup-", dir=to.parent) as tmp, ExitStack() as pg:
        stage = Path(tmp)
        reader = pg.enter_context(backup_pg.reader(database_url)) if database_url is not None else None
        with ExitStack() as holds:
            for name in present:  # read model first, the order writers meet them in
                holds.callback((holds.enter_context(closing(_hold(data_dir / name)))).rollback)
            held = time.monotonic()
            # the read model in PostgreSQL as of this instant, while Temporal stands still
            snapshot = backup_pg.export_snapshot(reader) if reader is not None else None
            for name in present:
                _copy_database(data_dir / name, stage / name)
            others = _copyable(data_dir, [*present, READ_MODEL_FILE] if reader is not None else present)
            for rel in others:
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(data_dir / rel, stage / rel)
            hold_seconds = time.monotonic() - held
        members = [*present, *(str(r) for r in others)]
        if reader is not None and snapshot is not None and database_url is not None:
            cases = backup_pg.case_counts(reader)
            backup_pg.dump(database_url, snapshot, stage / backup_pg.DUMP_FILE)
            pg.close()
            members.append(backup_pg.DUMP_FILE)
        else:
            cases = _case_counts(stage / READ_MODEL_FILE)
        manifest = {"format": FORMAT, "version": VERSION, "created_at": datetime.now(UTC).isoformat(),
                    "source": str(data_dir), "cases": cases,
                    "read_model": "postgresql" if database_url is not None else "sqlite",
                    "files": {m: {"sha256": _sha256(stage / m), "size": (stage / m).stat().st_size}
                              for m in members}}
        (stage / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        partial = to.with_name(f".{to.name}.partial")
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            tar.add(stage / MANIFEST, arcname=MANIFEST)
            for m in members:
                tar.add(stage / m, arcname=m)
        partial.chmod(0o600)
        os.replace(partial, to)
    return BackupReport(to, to.stat().st_size, hold_seconds, time.monotonic() - started, cases)


def _check_integrity(path: Path) -> None:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        row = conn.execute("PRAGMA integrity_check(1)").fetchone()
    if not row or row[0] != "ok":
        raise StartupError(f"the backup's {path.name} is damaged ({' '.join(str(row and row[0]).split())})")


#: serials a restore skips on each day from the backup's to the day after the restore
RESTORE_SERIAL_SKIP = 1_000_000


def _serial_days(since: datetime, now: datetime | None = None) -> list[date]:
    """The days whose case sequence a restore moves ahead: from the backup's day to the day after the
    restore (at most 400)."""
    first = since.astimezone(CHINA).date()
    last = (now or datetime.now(UTC)).astimezone(CHINA).date() + timedelta(days=1)
    return [first + timedelta(days=n) for n in range(min((last - first).days, 400) + 1)]


def _skip_case_serials(read_model: Path, since: datetime, now: datetime | None = None) -> int:
    """The system that was backed up may have drawn case numbers after the backup: numbers given to
    applicants and reported to subscribers (event ids `{case_id}-{seq}`), lost with the cases they
    named. The restored system must never draw them again, so each day's sequence (`case_sequences`)
    from the backup's day to the day after this restore moves `RESTORE_SERIAL_SKIP` ahead. The number
    of days changed."""
    if not read_model.is_file():
        return 0
    days = _serial_days(since, now)
    with closing(sqlite3.connect(read_model)) as conn, conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'case_sequences'").fetchone() is None:
            return 0  # a read model from before case numbers
        conn.executemany("INSERT INTO case_sequences (day, last) VALUES (?, ?) "
                         "ON CONFLICT (day) DO UPDATE SET last = last + excluded.last",
                         [(d.isoformat(), RESTORE_SERIAL_SKIP) for d in days])
    return len(days)


def _relocate_archives(read_model: Path, archive_dir: Path) -> None:
    """The read model records each archive package's file by its absolute path, which named the backed-up
    data dir: the restored system reads its own copies (`archive_dir/{case_id}.zip`), also once the
    original data dir is gone."""
    if not read_model.is_file():
        return
    with closing(sqlite3.connect(read_model)) as conn, conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'archives'").fetchone():
            conn.execute("UPDATE archives SET path = ? || case_id || '.zip'", (f"{archive_dir}/",))


def _read_model_target(file: Path, manifest: dict[str, Any], database_url: str | None) -> str | None:
    """The PostgreSQL database a backup's read model goes into (None: SQLite, in the data dir)."""
    in_postgres = manifest.get("read_model") == "postgresql"
    if in_postgres and database_url is None:
        raise StartupError(f"{file} holds a read model from PostgreSQL: set DATABASE_URL to a new, empty database "
                           "to restore it into (createdb NEW)")
    if not in_postgres and database_url is not None:
        raise StartupError(f"{file} holds an SQLite read model (banjian.db, restored into the data dir): unset "
                           "DATABASE_URL")
    if database_url is not None:
        backup_pg.check_empty(database_url)
    return database_url


def restore(file: Path, data_dir: Path, database_url: str | None = None) -> dict[str, Any]:
    """Make the data dir `data_dir` (new, or an empty folder) from a backup file; a backup whose read
    model was in PostgreSQL loads it into `database_url` (a new, empty database)."""
    started = time.monotonic()
    data_dir = data_dir.resolve()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        if data_dir.is_dir() and DataDirLock(data_dir).in_use():
            raise StartupError(f"the data dir {data_dir} is in use by a running banjian up; restore into a new one")
        raise StartupError(f"{data_dir} is not empty; restore into a new data dir (--data-dir NEW)")
    if not file.is_file():
        raise StartupError(f"no backup file {file}")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    try:
        try:
            with tarfile.open(file, "r:*") as tar:
                tar.extractall(stage, filter="data")
        except (tarfile.TarError, OSError, EOFError) as e:
            raise StartupError(f"{file} is not a readable banjian backup ({e})") from None
        try:
            manifest = json.loads((stage / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise StartupError(f"{file} is not a banjian backup (no {MANIFEST})") from None
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise StartupError(f"{file}: unknown backup format {manifest.get('format')} {manifest.get('version')}")
        target = _read_model_target(file, manifest, database_url)
        files: dict[str, dict[str, Any]] = manifest["files"]
        for name, meta in files.items():
            path = stage / name
            if not path.is_file() or _sha256(path) != meta["sha256"]:
                raise StartupError(f"{file}: {name} does not match its digest in the manifest (altered or cut short)")
        extra = {str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()} - {*files, MANIFEST}
        if extra:
            raise StartupError(f"{file}: files not in the manifest: {', '.join(sorted(extra))}")
        for name in files:
            if "/" not in name and name.endswith(".db") and _is_sqlite(stage / name):
                _check_integrity(stage / name)
        (stage / MANIFEST).unlink()
        since = datetime.fromisoformat(manifest["created_at"])
        if target is not None:
            backup_pg.load(target, stage / backup_pg.DUMP_FILE)
            (stage / backup_pg.DUMP_FILE).unlink()
            backup_pg.after_restore(target, _serial_days(since), RESTORE_SERIAL_SKIP, data_dir / "archives")
            (stage / READ_MODEL_MARK).write_text(backup_pg.shown(target) + "\n")
        else:
            _skip_case_serials(stage / READ_MODEL_FILE, since)
            _relocate_archives(stage / READ_MODEL_FILE, data_dir / "archives")
        secure(stage)
        if data_dir.exists():
            data_dir.rmdir()
        os.replace(stage, data_dir)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return {"data_dir": str(data_dir), "created_at": manifest["created_at"], "cases": manifest.get("cases", {}),
            "files": len(files), "seconds": round(time.monotonic() - started, 3),
            **({"database": backup_pg.shown(target)} if target is not None else {})}

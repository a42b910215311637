"""The data dir: private to its owner (0700, files 0600) and used by one `banjian up` at a time.

The lock is an advisory `flock` on `banjian.lock` holding the owner's pid: the kernel releases it
when the process ends, however it ends, so the lock of a dead process is taken over without
asking; the pid is only there to tell the operator who holds it.

Beside it, the holder writes `banjian.endpoints.json`: where its Temporal server listens (and its
namespace). The other commands on the data dir (`items simulate|migrate`, `calendar load`, `audit
replay|verify`) read it while the lock is held, so they reach the running system's Temporal — not
a default port where nothing, or another system, listens. A file left behind by a process that
died is ignored: the lock is free then.
"""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from banjian.ops import StartupError

LOCK_FILE = "banjian.lock"
ENDPOINTS_FILE = "banjian.endpoints.json"
#: where the read model of a data dir served with DATABASE_URL lives (the URL, password masked)
READ_MODEL_MARK = "read-model.url"
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> None:
    """Files and folders this process (and its children, e.g. the Temporal server) creates are
    readable by their owner only: citizens' data never lies open to other local users."""
    os.umask(0o077)


#: what banjian itself keeps at the top of a data dir (docs/operations.md "Start, stop, restart"):
#: files by name or name prefix (SQLite's side files, logs such as up-error.log), and folders
OWN_FILE_PREFIXES = ("banjian.", "temporal.", "read-model.")
OWN_FILE_NAMES = frozenset({"secret.key", "system-sm2.key", "payload.keys", "payment.key", "progress.key"})
OWN_FILE_SUFFIXES = ("-error.log",)
OWN_DIRS = frozenset({"archives", "chain-heads", "files"})


def _own_entry(path: Path) -> bool:
    """Whether a top-level entry of a data dir is one banjian made: only those are tightened, so a
    --data-dir given by mistake (a home folder, /srv) never has its scripts and folders chmod'ed."""
    name = path.name
    if path.is_symlink():
        return False
    if path.is_dir():
        return name in OWN_DIRS
    return name in OWN_FILE_NAMES or name.startswith(OWN_FILE_PREFIXES) or name.endswith(OWN_FILE_SUFFIXES)


def secure(data_dir: Path) -> None:
    """Create the data dir 0700 and bring what banjian keeps in it to 0700 (folders) and 0600 (files);
    anything else in the folder is left as it is, and so is a folder that holds nothing of banjian's."""
    private_umask()
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    except FileExistsError:
        raise StartupError(f"the data dir {data_dir} is not a folder") from None
    except OSError as e:
        raise StartupError(f"cannot create the data dir {data_dir}: {e.strerror}") from None
    if not data_dir.is_dir():
        raise StartupError(f"the data dir {data_dir} is not a folder")
    try:
        entries = list(data_dir.iterdir())
        own = [top for top in entries if _own_entry(top)]
        if own or not entries:  # a data dir, or a new one: not a folder of other things named by mistake
            data_dir.chmod(DIR_MODE)
        for top in own:
            top.chmod(DIR_MODE if top.is_dir() else FILE_MODE)
            if not top.is_dir():
                continue
            for root, dirs, files in os.walk(top):
                for d in dirs:
                    (Path(root) / d).chmod(DIR_MODE)
                for f in files:
                    p = Path(root) / f
                    if not p.is_symlink():
                        p.chmod(FILE_MODE)
    except PermissionError as e:
        raise StartupError(f"cannot make {e.filename} private (chmod): not its owner") from None
    except OSError as e:  # a read-only file system, an I/O error
        raise StartupError(f"cannot write to the data dir {data_dir} ({e.strerror or e}); make it writable "
                           "or choose another --data-dir") from None


class DataDirLock:
    """`with DataDirLock(dir):` — this process serves the data dir; another `banjian up` on it fails."""

    def __init__(self, data_dir: Path, endpoints: dict[str, Any] | None = None) -> None:
        self.path = data_dir / LOCK_FILE
        self.endpoints_path = data_dir / ENDPOINTS_FILE
        self.endpoints = endpoints  # written beside the lock while it is held (see the module doc)
        self.file: IO[str] | None = None

    def holder(self) -> int | None:
        """The pid written by the holder, if readable."""
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        try:
            f = open(self.path, "a+")  # held open for the life of the process
        except OSError as e:
            raise StartupError(f"cannot write to the data dir {self.path.parent} ({e.strerror or e}); make it "
                               "writable or choose another --data-dir") from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            pid = self.holder()
            who = f"pid {pid}" if pid else "another process"
            raise StartupError(f"the data dir {self.path.parent.resolve()} is in use by another banjian up "
                               f"({who}); stop it or choose another --data-dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self.file = f
        if self.endpoints is not None:
            tmp = self.endpoints_path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"pid": os.getpid(), **self.endpoints}), encoding="utf-8")
            tmp.replace(self.endpoints_path)

    def release(self) -> None:
        if self.file is not None:
            if self.endpoints is not None:
                self.endpoints_path.unlink(missing_ok=True)
            try:
                self.file.seek(0)
                self.file.truncate()
            finally:
                fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
                self.file.close()
                self.file = None

    def in_use(self) -> bool:
        """True while some process holds the lock (checked without taking it for long)."""
        if not self.path.exists():
            return False
        with open(self.path) as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return False

    def running_endpoints(self) -> dict[str, Any] | None:
        """What the `banjian up` serving the data dir wrote about itself, or None when no process
        holds the lock (a file left by a process that died is stale) or the file is unreadable."""
        if not self.in_use():
            return None
        try:
            data = json.loads(self.endpoints_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _same_database(marked: str, url: Any) -> bool:
    """Whether the mark (a URL, password masked) names the database `url` names: the same server, port,
    database, user and options, whatever the driver and password."""
    from sqlalchemy.engine import make_url

    def key(u: Any) -> tuple[Any, ...]:
        port = u.port or (5432 if u.get_backend_name() == "postgresql" else None)
        return (u.get_backend_name(), (u.host or "").lower(), port, u.database, u.username,
                tuple(sorted((str(k), str(v)) for k, v in u.query.items())))

    try:
        return key(make_url(marked)) == key(url)
    except Exception:  # a mark that is no URL names nothing this could be
        return False


def _sqlite_holds_cases(path: Path) -> bool:
    import sqlite3

    if not path.is_file():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT EXISTS (SELECT 1 FROM cases)").fetchone()[0] == 1
        finally:
            conn.close()
    except sqlite3.Error:  # no table, not a database: nothing that would be left behind
        return False


def check_read_model_place(data_dir: Path, database_url: str | None) -> None:
    """A data dir once served with DATABASE_URL keeps its read model in that database: a command run
    on it without DATABASE_URL would quietly use (and create) an empty SQLite read model beside the
    Temporal store instead, and one with DATABASE_URL naming another database would serve (or fill)
    that one, beside this data dir's Temporal store. A command with DATABASE_URL (other than SQLite)
    marks the data dir; anything without it, or with another database, on a marked data dir refuses."""
    from sqlalchemy.engine import make_url

    mark = data_dir / READ_MODEL_MARK
    try:
        where: str | None = mark.read_text().strip()
    except OSError:
        where = None
    if database_url is None:
        if where is None:
            return
        raise StartupError(f"the data dir {data_dir} keeps its read model in {where}: set DATABASE_URL "
                           f"(with its password) for every banjian command on it; if that database is gone for "
                           f"good and the data dir should use SQLite again, delete {mark}")
    try:
        url = make_url(database_url)
    except Exception:  # a bad URL: reported by the command's own checks
        return
    if where is None and url.get_backend_name() != "sqlite" and _sqlite_holds_cases(data_dir / "banjian.db"):
        raise StartupError(f"the data dir {data_dir} keeps its read model, with its cases, in {data_dir / 'banjian.db'} "
                           "(SQLite): unset DATABASE_URL (a read model does not move from SQLite to PostgreSQL)")
    if where and not _same_database(where, url):
        raise StartupError(f"the data dir {data_dir} keeps its read model in {where}, not in "
                           f"{url.render_as_string(hide_password=True)} (DATABASE_URL): set DATABASE_URL to that "
                           f"database; if the read model moved to the other one for good, delete {mark} first")
    try:
        if data_dir.is_dir() and url.get_backend_name() != "sqlite":
            mark.write_text(url.render_as_string(hide_password=True) + "\n")
    except OSError:  # a read-only data dir: reported by the command's own checks
        pass

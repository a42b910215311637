"""Checks run by `banjian up` before it starts anything, each failing with one line that names the
cause and the way out: a port taken (and the option that moves it), a database file that cannot
be opened, a read model missing beside a Temporal store that holds cases, an unreachable
PostgreSQL (`DATABASE_URL`) or Temporal cluster (`TEMPORAL_ADDRESS`).
"""
from __future__ import annotations

import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from banjian.ops import StartupError
from banjian.settings import Settings

SQLITE_HEADER = b"SQLite format 3\x00"
READ_MODEL_FILE = "banjian.db"
TEMPORAL_FILE = "temporal.db"


@dataclass(frozen=True)
class Port:
    number: int
    what: str      # "the API", "the Temporal server", ...
    option: str    # the option that moves it


def ports(settings: Settings, embedded: bool) -> list[Port]:
    """Every port `banjian up` listens on (the dev server's HTTP and metrics ports are picked free
    by the server itself)."""
    out = [Port(settings.port, "the API", "--port")]
    if embedded:
        ui_option = "--ui-port" if settings.ui_port else "--ui-port (default --temporal-port + 1000)"
        out += [Port(settings.temporal_port, "the Temporal server", "--temporal-port"),
                Port(settings.temporal_ui_port, "the Temporal Web UI", ui_option)]
    return out


def port_taken(port: int, host: str = "127.0.0.1") -> str | None:
    """Why the port cannot be listened on, or None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
        except OSError as e:
            return e.strerror or str(e)
    return None


def check_ports(settings: Settings, embedded: bool) -> None:
    seen: dict[int, Port] = {}
    for p in ports(settings, embedded):
        if not 1 <= p.number <= 65535:
            raise StartupError(f"port {p.number} for {p.what} is not a port number (1-65535); set {p.option}")
        if p.number in seen:
            first = seen[p.number]
            raise StartupError(f"port {p.number} is asked for by both {first.what} ({first.option}) and "
                               f"{p.what}; move one with {p.option}")
        seen[p.number] = p
    for p in seen.values():
        host = settings.host if p.option == "--port" else "127.0.0.1"
        why = port_taken(p.number, host)
        if why is not None:
            raise StartupError(f"port {p.number} for {p.what} is taken ({why.lower()}); "
                               f"choose another with {p.option}")


def check_sqlite(path: Path, what: str) -> None:
    """The file is an SQLite database that opens and passes a quick check (absent is fine)."""
    if not path.exists():
        return
    if not path.is_file():
        raise StartupError(f"{what} {path} is not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as e:
        raise StartupError(f"cannot read {what} {path}: {e.strerror}") from None
    if head and head != SQLITE_HEADER:
        raise StartupError(f"{what} {path} is not an SQLite database (corrupt?); restore it from a backup "
                           "(banjian restore)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            row = conn.execute("PRAGMA quick_check(1)").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise StartupError(f"{what} {path} cannot be opened ({' '.join(str(e).split())}); restore it from a backup "
                           "(banjian restore)") from None
    if not row or row[0] != "ok":
        detail = " ".join(str(row[0]).split()) if row else "no answer"
        raise StartupError(f"{what} {path} is damaged ({detail}); restore it from "
                           "a backup (banjian restore)")


def check_databases(settings: Settings, embedded: bool) -> None:
    data = settings.data_dir.resolve()
    temporal_db = data / TEMPORAL_FILE
    if embedded:
        check_sqlite(temporal_db, "the Temporal store")
    if settings.database_url is None:
        read_model = data / READ_MODEL_FILE
        if embedded and not read_model.exists() and temporal_db.exists() and temporal_db.stat().st_size > 0:
            raise StartupError(f"the read model {read_model} is missing while {temporal_db} holds the cases; "
                               "restore the data dir from a backup (banjian restore)")
        check_sqlite(read_model, "the read model")
    else:
        check_database_url(settings.database_url)
        if embedded and not (temporal_db.exists() and temporal_db.stat().st_size > 0):
            check_read_model_unclaimed(settings.database_url, temporal_db)


def check_read_model_unclaimed(url: str, temporal_db: Path) -> None:
    """A new embedded Temporal store beside a read model that holds cases: the database is another data
    dir's (its workflows are in that one's store; served from here, its cases could not move and this
    system's archiver and workers would write into that system's records), or this data dir lost its
    Temporal store."""
    parsed = make_url(url)
    engine = create_engine(parsed, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('cases')")).scalar() is None:
                return
            cases = int(conn.execute(text("SELECT count(*) FROM cases")).scalar_one())
    except SQLAlchemyError:
        return  # not PostgreSQL, or no answer: the read model's own checks report it
    finally:
        engine.dispose()
    if cases:
        raise StartupError(f"the read model {parsed.render_as_string(hide_password=True)} (DATABASE_URL) holds "
                           f"{cases} cases but {temporal_db} holds none: that database belongs to another data dir "
                           "(give a new data dir a new database), or this data dir lost its Temporal store "
                           "(restore the data dir and the database from a backup: banjian restore)")


def check_database_url(url: str, timeout: int = 5) -> None:
    """DATABASE_URL names a database that answers."""
    try:
        parsed = make_url(url)
    except Exception:
        raise StartupError("DATABASE_URL is not a database URL (e.g. postgresql+psycopg2://user@host/db)") from None
    shown = parsed.render_as_string(hide_password=True)
    args = {"connect_timeout": timeout} if parsed.get_backend_name() == "postgresql" else {}
    try:
        engine = create_engine(parsed, connect_args=args)
    except Exception as e:  # a driver that is not installed, an unknown dialect
        raise StartupError(f"cannot use the database {shown} (DATABASE_URL): {type(e).__name__}: {e}; "
                           "banjian's PostgreSQL driver is psycopg2: postgresql+psycopg2://user@host:5432/db") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StartupError(f"cannot reach the database {shown} (DATABASE_URL): {reason}") from None
    except Exception as e:  # a driver that is not installed, a bad option
        raise StartupError(f"cannot use the database {shown} (DATABASE_URL): {e}") from None
    finally:
        engine.dispose()


def check_temporal_address(address: str, timeout: float = 5) -> None:
    """TEMPORAL_ADDRESS (host:port) accepts connections."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise StartupError(f"TEMPORAL_ADDRESS {address!r} is not host:port")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise StartupError(f"cannot reach the Temporal server at {address} (TEMPORAL_ADDRESS): "
                           f"{e.strerror or e}") from None


def check_all(settings: Settings) -> None:
    """Everything `banjian up` needs, checked before it starts anything."""
    embedded = settings.temporal_address is None
    check_ports(settings, embedded)
    check_databases(settings, embedded)
    if not embedded:
        assert settings.temporal_address is not None
        check_temporal_address(settings.temporal_address)

"""`banjian up` that cannot start says why in one line and exits non-zero, before it starts
anything: a port taken or asked for twice, a data dir in use, a database file that cannot be
opened or is missing, an unreachable PostgreSQL. A stale lock of a dead process is taken over."""
from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from banjian.ops.datadir import LOCK_FILE, DataDirLock
from banjian.ops.preflight import port_taken
from banjian.settings import Settings
from services.cli import app
from tests.test_durability import BANJIAN, ROOT, env, free_port

runner = CliRunner()


def up(data_dir: Path, port: int, temporal_port: int, *extra: str, environ: dict | None = None):
    return runner.invoke(app, ["up", "--data-dir", str(data_dir), "--port", str(port), "--temporal-port",
                               str(temporal_port), *extra], env=environ)


def one_line(result) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_ui_port_default_on_the_api_port_names_the_port_and_option(tmp_path):
    # make up PORT=8811 TEMPORAL_PORT=7811: the UI's default T + 1000 is the API's port
    taken: set[int] = set()
    api = free_port(taken)
    while port_taken(api - 1000) is not None:
        api = free_port(taken)
    r = subprocess.run([str(BANJIAN), "up", "--data-dir", str(tmp_path / "d"), "--port", str(api),
                        "--temporal-port", str(api - 1000)], capture_output=True, text=True, env=env(), cwd=ROOT,
                       timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr + r.stdout
    lines = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, r.stdout + r.stderr
    assert str(api) in lines[0] and "--ui-port" in lines[0] and "Temporal Web UI" in lines[0]


@pytest.mark.parametrize("which,option", [("api", "--port"), ("temporal", "--temporal-port"), ("ui", "--ui-port")])
def test_a_taken_port_is_named_with_its_option(tmp_path, which, option):
    taken: set[int] = set()
    ports = {"api": free_port(taken), "temporal": free_port(taken), "ui": free_port(taken)}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[which]))
        holder.listen()
        r = up(tmp_path / "d", ports["api"], ports["temporal"], "--ui-port", str(ports["ui"]))
    line = one_line(r)
    assert f"port {ports[which]}" in line and f"with {option}" in line and "taken" in line
    assert not (tmp_path / "d" / "temporal.db").exists()  # nothing was started


def test_a_data_dir_in_use_names_the_holder(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    taken: set[int] = set()
    with DataDirLock(data):
        line = one_line(up(data, free_port(taken), free_port(taken)))
    assert "in use by another banjian up" in line and f"pid {os.getpid()}" in line and str(data) in line


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / LOCK_FILE).write_text("999999\n")  # written by a process that died without cleaning up
    taken: set[int] = set()
    api = free_port(taken)
    with socket.socket() as holder:  # stop right after the lock, at the port check
        holder.bind(("127.0.0.1", api))
        holder.listen()
        line = one_line(up(data, api, free_port(taken)))
    assert "another banjian up" not in line and f"port {api}" in line
    assert (data / LOCK_FILE).read_text() == ""  # released on exit
    assert not DataDirLock(data).in_use()


@pytest.mark.parametrize("name,what", [("banjian.db", "the read model"), ("temporal.db", "the Temporal store")])
def test_a_corrupt_database_file_is_named(tmp_path, name, what):
    data = tmp_path / "d"
    data.mkdir()
    (data / name).write_bytes(b"this is not a database" * 100)
    taken: set[int] = set()
    line = one_line(up(data, free_port(taken), free_port(taken)))
    assert what in line and str(data / name) in line and "banjian restore" in line


def test_a_damaged_sqlite_file_is_named(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    path = data / "banjian.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    raw = bytearray(path.read_bytes())
    raw[4096 * 2: 4096 * 4] = b"\xff" * 8192  # overwrite table pages, keep the header
    path.write_bytes(bytes(raw))
    taken: set[int] = set()
    line = one_line(up(data, free_port(taken), free_port(taken)))
    assert "the read model" in line and str(path) in line


def test_a_missing_read_model_beside_the_cases_is_named(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    with sqlite3.connect(data / "temporal.db") as conn:
        conn.execute("CREATE TABLE executions (id TEXT)")
    taken: set[int] = set()
    line = one_line(up(data, free_port(taken), free_port(taken)))
    assert "is missing" in line and str(data / "banjian.db") in line


def test_an_unreachable_postgresql_is_named(tmp_path):
    taken: set[int] = set()
    dead = free_port(taken)  # nothing listens there
    url = f"postgresql+psycopg2://postgres:secret-pw@127.0.0.1:{dead}/banjian"
    line = one_line(up(tmp_path / "d", free_port(taken), free_port(taken), environ={"DATABASE_URL": url}))
    assert "DATABASE_URL" in line and f"127.0.0.1:{dead}" in line and "secret-pw" not in line


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgresql_url_without_a_driver_uses_psycopg2(tmp_path, scheme):
    """`DATABASE_URL=postgresql://…` (as PostgreSQL's own tools write it) is the installed psycopg2,
    not SQLAlchemy 2.1's default psycopg 3, which is not installed."""
    taken: set[int] = set()
    dead = free_port(taken)
    url = f"{scheme}://postgres:secret-pw@127.0.0.1:{dead}/banjian"
    assert Settings(database_url=url).db_url == f"postgresql+psycopg2://postgres:secret-pw@127.0.0.1:{dead}/banjian"
    line = one_line(up(tmp_path / "d", free_port(taken), free_port(taken), environ={"DATABASE_URL": url}))
    assert line.startswith(f"banjian up: cannot reach the database postgresql+psycopg2://postgres:***@127.0.0.1:{dead}")


def test_a_database_driver_that_is_not_installed_is_named(tmp_path):
    taken: set[int] = set()
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/banjian"
    line = one_line(up(tmp_path / "d", free_port(taken), free_port(taken), environ={"DATABASE_URL": url}))
    assert "cannot use the database" in line and "postgresql+psycopg2://" in line and "up-error.log" not in line


def test_a_data_dir_that_is_a_file_is_named(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    taken: set[int] = set()
    line = one_line(up(path, free_port(taken), free_port(taken)))
    assert str(path) in line and "not a folder" in line


def test_commands_create_the_data_dir_private(tmp_path):
    data = tmp_path / "new"
    r = runner.invoke(app, ["users", "add", "admin1", "--password", "long-enough-1", "--role", "admin",
                            "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "banjian.db" for p in files)
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


async def test_a_worker_waits_for_a_temporal_server_that_is_restarting(monkeypatch, caplog):
    """A worker child started while `up` restarts its Temporal server (or before a cluster is up)
    waits for it instead of dying with a traceback (and `up` counting that as a death)."""
    from banjian import temporal

    answers = [RuntimeError("Failed client connect: connection refused")] * 2 + ["client"]

    async def connect(settings, runtime=None):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(temporal, "connect", connect)
    with caplog.at_level("WARNING", logger="banjian"):
        assert await temporal.connect_waiting(Settings(), wait=30) == "client"
    assert answers == []
    assert sum("does not answer yet" in r.message for r in caplog.records) == 1


def test_a_worker_that_cannot_reach_temporal_says_so_in_one_line(tmp_path, monkeypatch):
    from banjian import temporal

    monkeypatch.setattr(temporal, "CONNECT_WAIT_SECONDS", 1.0)
    dead = free_port(set())
    for command in ("worker", "archiver"):
        r = runner.invoke(app, [command, "--data-dir", str(tmp_path / "d")],
                          env={"TEMPORAL_ADDRESS": f"127.0.0.1:{dead}"})
        assert r.exit_code == 1, r.output
        assert "Traceback" not in r.output
        last = r.output.strip().splitlines()[-1]
        assert last.startswith(f"banjian {command}: cannot reach the Temporal server at 127.0.0.1:{dead} "
                               "(TEMPORAL_ADDRESS)"), r.output


def test_a_bad_environment_value_is_one_line_naming_the_variable(tmp_path):
    taken: set[int] = set()
    line = one_line(up(tmp_path / "d", free_port(taken), free_port(taken),
                       environ={"BANJIAN_WORKER_PROCESSES": "abc", "BANJIAN_LOG_LEVEL": "LOUD"}))
    assert "BANJIAN_WORKER_PROCESSES='abc'" in line and "valid integer" in line
    assert "BANJIAN_LOG_LEVEL='LOUD'" in line
    assert not (tmp_path / "d").exists()  # nothing started, nothing made
    # any command; a secret's value is never echoed
    r = runner.invoke(app, ["users", "add", "x", "--password", "abcdefgh123", "--role", "applicant",
                            "--data-dir", str(tmp_path / "d")],
                      env={"BANJIAN_LICENCE_MASTER_KEY": "not-hex-secret-value"})
    line = one_line(r)
    assert "BANJIAN_LICENCE_MASTER_KEY" in line and "not-hex-secret-value" not in line


def test_a_read_only_data_dir_is_named(tmp_path, monkeypatch):
    """A data dir on a read-only file system (a mount gone read-only after an I/O error): one line
    naming the folder and the cause, no traceback."""
    import errno

    data = tmp_path / "d"
    data.mkdir()

    def read_only(self, mode):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "chmod", read_only)
    taken: set[int] = set()
    line = one_line(up(data, free_port(taken), free_port(taken)))
    assert line == (f"banjian up: cannot write to the data dir {data} (Read-only file system); make it writable "
                    "or choose another --data-dir")


def test_a_data_dir_served_with_postgresql_refuses_commands_without_database_url(tmp_path, monkeypatch):
    """`banjian users add` on such a data dir without DATABASE_URL used to succeed into a new, empty
    SQLite read model that nothing reads (and a later `up` without it served that empty one)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("BANJIAN_DATABASE_URL", raising=False)
    data = tmp_path / "d"
    data.mkdir()
    dead = free_port(set())
    add = ["users", "add", "night", "--password", "night12345ab", "--role", "admin", "--data-dir", str(data)]
    runner.invoke(app, add, env={"DATABASE_URL": f"postgresql://postgres:secret-pw@127.0.0.1:{dead}/banjian"})
    mark = (data / "read-model.url").read_text()
    assert f"postgres:***@127.0.0.1:{dead}/banjian" in mark and "secret-pw" not in mark
    for args in (add, ["up", "--data-dir", str(data), "--port", str(free_port(set())), "--temporal-port",
                       str(free_port(set()))]):
        line = one_line(runner.invoke(app, args))
        assert f"keeps its read model in postgresql+psycopg2://postgres:***@127.0.0.1:{dead}/banjian" in line
        assert "set DATABASE_URL" in line
    assert not (data / "banjian.db").exists()


def test_a_data_dir_refuses_a_database_url_other_than_its_own(tmp_path, monkeypatch):
    """The mark used to follow whatever DATABASE_URL came last: `up --data-dir D` with another database
    (a restored data dir started with the original's URL, a typo in the name) served that database
    beside D's Temporal store, and each command re-marked D with it."""
    monkeypatch.delenv("BANJIAN_DATABASE_URL", raising=False)
    data = tmp_path / "d"
    data.mkdir()
    dead = free_port(set())
    add = ["users", "add", "night", "--password", "night12345ab", "--role", "admin", "--data-dir", str(data)]
    ours = f"postgresql://postgres:secret-pw@127.0.0.1:{dead}/banjian"
    runner.invoke(app, add, env={"DATABASE_URL": ours})
    other = f"postgresql+psycopg2://postgres:other-pw@127.0.0.1:{dead}/banjian_restored"
    for args in (add, ["up", "--data-dir", str(data), "--port", str(free_port(set())), "--temporal-port",
                       str(free_port(set()))]):
        line = one_line(runner.invoke(app, args, env={"DATABASE_URL": other}))
        assert f"keeps its read model in postgresql+psycopg2://postgres:***@127.0.0.1:{dead}/banjian, not in " \
               f"postgresql+psycopg2://postgres:***@127.0.0.1:{dead}/banjian_restored" in line, line
        assert "pw" not in line and str(data / "read-model.url") in line
    assert (data / "read-model.url").read_text().strip().endswith(f":{dead}/banjian")
    # the same database with another driver spelling, password or default port is the same one
    same = runner.invoke(app, add, env={"DATABASE_URL": f"postgres://postgres:new-pw@127.0.0.1:{dead}/banjian"})
    assert "keeps its read model" not in same.output


def test_a_data_dir_whose_cases_are_in_sqlite_refuses_a_database_url(tmp_path):
    """Its read model stays in banjian.db: PostgreSQL would be an empty read model beside the Temporal
    store that holds the cases."""
    data = tmp_path / "d"
    data.mkdir()
    with sqlite3.connect(data / "banjian.db") as conn:
        conn.execute("CREATE TABLE cases (id TEXT)")
        conn.execute("INSERT INTO cases VALUES ('2026120100000001')")
    conn.close()
    dead = free_port(set())
    line = one_line(up(data, free_port(set()), free_port(set()),
                       environ={"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{dead}/banjian"}))
    assert str(data / "banjian.db") in line and "unset DATABASE_URL" in line
    assert not (data / "read-model.url").exists()


@pytest.mark.postgres
def test_a_new_data_dir_refuses_a_read_model_with_another_data_dirs_cases(tmp_path):
    """A second `up` with a new data dir on the first one's DATABASE_URL started a new, empty Temporal
    store beside those cases: their actions failed, and its archiver built packages of the first
    system's cases into its own data dir."""
    from sqlalchemy import create_engine, text

    from tests.conftest import drop_postgres, new_postgres_url

    url = new_postgres_url()
    try:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE cases (id TEXT)"))
            conn.execute(text("INSERT INTO cases VALUES ('2026120100000001'), ('2026120100000002')"))
        engine.dispose()
        taken: set[int] = set()
        line = one_line(up(tmp_path / "second", free_port(taken), free_port(taken), environ={"DATABASE_URL": url}))
        assert "holds 2 cases" in line and str(tmp_path / "second" / "temporal.db") in line, line
        assert "banjian restore" in line
    finally:
        drop_postgres(url)


@pytest.mark.parametrize("command", [["users", "add", "night", "--password", "night12345ab", "--role", "admin"],
                                     ["migrate"], ["accounts", "add", "amr-system", "--department", "amr"]])
def test_a_command_whose_database_does_not_answer_says_so_in_one_line(tmp_path, command):
    """`banjian users add` (migrate, accounts add, audit verify, …) with PostgreSQL down or a wrong
    password printed 470 lines of traceback."""
    dead = free_port(set())
    url = f"postgresql://postgres:secret-pw@127.0.0.1:{dead}/banjian"
    r = subprocess.run([str(BANJIAN), *command, "--data-dir", str(tmp_path / "d")], capture_output=True, text=True,
                       env={**env(), "DATABASE_URL": url}, cwd=ROOT, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, r.stdout + r.stderr
    assert lines[0].startswith(f"banjian: cannot reach the database postgresql+psycopg2://postgres:***@127.0.0.1:{dead}"
                               "/banjian (DATABASE_URL): ") and "secret-pw" not in lines[0], lines[0]


def test_a_data_dir_named_by_mistake_keeps_the_modes_of_what_it_holds(tmp_path):
    """`--data-dir /srv` for `/srv/banjian` (or a home folder) chmod'ed every file and folder in it to
    0600/0700: scripts lost their execute bit, shared folders closed to their group. banjian tightens
    only what it keeps there; a real data dir's own files are still brought to 0600."""
    folder = tmp_path / "srv"
    (folder / "bin").mkdir(parents=True)
    script = folder / "bin" / "run.sh"
    script.write_text("echo hi\n")
    notes = folder / "notes.txt"
    notes.write_text("x")
    for path, mode in ((folder, 0o755), (folder / "bin", 0o755), (script, 0o755), (notes, 0o644)):
        path.chmod(mode)
    r = runner.invoke(app, ["accounts", "list", "--data-dir", str(folder)])
    assert r.exit_code == 0, r.output
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in (folder, folder / "bin", script, notes)}
    assert modes == {folder: 0o755, folder / "bin": 0o755, script: 0o755, notes: 0o644}, modes
    assert stat.S_IMODE((folder / "banjian.db").stat().st_mode) == 0o600
    # a data dir: banjian's files and folders in it are made private, the rest is left alone
    data = tmp_path / "data"
    (data / "archives").mkdir(parents=True)
    package = data / "archives" / "case.zip"
    package.write_text("zip")
    key = data / "secret.key"
    key.write_text("k")
    mine = data / "operator-notes.txt"
    mine.write_text("mine")
    for path in (data, data / "archives", package, key, mine):
        path.chmod(0o755 if path.is_dir() else 0o644)
    r = runner.invoke(app, ["accounts", "list", "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    assert {stat.S_IMODE(p.stat().st_mode) for p in (data, data / "archives")} == {0o700}
    assert {stat.S_IMODE(p.stat().st_mode) for p in (package, key)} == {0o600}
    assert stat.S_IMODE(mine.stat().st_mode) == 0o644


@pytest.mark.parametrize("command", [["accounts", "list"], ["subscribers", "list"], ["audit", "verify"],
                                     ["audit", "seal"], ["keys", "rotate"], ["backup", "--to", "{tmp}/b.tar.gz"],
                                     ["accounts", "add", "amr-system", "--department", "amr"]])
def test_a_data_dir_that_does_not_exist_is_named_not_made(tmp_path, command):
    """A mistyped --data-dir (or a command run in another folder without it: ./data) made a new, empty
    data dir and answered from it: `accounts list` and `subscribers list` said {"items": []}, `keys
    rotate` started a new key ring there, `audit verify` failed on `no such table: cases`."""
    missing = tmp_path / "banjain"
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    r = runner.invoke(app, [*args, "--data-dir", str(missing)], env={"BANJIAN_TEMPORAL_PORT": "1"})
    assert one_line(r) == (f"banjian: the data dir {missing} does not exist: give the --data-dir of the "
                           "installation (or set BANJIAN_DATA_DIR); `banjian up` makes a new one")
    assert not missing.exists()


def test_the_api_alone_says_in_one_line_what_keeps_it_from_starting(tmp_path, monkeypatch):
    """`banjian api` whose Temporal does not answer printed uvicorn's 'Application startup failed' after
    a traceback of the SDK's connect error; a worker or archiver says it in one line."""
    from banjian import temporal

    monkeypatch.setattr(temporal, "CONNECT_WAIT_SECONDS", 1.0)
    taken: set[int] = set()
    dead, port = free_port(taken), free_port(taken)
    r = runner.invoke(app, ["api", "--port", str(port), "--data-dir", str(tmp_path / "d")],
                      env={"TEMPORAL_ADDRESS": f"127.0.0.1:{dead}"})
    assert r.exit_code == 1 and "Traceback" not in r.output and "Application startup failed" not in r.output
    last = r.output.strip().splitlines()[-1]  # after the worker's "does not answer yet; retrying" line
    assert last.startswith(f"banjian api: cannot reach the Temporal server at 127.0.0.1:{dead} "
                           "(TEMPORAL_ADDRESS) within 1 s"), r.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        r = runner.invoke(app, ["api", "--port", str(port), "--data-dir", str(tmp_path / "d")],
                          env={"TEMPORAL_ADDRESS": f"127.0.0.1:{dead}"})
    assert one_line(r) == (f"banjian api: port {port} for the API is taken (address already in use); "
                           "choose another with --port")


def test_a_failing_api_start_up_is_one_line_and_exit_1(tmp_path):
    """The API's own start-up failing (here secret.key cannot be read; on a full disk it cannot be
    written: OSError ENOSPC) printed uvicorn's 200-line traceback and 'Application startup failed',
    then `banjian stopped: … resumes every open case`, and exited 3. One line names the error, the
    traceback is in up-error.log, exit 1, and nothing is left running."""
    data = tmp_path / "d"
    (data / "secret.key").mkdir(parents=True)  # read as a file at the API's start-up
    taken: set[int] = set()
    r = runner.invoke(app, ["up", "--data-dir", str(data), "--port", str(free_port(taken)), "--temporal-port",
                            str(free_port(taken))])
    lines = [line for line in r.output.splitlines() if line.startswith("banjian up:")]  # beside the log
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "Application startup failed" not in r.output, r.output
    assert lines == [f"banjian up: IsADirectoryError: [Errno 21] Is a directory: '{data / 'secret.key'}' "
                     f"(details: {data / 'up-error.log'})"], r.output
    assert "secret_key" in (data / "up-error.log").read_text()
    assert not DataDirLock(data).in_use()

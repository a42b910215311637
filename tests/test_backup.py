"""Backup while the system runs, restore into a new data dir, and every case resumes with its
timers; a damaged or altered backup, or a non-empty target, is refused in one line."""
from __future__ import annotations

import io
import json
import stat
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from banjian.ids import make_citizen_id
from banjian.timefmt import CHINA
from services.cli import app
from tests.conftest import drop_postgres, json_line, new_postgres_url
from tests.test_durability import BANJIAN, ITEM, PASSWORD, ROOT, Up, act, cli, env, get_case, login

runner = CliRunner()


def offline_data_dir(path: Path) -> Path:
    r = runner.invoke(app, ["users", "add", "admin1", "--password", PASSWORD, "--role", "admin",
                            "--data-dir", str(path)])
    assert r.exit_code == 0, r.output
    (path / "secret.key").write_text("ab" * 32)
    (path / "archives").mkdir()
    (path / "archives" / "case-1.zip").write_bytes(b"PK archive bytes")
    return path


def test_backup_and_restore_of_a_stopped_data_dir_keeps_every_file(tmp_path):
    data = offline_data_dir(tmp_path / "d")
    r = runner.invoke(app, ["backup", "--data-dir", str(data), "--to", str(tmp_path / "b.tgz")])
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE((tmp_path / "b.tgz").stat().st_mode) == 0o600
    r = runner.invoke(app, ["restore", str(tmp_path / "b.tgz"), "--data-dir", str(tmp_path / "new")])
    assert r.exit_code == 0, r.output
    new = tmp_path / "new"
    assert (new / "archives" / "case-1.zip").read_bytes() == b"PK archive bytes"
    assert (new / "secret.key").read_text() == (data / "secret.key").read_text()
    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in new.rglob("*") if p.is_file())


def test_restore_refuses_a_non_empty_target_and_an_altered_backup(tmp_path):
    data = offline_data_dir(tmp_path / "d")
    good = tmp_path / "b.tgz"
    assert runner.invoke(app, ["backup", "--data-dir", str(data), "--to", str(good)]).exit_code == 0
    r = runner.invoke(app, ["restore", str(good), "--data-dir", str(data)])
    assert r.exit_code == 1 and "not empty" in r.output

    # the same archive with one member's bytes changed
    altered = tmp_path / "altered.tgz"
    with tarfile.open(good) as src, tarfile.open(altered, "w:gz") as dst:
        for m in src.getmembers():
            body = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == "secret.key":
                body = b"0" * len(body)
            m.size = len(body)
            dst.addfile(m, io.BytesIO(body))
    r = runner.invoke(app, ["restore", str(altered), "--data-dir", str(tmp_path / "x")])
    assert r.exit_code == 1 and "secret.key does not match its digest" in r.output
    assert not (tmp_path / "x").exists()

    cut = tmp_path / "cut.tgz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    r = runner.invoke(app, ["restore", str(cut), "--data-dir", str(tmp_path / "y")])
    assert r.exit_code == 1 and "not a readable banjian backup" in r.output
    assert not (tmp_path / "y").exists()


def test_backup_with_a_read_model_in_postgresql_needs_the_embedded_temporal_store(tmp_path):
    """With a Temporal cluster (TEMPORAL_ADDRESS) there is nothing of Temporal's in the data dir to hold
    still: back up as in production. Without one, a data dir with no temporal.db is no data dir (the
    message used to blame a cluster that was not there)."""
    data = offline_data_dir(tmp_path / "d")
    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/x"
    r = runner.invoke(app, ["backup", "--data-dir", str(data), "--to", str(tmp_path / "b.tgz")],
                      env={"DATABASE_URL": url, "TEMPORAL_ADDRESS": "temporal.example:7233"})
    assert r.exit_code == 1 and "DATABASE_URL" in r.output and "Temporal cluster's persistence" in r.output
    r = runner.invoke(app, ["backup", "--data-dir", str(data), "--to", str(tmp_path / "b.tgz")],
                      env={"DATABASE_URL": url, "TEMPORAL_ADDRESS": None})
    assert r.exit_code == 1 and "not a banjian data dir (no temporal.db" in r.output, r.output


def archive_row(read_model: Path | str, data: Path) -> None:
    """An archive package of case-1 recorded (as the archiver does) under its absolute path."""
    from sqlalchemy import create_engine, text

    url = read_model if isinstance(read_model, str) else f"sqlite:///{read_model}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO archives (case_id, path, sm3, size, created_at) "
                          "VALUES ('case-1', :path, 'x', 16, CURRENT_TIMESTAMP)"),
                     {"path": str((data / "archives" / "case-1.zip").resolve())})
    engine.dispose()


def archive_path(read_model: Path | str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(read_model if isinstance(read_model, str) else f"sqlite:///{read_model}")
    with engine.connect() as conn:
        path = conn.execute(text("SELECT path FROM archives WHERE case_id = 'case-1'")).scalar_one()
    engine.dispose()
    return str(path)


def test_a_restored_read_model_finds_the_archive_packages_in_the_new_data_dir(tmp_path):
    """The archives table named each package by the backed-up data dir's absolute path: once that data
    dir was gone (the machine lost), every package of the restored system read as missing (409
    archive_altered, and `audit verify` failed every archived case)."""
    data = offline_data_dir(tmp_path / "d")
    archive_row(data / "banjian.db", data)
    assert runner.invoke(app, ["backup", "--data-dir", str(data), "--to", str(tmp_path / "b.tgz")]).exit_code == 0
    r = runner.invoke(app, ["restore", str(tmp_path / "b.tgz"), "--data-dir", str(tmp_path / "new")])
    assert r.exit_code == 0, r.output
    assert archive_path(tmp_path / "new" / "banjian.db") == str(tmp_path / "new" / "archives" / "case-1.zip")


@pytest.mark.postgres
def test_a_read_model_in_postgresql_is_backed_up_with_the_embedded_temporal_store(tmp_path):
    """`banjian up` with DATABASE_URL and its embedded Temporal server: `backup` used to refuse ("back
    up PostgreSQL and the Temporal cluster's persistence"), though there is no cluster, only the data
    dir's temporal.db. Now the file holds a pg_dump of the read model beside temporal.db; `restore`
    loads it into DATABASE_URL, a new and empty database, and refuses any other."""
    import sqlite3

    from sqlmodel import Session

    from banjian.db import make_engine
    from banjian.sequences import next_serial

    first, second = new_postgres_url(), new_postgres_url()
    try:
        data = tmp_path / "d"
        r = runner.invoke(app, ["users", "add", "admin1", "--password", PASSWORD, "--role", "admin",
                                "--data-dir", str(data)], env={"DATABASE_URL": first})
        assert r.exit_code == 0, r.output
        sqlite3.connect(data / "temporal.db").execute("CREATE TABLE t (x)").connection.close()
        (data / "archives").mkdir()
        (data / "archives" / "case-1.zip").write_bytes(b"PK archive bytes")
        archive_row(first, data)
        today = datetime.now(CHINA).date()
        engine = make_engine(first)
        with Session(engine) as session:
            assert next_serial(session, today) == 1
            session.commit()
        engine.dispose()

        bk = tmp_path / "b.tgz"
        r = runner.invoke(app, ["backup", "--data-dir", str(data), "--to", str(bk)], env={"DATABASE_URL": first})
        assert r.exit_code == 0, r.output
        names = tarfile.open(bk).getnames()
        assert "read-model.pgdump" in names and "temporal.db" in names and "banjian.db" not in names

        # a backup of a cluster's system stays refused: its Temporal is not in the data dir
        r = runner.invoke(app, ["backup", "--data-dir", str(data), "--to", str(tmp_path / "c.tgz")],
                          env={"DATABASE_URL": first, "TEMPORAL_ADDRESS": "127.0.0.1:1"})
        assert r.exit_code == 1 and "Temporal cluster's persistence" in r.output

        new = tmp_path / "new"
        r = runner.invoke(app, ["restore", str(bk), "--data-dir", str(new)], env={"DATABASE_URL": None})
        assert r.exit_code == 1 and "set DATABASE_URL to a new, empty database" in r.output
        r = runner.invoke(app, ["restore", str(bk), "--data-dir", str(new)], env={"DATABASE_URL": first})
        assert r.exit_code == 1 and "is not empty" in r.output and "createdb" in r.output
        assert not new.exists()
        r = runner.invoke(app, ["restore", str(bk), "--data-dir", str(new)], env={"DATABASE_URL": second})
        assert r.exit_code == 0, r.output
        assert json.loads(json_line(r.output))["database"] == second
        assert (new / "read-model.url").read_text().strip() == second  # commands on it need its DATABASE_URL
        assert not (new / "read-model.pgdump").exists() and (new / "temporal.db").is_file()
        assert archive_path(second) == str(new / "archives" / "case-1.zip")
        engine = make_engine(second)
        with Session(engine) as session:
            assert next_serial(session, today) > 1_000_000  # the serials the original may have drawn since
            session.commit()
        engine.dispose()
        r = runner.invoke(app, ["users", "add", "admin2", "--password", PASSWORD, "--role", "admin",
                                "--data-dir", str(new)], env={"DATABASE_URL": second})
        assert r.exit_code == 0, r.output

        # an SQLite backup is not loaded into PostgreSQL
        sq = offline_data_dir(tmp_path / "sq")
        assert runner.invoke(app, ["backup", "--data-dir", str(sq), "--to", str(tmp_path / "s.tgz")],
                             env={"DATABASE_URL": None}).exit_code == 0
        r = runner.invoke(app, ["restore", str(tmp_path / "s.tgz"), "--data-dir", str(tmp_path / "x")],
                          env={"DATABASE_URL": second})
        assert r.exit_code == 1 and "unset DATABASE_URL" in r.output
    finally:
        drop_postgres(first)
        drop_postgres(second)


def submit(base: str, who: dict, id_number: str, name: str, item: dict, key: str) -> httpx.Response:
    form = {f["name"]: {"text": "测试", "number": 50, "boolean": True, "date": "2026-12-01",
                        "choice": (f.get("choices") or [""])[0]}[f["type"]]
            for f in item["form"] if f["required"]}
    body = {"item_code": ITEM, "applicant": {"kind": "citizen", "id_number": id_number, "name": name},
            "form": form, "materials": [{"name": m["name"]} for m in item["materials"] if m["required"]],
            "channel": "web", "idempotency_key": key}
    return httpx.post(f"{base}/api/cases", json=body, headers=who, timeout=60)


def conclude(base: str, users: dict[str, dict], case_id: str) -> None:
    """accept, the two review steps, approve and deliver: the case concludes (and is archived)."""
    act(base, users["clerk1"], case_id, "accept")
    act(base, users["handler1"], case_id, "pass")
    act(base, users["approver1"], case_id, "pass")
    r = httpx.post(f"{base}/api/cases/{case_id}/actions", json={"action": "approve", "comment": "同意"},
                   headers=users["approver1"], timeout=60)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{base}/api/cases/{case_id}/actions",
                   json={"action": "deliver", "data": {"method": "electronic"}}, headers=users["clerk1"], timeout=60)
    assert r.status_code == 200 and r.json()["status"] == "concluded", r.text


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def read_model(request) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """(the environment of the backed-up system, that of the restored one): the read model in the data
    dir, or in PostgreSQL (a database each, beside the embedded Temporal store)."""
    if request.param == "sqlite":
        yield {}, {}
        return
    urls = [new_postgres_url(), new_postgres_url()]
    try:
        yield {"DATABASE_URL": urls[0]}, {"DATABASE_URL": urls[1]}
    finally:
        for url in urls:
            drop_postgres(url)


@pytest.mark.slow
def test_backup_of_a_running_system_restores_every_case_with_its_timers(tmp_path, read_model):
    """Also with the read model in PostgreSQL (`pg_dump` of the instant Temporal was held); the restored
    system runs on its own data dir and database once the original's are gone, its archive packages
    included."""
    source_env, restored_env = read_model
    data = tmp_path / "data"
    id_number = make_citizen_id("330106", date(1990, 5, 5), 31)
    for args in (("admin1", "--role", "admin"), ("clerk1", "--role", "clerk", "--department", "amr"),
                 ("handler1", "--role", "handler", "--department", "amr"),
                 ("approver1", "--role", "approver", "--department", "amr"),
                 ("zhang", "--role", "applicant", "--id-number", id_number, "--name", "张三")):
        cli(data, "users", "add", args[0], "--password", PASSWORD, *args[1:], environ=source_env)
    up = Up(data, source_env)
    try:
        up.start()
        up.wait_ready()
        base = up.base
        users = {u: login(base, u) for u in ("zhang", "clerk1", "handler1", "approver1", "admin1")}
        applicant, clerk, handler = users["zhang"], users["clerk1"], users["handler1"]
        item = httpx.get(f"{base}/api/items/{ITEM}", headers=applicant, timeout=30).json()
        r = submit(base, applicant, id_number, "张三", item, "a")
        assert r.status_code == 201, r.text
        reviewed = r.json()["id"]
        act(base, clerk, reviewed, "accept")
        before = act(base, handler, reviewed, "pass")
        r = submit(base, applicant, id_number, "张三", item, "b")
        waiting = r.json()["id"]  # not accepted: deemed acceptance is due in 5 working days
        concluded = submit(base, applicant, id_number, "张三", item, "c").json()["id"]
        conclude(base, users, concluded)
        package = httpx.get(f"{base}/api/cases/{concluded}/archive", headers=users["admin1"], timeout=60)
        assert package.status_code == 200, package.text

        # applications keep arriving while the backup is taken
        acknowledged: list[tuple[float, str]] = []
        stop = threading.Event()

        def keep_applying() -> None:
            n = 0
            while not stop.is_set() and n < 20:
                n += 1
                resp = submit(base, applicant, id_number, "张三", item, f"during-{n}")
                if resp.status_code == 201:
                    acknowledged.append((time.monotonic(), resp.json()["id"]))

        applying = threading.Thread(target=keep_applying)
        applying.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        out = subprocess.run([str(BANJIAN), "backup", "--data-dir", str(data), "--to", str(tmp_path / "b.tgz")],
                             capture_output=True, text=True, env={**env(), **source_env}, cwd=ROOT, timeout=120)
        stop.set()
        applying.join(60)
        assert out.returncode == 0, out.stdout + out.stderr
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert report["hold_seconds"] < 10
        assert report["cases"].get("concluded") == 1, report
        up.interrupt()
    finally:
        up.kill()
    data.rename(tmp_path / "gone")  # the original machine is lost: nothing may be read from it

    r = subprocess.run([str(BANJIAN), "restore", str(tmp_path / "b.tgz"), "--data-dir", str(tmp_path / "new")],
                       capture_output=True, text=True, env={**env(), **restored_env}, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    new = tmp_path / "new"
    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    assert stat.S_IMODE((new / "temporal.db").stat().st_mode) == 0o600

    again = Up(new, restored_env)  # other ports: a restored system may run beside the old one
    try:
        again.start()
        again.wait_ready()
        base = again.base
        applicant, admin = login(base, "zhang"), login(base, "admin1")
        after = get_case(base, applicant, reviewed)
        for key in ("status", "deadlines", "current_step", "accepted_at"):
            assert after[key] == before[key], key
        before_backup = [cid for at, cid in acknowledged if at < t0]
        assert before_backup, "no application was acknowledged before the backup started"
        for cid in before_backup:  # every acknowledged action before the backup is kept
            assert get_case(base, applicant, cid)["status"] == "submitted"
        listing = httpx.get(f"{base}/api/cases", params={"limit": 100}, headers=admin, timeout=30).json()
        for c in listing["items"]:  # and every case the read model holds has its workflow
            replay = httpx.get(f"{base}/api/cases/{c['id']}/replay", headers=admin, timeout=60).json()
            assert replay["verified"] and replay["events"] > 0, (c["id"], replay)
        # the archive package is the restored data dir's copy (the read model named the original's path)
        r = httpx.get(f"{base}/api/cases/{concluded}/archive", headers=admin, timeout=60)
        assert r.status_code == 200 and r.content == package.content, r.text
        verify = httpx.get(f"{base}/api/cases/{concluded}/verify", headers=admin, timeout=60).json()
        assert verify["verified"] and "archive_package" in verify["checked"], verify

        # the timers resume: deemed acceptance, then the review's deadlines
        r = httpx.post(f"{base}/api/simulation/cases/{waiting}/advance", json={"days": 10}, headers=admin,
                       timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "accepted"
        assert "deemed_acceptance" in [h["action"] for h in r.json()["history"]]
        statutory_due = date.fromisoformat(before["deadlines"]["statutory_due"])
        days = max(30, (statutory_due - datetime.now(CHINA).date()).days + 2)
        r = httpx.post(f"{base}/api/simulation/cases/{reviewed}/advance", json={"days": days}, headers=admin,
                       timeout=120)
        assert r.status_code == 200, r.text
        causes = [w["cause"] for w in r.json()["warnings"]]
        assert causes.count("promised_overdue") == 1 and causes.count("statutory_overdue") == 1, causes
        again.interrupt()
    finally:
        again.kill()


def test_a_restored_system_never_draws_a_case_number_the_backed_up_one_may_have_issued(tmp_path):
    """Numbers drawn after the backup were given to applicants and reported to subscribers (event ids
    `{case_id}-{seq}`, by which receivers de-duplicate): the restored system skips past them, today
    and on the following day (a restore after midnight)."""
    from datetime import timedelta

    from sqlmodel import Session

    from banjian.db import make_engine
    from banjian.sequences import next_serial

    def draw(data: Path, day: date) -> int:
        engine = make_engine(f"sqlite:///{data / 'banjian.db'}")
        try:
            with Session(engine) as session:
                serial = next_serial(session, day)
                session.commit()
        finally:
            engine.dispose()
        return serial

    data = offline_data_dir(tmp_path / "d")
    today = datetime.now(CHINA).date()
    tomorrow = today + timedelta(days=1)
    assert [draw(data, today) for _ in range(3)] == [1, 2, 3]
    assert runner.invoke(app, ["backup", "--data-dir", str(data), "--to", str(tmp_path / "b.tgz")]).exit_code == 0
    issued_after_the_backup = {today: draw(data, today), tomorrow: draw(data, tomorrow)}  # 4 and 1
    r = runner.invoke(app, ["restore", str(tmp_path / "b.tgz"), "--data-dir", str(tmp_path / "new")])
    assert r.exit_code == 0, r.output
    for day, issued in issued_after_the_backup.items():
        assert draw(tmp_path / "new", day) > issued + 100_000

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
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from banjian.ids import make_citizen_id
from banjian.timefmt import CHINA
from services.cli import app
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


def test_backup_refuses_a_read_model_in_postgresql(tmp_path):
    data = offline_data_dir(tmp_path / "d")
    r = runner.invoke(app, ["backup", "--data-dir", str(data), "--to", str(tmp_path / "b.tgz")],
                      env={"DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/x"})
    assert r.exit_code == 1 and "DATABASE_URL" in r.output and "PostgreSQL" in r.output


def submit(base: str, who: dict, id_number: str, name: str, item: dict, key: str) -> httpx.Response:
    form = {f["name"]: {"text": "测试", "number": 50, "boolean": True, "date": "2026-12-01",
                        "choice": (f.get("choices") or [""])[0]}[f["type"]]
            for f in item["form"] if f["required"]}
    body = {"item_code": ITEM, "applicant": {"kind": "citizen", "id_number": id_number, "name": name},
            "form": form, "materials": [{"name": m["name"]} for m in item["materials"] if m["required"]],
            "channel": "web", "idempotency_key": key}
    return httpx.post(f"{base}/api/cases", json=body, headers=who, timeout=60)


@pytest.mark.slow
def test_backup_of_a_running_system_restores_every_case_with_its_timers(tmp_path):
    data = tmp_path / "data"
    id_number = make_citizen_id("330106", date(1990, 5, 5), 31)
    for args in (("admin1", "--role", "admin"), ("clerk1", "--role", "clerk", "--department", "amr"),
                 ("handler1", "--role", "handler", "--department", "amr"),
                 ("zhang", "--role", "applicant", "--id-number", id_number, "--name", "张三")):
        cli(data, "users", "add", args[0], "--password", PASSWORD, *args[1:])
    up = Up(data)
    try:
        up.start()
        up.wait_ready()
        base = up.base
        applicant, clerk, handler = login(base, "zhang"), login(base, "clerk1"), login(base, "handler1")
        item = httpx.get(f"{base}/api/items/{ITEM}", headers=applicant, timeout=30).json()
        r = submit(base, applicant, id_number, "张三", item, "a")
        assert r.status_code == 201, r.text
        reviewed = r.json()["id"]
        act(base, clerk, reviewed, "accept")
        before = act(base, handler, reviewed, "pass")
        r = submit(base, applicant, id_number, "张三", item, "b")
        waiting = r.json()["id"]  # not accepted: deemed acceptance is due in 5 working days

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
                             capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120)
        stop.set()
        applying.join(60)
        assert out.returncode == 0, out.stdout + out.stderr
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert report["hold_seconds"] < 10
        up.interrupt()
    finally:
        up.kill()

    r = subprocess.run([str(BANJIAN), "restore", str(tmp_path / "b.tgz"), "--data-dir", str(tmp_path / "new")],
                       capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    new = tmp_path / "new"
    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    assert stat.S_IMODE((new / "temporal.db").stat().st_mode) == 0o600

    again = Up(new)  # other ports: a restored system may run beside the old one
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

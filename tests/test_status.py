"""`banjian status`: the operator's one look at an installation — each part judged, what is waiting
counted, exit 1 when something is down, and never a traceback."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from banjian.db import Case, make_engine
from banjian.enums import CLOSED
from banjian.migrate import alembic_config
from banjian.seed import ensure_base
from services.cli import app
from services.status import gather
from tests.conftest import json_line

runner = CliRunner()


def _head():
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return scripts.get_revision(scripts.get_current_head())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_running_installation_is_ok_and_its_figures_are_the_read_models(stack):
    report = await gather(stack.settings)
    parts = {p.name: p for p in report.parts}
    assert report.ok, report.lines()
    assert parts["up"].ok is None  # TEMPORAL_ADDRESS: the API and the workers may run elsewhere
    assert parts["database"].ok and parts["database"].detail.endswith(f"schema {_head().revision}")
    assert parts["temporal"].ok and parts["workers"].ok and parts["workers"].figures["polling"] >= 1
    assert parts["api"].ok is None and "--api" in parts["api"].detail
    with Session(stack.engine) as session:
        closed = [str(s) for s in CLOSED]
        open_n = session.exec(select(func.count()).select_from(Case).where(col(Case.status).not_in(closed))).one()
    assert parts["cases"].figures["open"] == open_n
    assert parts["archive"].figures["waiting"] >= 0


def test_a_stopped_installation_behind_its_schema_fails_naming_each_part(tmp_path, monkeypatch):
    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    ensure_base(engine)
    with engine.begin() as conn:  # as a data dir left by the previous release
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = conn
        command.stamp(cfg, _head().down_revision)
    engine.dispose()
    monkeypatch.setenv("BANJIAN_TEMPORAL_PORT", str(_closed_port()))
    result = runner.invoke(app, ["status", "--data-dir", str(tmp_path), "--json"])
    assert result.exit_code == 1, result.output
    body = json.loads(json_line(result.output))
    parts = {p["name"]: p for p in body["parts"]}
    assert body["status"] == "failing"
    assert parts["up"]["ok"] is False and "not running here" in parts["up"]["detail"]
    assert parts["database"]["ok"] is False and f"schema at {_head().down_revision}" in parts["database"]["detail"]
    assert "banjian migrate" in parts["database"]["detail"]
    assert parts["temporal"]["ok"] is False and parts["workers"]["ok"] is False
    assert "Traceback" not in result.output
    text = runner.invoke(app, ["status", "--data-dir", str(tmp_path)])
    assert text.exit_code == 1 and "status: FAILING (up, database, temporal, workers)" in text.output


def test_a_data_dir_without_a_read_model_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("BANJIAN_TEMPORAL_PORT", str(_closed_port()))
    result = runner.invoke(app, ["status", "--data-dir", str(tmp_path), "--json"])
    parts = {p["name"]: p for p in json.loads(json_line(result.output))["parts"]}
    assert result.exit_code == 1 and "no read model" in parts["database"]["detail"]
    assert not (tmp_path / "banjian.db").exists()  # a look changes nothing


class _Unready(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "unavailable", "database": "ok", "temporal": "ok",
                           "worker": "no worker polls the task queue"}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


async def test_the_api_probe_names_what_the_readiness_probe_said(stack):
    server = HTTPServer(("127.0.0.1", 0), _Unready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report = await gather(stack.settings, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    api = {p.name: p for p in report.parts}["api"]
    assert api.ok is False and "503" in api.detail and "worker: no worker polls the task queue" in api.detail
    assert not report.ok
    down = await gather(stack.settings, f"http://127.0.0.1:{_closed_port()}")
    assert {p.name: p for p in down.parts}["api"].ok is False


def _feed_data_dir(tmp_path, monkeypatch, *, attempts: int, age_s: int, state: str = "pending"):
    """A data dir whose other parts answer ok, with subscriber `province` holding one event queued
    `age_s` seconds ago that the far end refused `attempts` times."""
    from datetime import UTC, datetime, timedelta

    import services.status as status
    from banjian import feed

    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    ensure_base(engine)
    feed.add_subscriber(lambda: Session(engine), "province", "http://127.0.0.1:9/events")
    queued = datetime.now(UTC) - timedelta(seconds=age_s)
    with Session(engine) as session:
        session.add(feed.Delivery(subscriber="province", case_id="c1", seq=1, body="{}", state=state,
                                  attempts=attempts, next_at=queued, created_at=queued,
                                  last_error="HTTP 503" if attempts else None))
        if attempts:
            sub = session.get(feed.Subscriber, "province")
            sub.last_error, sub.last_error_at = "HTTP 503 Service Unavailable", datetime.now(UTC)
            session.add(sub)
        session.commit()
    engine.dispose()

    async def temporal_ok(settings):
        return [status.Part("temporal", True, "t"), status.Part("workers", True, "w")]

    monkeypatch.setattr(status, "_up", lambda settings: (status.Part("up", True, "running"), None))
    monkeypatch.setattr(status, "_temporal", temporal_ok)


def test_a_failing_feed_subscriber_is_degraded_with_its_own_exit_status(tmp_path, monkeypatch):
    _feed_data_dir(tmp_path, monkeypatch, attempts=4, age_s=2 * 3600 + 300)
    result = runner.invoke(app, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 3, result.output
    lines = result.output.splitlines()
    assert lines[-1] == "status: DEGRADED (feed:province)"
    (line,) = [x for x in lines if x.startswith("  feed:province")]
    assert "WARN" in line and "subscriber province degraded: oldest pending event waiting 2 h 5 min" in line
    assert "1 retrying (up to 4 attempts)" in line and line.endswith("last error: HTTP 503 Service Unavailable")
    assert any(x.startswith("  feed      ") and "province active: 1 pending" in x for x in lines)  # kept as it was
    body = json.loads(json_line(runner.invoke(app, ["status", "--data-dir", str(tmp_path), "--json"]).output))
    trouble = {p["name"]: p for p in body["parts"]}["feed:province"]
    assert body["status"] == "degraded" and trouble["degraded"] is True
    assert 2 * 3600 + 300 <= trouble["figures"]["oldest_pending_seconds"] < 2 * 3600 + 400


def test_a_parked_or_long_waiting_event_is_degraded_a_fresh_one_is_not(tmp_path, monkeypatch):
    _feed_data_dir(tmp_path, monkeypatch, attempts=0, age_s=5)
    fresh = runner.invoke(app, ["status", "--data-dir", str(tmp_path)])
    assert fresh.exit_code == 0 and fresh.output.splitlines()[-1] == "status: ok", fresh.output
    for sub, (attempts, age, state, said) in {"stale": (0, 3600, "pending", "waiting 1 h 0 min"),
                                              "parked": (2, 60, "parked", "1 parked")}.items():
        where = tmp_path / sub
        where.mkdir()
        _feed_data_dir(where, monkeypatch, attempts=attempts, age_s=age, state=state)
        result = runner.invoke(app, ["status", "--data-dir", str(where)])
        assert result.exit_code == 3 and said in result.output, result.output


def test_a_failing_part_outranks_a_degraded_one(tmp_path, monkeypatch):
    import services.status as status

    _feed_data_dir(tmp_path, monkeypatch, attempts=4, age_s=3600)

    async def temporal_down(settings):
        return [status.Part("temporal", False, "down"), status.Part("workers", False, "unknown")]

    monkeypatch.setattr(status, "_temporal", temporal_down)
    result = runner.invoke(app, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "status: FAILING (temporal, workers)" in result.output
    assert "subscriber province degraded" in result.output

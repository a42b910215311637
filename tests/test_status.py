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

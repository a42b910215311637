"""Scale out on one Temporal server and PostgreSQL: two `banjian worker` and two `banjian api`
processes share the work; one of each is SIGKILLed mid-run; every acknowledged action is kept
once (a client retries on the other API with the same request id) and every timer fires once."""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from banjian.auth import add_user
from banjian.db import make_engine, session_factory
from banjian.ids import make_citizen_id
from banjian.settings import Settings
from banjian.temporal import DevServer
from banjian.timefmt import CHINA
from tests.conftest import drop_postgres, new_postgres_url
from tests.test_durability import BANJIAN, CLEAN_ENV, ITEM, PASSWORD, ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CASES = 30


class Proc:
    """One `banjian worker` or `banjian api` process."""

    def __init__(self, name: str, args: list[str], environ: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([str(BANJIAN), *args], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=environ, cwd=ROOT, start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


class Apis:
    """Clients of both APIs: each call goes to the next live one and, when the connection fails,
    is retried on the other with the same request id (so an action is applied at most once)."""

    def __init__(self, bases: list[str]) -> None:
        self.bases = bases
        self.turn = itertools.count()
        self.failovers = 0
        self.lock = threading.Lock()

    def call(self, method: str, path: str, request_id: str | None = None, **kw) -> httpx.Response:
        start = next(self.turn)
        headers = dict(kw.pop("headers", {}))
        if request_id:
            headers["X-Request-Id"] = request_id
        last: Exception | None = None
        for attempt in range(6):
            base = self.bases[(start + attempt) % len(self.bases)]
            try:
                r = httpx.request(method, f"{base}{path}", headers=headers, timeout=60, **kw)
            except httpx.TransportError as e:  # that API is gone (or went away mid-request)
                last = e
                with self.lock:
                    self.failovers += 1
                continue
            if r.status_code in (502, 503, 504):  # outcome unknown or not ready: retry, same id
                last = AssertionError(f"{r.status_code} {r.text}")
                time.sleep(1)
                continue
            return r
        raise AssertionError(f"{method} {path} failed on every API: {last!r}")


def wait_healthy(base: str, proc: Proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.proc.poll() is None, f"{proc.name} exited:\n{proc.log()}"
        try:
            if httpx.get(f"{base}/api/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{proc.name} not healthy in {timeout:.0f} s:\n{proc.log()}")


def test_two_workers_two_apis_survive_losing_one_of_each(tmp_path):
    taken: set[int] = set()
    temporal_port = free_port(taken)
    server = DevServer(Settings(data_dir=tmp_path / "temporal", temporal_port=temporal_port,
                                ui_port=free_port(taken), simulation=True))
    db_url = new_postgres_url()
    procs: list[Proc] = []
    environ = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    environ.update(PYTHONUNBUFFERED="1", BANJIAN_SIMULATION="1", DATABASE_URL=db_url,
                   TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}", BANJIAN_DATA_DIR=str(tmp_path / "shared"))
    t_start = time.monotonic()
    try:
        server.start()

        def cli(*args: str) -> None:
            r = subprocess.run([str(BANJIAN), *args], capture_output=True, text=True, env=environ, cwd=ROOT,
                               timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr

        cli("migrate")
        id_number = make_citizen_id("330106", date(1985, 1, 9), 71)
        engine = make_engine(db_url)

        sessions = session_factory(engine)

        for username, roles, dept, idn in (("admin1", ["admin"], None, None), ("clerk1", ["clerk"], "amr", None),
                                           ("handler1", ["handler"], "amr", None),
                                           ("zhang", ["applicant"], None, id_number)):
            add_user(sessions, username, PASSWORD, roles, dept, idn, username)
        engine.dispose()

        workers = [Proc(f"worker{i}", ["worker"], environ, tmp_path) for i in (1, 2)]
        ports = [free_port(taken), free_port(taken)]
        apis = [Proc(f"api{i}", ["api", "--port", str(p)], environ, tmp_path) for i, p in zip((1, 2), ports, strict=True)]
        procs += workers + apis
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base, proc in zip(bases, apis, strict=True):
            wait_healthy(base, proc)
        t_ready = time.monotonic()
        client = Apis(bases)

        def token(user: str) -> dict[str, str]:
            r = client.call("POST", "/api/auth/token", data={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        applicant, clerk, handler, admin = (token(u) for u in ("zhang", "clerk1", "handler1", "admin1"))
        item = client.call("GET", f"/api/items/{ITEM}", headers=applicant).json()
        form = {f["name"]: {"text": "测试", "number": 50, "boolean": True, "date": "2026-12-01",
                            "choice": (f.get("choices") or [""])[0]}[f["type"]]
                for f in item["form"] if f["required"]}
        materials = [{"name": m["name"]} for m in item["materials"] if m["required"]]
        acknowledged: dict[int, list[str]] = {}
        statutory_due: dict[str, date] = {}
        case_ids: dict[int, str] = {}
        half_done = threading.Event()
        done_count = itertools.count(1)

        def drive(n: int) -> None:
            try:
                drive_one(n)
            finally:  # failed or not, the killer must not wait for ever
                if next(done_count) >= CASES // 2:
                    half_done.set()

        def drive_one(n: int) -> None:
            body = {"item_code": ITEM, "applicant": {"kind": "citizen", "id_number": id_number, "name": "张三"},
                    "form": form, "materials": materials, "channel": "web", "idempotency_key": f"scale-{n}"}
            r = client.call("POST", "/api/cases", json=body, headers=applicant)
            assert r.status_code in (200, 201), r.text
            case_ids[n] = r.json()["id"]
            acknowledged[n] = ["submitted"]
            for action, who in (("accept", clerk), ("pass", handler)):
                r = client.call("POST", f"/api/cases/{case_ids[n]}/actions", request_id=f"scale-{n}-{action}",
                                json={"action": action}, headers=who)
                assert r.status_code == 200, f"{action}: {r.status_code} {r.text}"
                acknowledged[n].append(action)
            statutory_due[case_ids[n]] = date.fromisoformat(r.json()["deadlines"]["statutory_due"])

        def killer() -> None:
            half_done.wait(300)
            workers[0].kill()
            apis[0].kill()

        with ThreadPoolExecutor(6) as pool:
            kill = pool.submit(killer)
            for f in [pool.submit(drive, n) for n in range(CASES)]:
                f.result()
            kill.result()
        assert workers[0].proc.poll() is not None and apis[0].proc.poll() is not None

        t_driven = time.monotonic()
        # every timer fires once: advance each case past its statutory deadline
        today = datetime.now(CHINA).date()

        def advance(cid: str) -> dict:
            days = max(30, (statutory_due[cid] - today).days + 2)
            r = client.call("POST", f"/api/simulation/cases/{cid}/advance", json={"days": days}, headers=admin)
            assert r.status_code == 200, r.text
            return r.json()

        with ThreadPoolExecutor(8) as pool:
            advanced = list(pool.map(advance, case_ids.values()))

        t_advanced = time.monotonic()
        print(f"ready {t_ready - t_start:.1f} s, driven {t_driven - t_ready:.1f} s, advanced "
              f"{t_advanced - t_driven:.1f} s, failovers {client.failovers}")
        listing = client.call("GET", "/api/cases", params={"limit": 100}, headers=admin).json()
        assert listing["total"] == CASES and {c["id"] for c in listing["items"]} == set(case_ids.values())
        for n, cid in case_ids.items():
            history = client.call("GET", f"/api/cases/{cid}/history", headers=admin).json()
            actions = [h["action"] for h in history]
            assert acknowledged[n] == ["submitted", "accept", "pass"]
            for action in ("submitted", "accept", "pass"):
                assert actions.count(action) == 1, (cid, actions)
            fired = [h["data"].get("cause") for h in history if h["action"] == "warning"]
            for cause in ("promised_due_near", "promised_overdue", "statutory_overdue"):
                assert fired.count(cause) == 1, (cid, fired)
        assert all(c["status"] == "in_review" for c in advanced)
    finally:
        for p in procs:
            p.kill(signal.SIGTERM)
        server.stop()
        drop_postgres(db_url)

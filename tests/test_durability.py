"""`banjian up` as a real process: stopping it with Ctrl-C and starting it again on the same data
dir loses no case and no timer; `--demo` twice adds nothing twice."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from banjian.ids import make_citizen_id
from banjian.temporal import port_open
from banjian.timefmt import CHINA

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BANJIAN = ROOT / ".venv" / "bin" / "banjian"
PASSWORD = "durable-pass-1"
ITEM = "food-business-licence"
CLEAN_ENV = ("BANJIAN_DATA_DIR", "DATABASE_URL", "BANJIAN_DATABASE_URL", "TEMPORAL_ADDRESS",
             "BANJIAN_TEMPORAL_ADDRESS", "BANJIAN_PORT", "BANJIAN_TEMPORAL_PORT", "BANJIAN_UI_PORT")


def free_port(taken: set[int]) -> int:
    """A free port below the kernel's ephemeral range, so that no outgoing connection or randomly
    placed listener (the Temporal server's HTTP and metrics ports) takes it before or between starts."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) \
        if Path("/proc/sys/net/ipv4/ip_local_port_range").exists() else 32768
    while True:
        port = random.randrange(20000, max(20001, min(low, 32768)))
        if port in taken or port_open(port):
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    e["BANJIAN_SIMULATION"] = "1"
    e["PYTHONUNBUFFERED"] = "1"
    return e


def cli(data_dir: Path, *args: str, environ: dict[str, str] | None = None) -> str:
    r = subprocess.run([str(BANJIAN), *args, "--data-dir", str(data_dir)], capture_output=True, text=True,
                       env={**env(), **(environ or {})}, cwd=ROOT, timeout=120)
    assert r.returncode == 0, f"banjian {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


class Up:
    """One `banjian up` process group on fixed ports (the same ports again after a restart)."""

    def __init__(self, data_dir: Path, environ: dict[str, str] | None = None) -> None:
        taken: set[int] = set()
        self.data_dir = data_dir
        self.environ = environ or {}  # on top of env(), e.g. DATABASE_URL
        self.port, self.temporal_port, self.ui_port = free_port(taken), free_port(taken), free_port(taken)
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-up.log"
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> None:
        assert self.proc is None or self.proc.poll() is not None
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(BANJIAN), "up", "--data-dir", str(self.data_dir), "--port", str(self.port),
             "--temporal-port", str(self.temporal_port), "--ui-port", str(self.ui_port), *extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**env(), **self.environ}, cwd=ROOT,
            start_new_session=True)
        log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"banjian up exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = httpx.get(f"{self.base}/api/health", timeout=5)
                last = r.text
                if r.status_code == 200:
                    assert r.json() == {"status": "ok", "database": "ok", "temporal": "ok", "worker": "ok"}
                    return
            except httpx.HTTPError as e:
                last = repr(e)
            time.sleep(0.3)
        pytest.fail(f"banjian up not ready in {timeout:.0f} s (last: {last}):\n{self.log()}")

    def interrupt(self, timeout: float = 30) -> float:
        """Ctrl-C to the whole process group; the time it took to exit."""
        assert self.proc is not None
        t0 = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"banjian up did not stop within {timeout:.0f} s of Ctrl-C:\n{self.log()}")
        took = time.monotonic() - t0
        self._wait_group_gone(10)
        assert "banjian stopped" in self.log(), self.log()  # the log ends saying the stop completed
        return took

    def _wait_group_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        pytest.fail(f"processes of the group were left behind after Ctrl-C:\n{self.log()}")

    def kill(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def ports_free(self) -> bool:
        return not any(port_open(p) for p in (self.port, self.temporal_port, self.ui_port))


def login(base: str, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = httpx.post(f"{base}/api/auth/token", data={"username": username, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def act(base: str, who: dict, case_id: str, action: str, **data) -> dict:
    r = httpx.post(f"{base}/api/cases/{case_id}/actions", json={"action": action, "data": data}, headers=who,
                   timeout=60)
    assert r.status_code == 200, f"{action}: {r.status_code} {r.text}"
    return r.json()


def get_case(base: str, who: dict, case_id: str) -> dict:
    r = httpx.get(f"{base}/api/cases/{case_id}", headers=who, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_restart_keeps_cases_and_timers(tmp_path):
    data = tmp_path / "data"
    id_number = make_citizen_id("330106", date(1986, 8, 8), 58)
    cli(data, "users", "add", "admin1", "--password", PASSWORD, "--role", "admin")
    up = Up(data)
    try:
        up.start()
        # users added while the system starts and runs
        cli(data, "users", "add", "zhang", "--password", PASSWORD, "--role", "applicant", "--id-number",
            id_number, "--name", "张三")
        cli(data, "users", "add", "clerk1", "--password", PASSWORD, "--role", "clerk", "--department", "amr")
        up.wait_ready()
        cli(data, "users", "add", "handler1", "--password", PASSWORD, "--role", "handler", "--department", "amr")
        base = up.base
        applicant, clerk, handler, admin = (login(base, u) for u in ("zhang", "clerk1", "handler1", "admin1"))

        item = httpx.get(f"{base}/api/items/{ITEM}", headers=applicant, timeout=30).json()
        form = {f["name"]: {"text": "测试", "number": 50, "boolean": True, "date": "2026-12-01",
                            "choice": (f.get("choices") or [""])[0]}[f["type"]]
                for f in item["form"] if f["required"]}
        body = {"item_code": ITEM, "applicant": {"kind": "citizen", "id_number": id_number, "name": "张三"},
                "form": form, "materials": [{"name": m["name"]} for m in item["materials"] if m["required"]],
                "channel": "web", "idempotency_key": "durable-1"}
        r = httpx.post(f"{base}/api/cases", json=body, headers=applicant, timeout=60)
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        before = act(base, clerk, case_id, "accept")
        assert before["status"] == "accepted" and before["current_step"]["id"] == "review"

        took = up.interrupt()
        assert took < 30
        assert up.ports_free(), "a port is still held after Ctrl-C"

        up.start()
        up.wait_ready()
        after = get_case(base, applicant, case_id)  # tokens survive a restart (the key is in the data dir)
        for key in ("status", "item_version", "accepted_at", "deadlines", "current_step", "warnings", "applicant"):
            assert after[key] == before[key], key
        assert [h["action"] for h in after["history"]] == [h["action"] for h in before["history"]]
        # the same idempotency key still finds the same case
        r = httpx.post(f"{base}/api/cases", json=body, headers=applicant, timeout=60)
        assert r.status_code == 200 and r.json()["id"] == case_id

        passed = act(base, handler, case_id, "pass")
        assert passed["current_step"]["id"] == "verify" and passed["status"] == "in_review"

        # the timers set before the restart still fire
        today = datetime.now(CHINA).date()
        statutory_due = date.fromisoformat(passed["deadlines"]["statutory_due"])
        days = max(30, (statutory_due - today).days + 2)
        r = httpx.post(f"{base}/api/simulation/cases/{case_id}/advance", json={"days": days}, headers=admin,
                       timeout=120)
        assert r.status_code == 200, r.text
        advanced = r.json()
        causes = {w["cause"]: w["level"] for w in advanced["warnings"]}
        assert causes.get("promised_overdue") == "yellow", advanced["warnings"]
        assert causes.get("statutory_overdue") == "red", advanced["warnings"]
        assert "promised_due_near" in causes
        listing = httpx.get(f"{base}/api/cases", params={"warning": "red"}, headers=admin, timeout=30).json()
        assert case_id in [c["id"] for c in listing["items"]]
        # each cause once
        history = httpx.get(f"{base}/api/cases/{case_id}/history", headers=admin, timeout=30).json()
        fired = [h["data"].get("cause") for h in history if h["action"] == "warning"]
        assert fired.count("statutory_overdue") == 1 and fired.count("promised_overdue") == 1
    finally:
        up.kill()


def test_demo_twice_adds_nothing_twice(tmp_path):
    data = tmp_path / "demo"
    up = Up(data)
    try:
        up.start("--demo")
        up.wait_ready(timeout=240)
        admin = login(up.base, "admin", "banjian-demo")
        first = httpx.get(f"{up.base}/api/cases", params={"limit": 500}, headers=admin, timeout=60).json()
        assert first["total"] > 0
        statuses = {c["id"]: c["status"] for c in first["items"]}
        assert {"submitted", "accepted", "concluded", "awaiting_payment"} <= set(statuses.values())
        up.interrupt()
        assert up.ports_free()

        up.start("--demo")
        up.wait_ready(timeout=240)
        admin = login(up.base, "admin", "banjian-demo")
        second = httpx.get(f"{up.base}/api/cases", params={"limit": 500}, headers=admin, timeout=60).json()
        assert second["total"] == first["total"]
        assert {c["id"]: c["status"] for c in second["items"]} == statuses
        # the demo users still log in, with their cases
        zhang = login(up.base, "zhangsan", "banjian-demo")
        own = httpx.get(f"{up.base}/api/cases", headers=zhang, timeout=30).json()
        assert own["total"] >= 1
        up.interrupt()
    finally:
        up.kill()

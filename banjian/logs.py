"""Structured logs: every line carries the request id and the case id it concerns.

`BANJIAN_LOG_FORMAT=json` writes one JSON object per line (python-json-logger) with `time`,
`level`, `logger`, `message`, `request_id`, `case_id` and any `extra` fields; the default is text.
The ids come from context variables that the API's middleware sets for each request, or, in the
worker, from the workflow or activity the SDK's logger names.
"""
from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

from banjian.settings import Settings

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
case_id_var: ContextVar[str | None] = ContextVar("case_id", default=None)


def _case_of(record: logging.LogRecord) -> str | None:
    for key in ("temporal_activity", "temporal_workflow"):
        info: Any = getattr(record, key, None)
        if isinstance(info, dict) and str(info.get("workflow_id", "")).startswith("case-"):
            return str(info["workflow_id"]).removeprefix("case-")
    return None


class ContextFilter(logging.Filter):
    """Adds `request_id` and `case_id` to every record (None when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "case_id", None) is None:
            record.case_id = case_id_var.get() or _case_of(record)
        return True


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(case_id)s",
                             rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                             json_ensure_ascii=False)
    return logging.Formatter("%(asctime)s %(name)s %(levelname)s [req=%(request_id)s case=%(case_id)s] %(message)s")


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record comes, not to the one it was made with: a
    command run in-process (a test's CLI runner swaps stderr, then closes it) leaves no handler
    writing into a closed stream."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(settings: Settings, stream: Any = None) -> logging.Handler:
    """One handler on the root logger, text or JSON as the settings say; returns it."""
    handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.setFormatter(formatter(settings.log_format))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_banjian", False)]:
        root.removeHandler(old)
    handler._banjian = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # the HTTP client logs every request at INFO (each feed POST); its failures are logged by the feed
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING)
    return handler

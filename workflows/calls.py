"""How workflow code reaches the world and refuses an action: activity calls by name (the
activity modules are never imported into the sandbox) and business rejections."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from banjian.errors import DomainError

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))


def takes_path(design: int, patch: str) -> bool:
    """Whether a case takes the path `patch` guards: always for a case of design 1 or later
    (`CaseInput.design`: its input says so, and no marker or search-attribute update is written),
    else as its history's patch marker says (`workflow.patched`)."""
    return design >= 1 or workflow.patched(patch)


def reject(err: DomainError) -> ApplicationError:
    """A business rejection as a non-retryable ApplicationError the API maps back to HTTP."""
    return ApplicationError(err.message_en, *err.to_details(), type=err.code, non_retryable=True)


async def run_activity(name: str, arg: Any, result_type: type | None = None) -> Any:
    """Run an activity by its registered name; it retries until it succeeds (back-off to 10 s)."""
    return await workflow.execute_activity(
        name, arg, result_type=result_type, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY)


async def run_local_activity(name: str, arg: Any, result_type: type | None = None) -> Any:
    """Run an activity by name inside the current workflow task (a local activity: one marker in the
    history, no task round trip through the server); it must be idempotent, as it reruns if the
    worker dies before the task completes. Retries like `run_activity`."""
    return await workflow.execute_local_activity(
        name, arg, result_type=result_type, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY)

"""How the API reaches a case's workflow: the workflow's id, an update's id, and what an update's
failure means (a domain error for the contract, or an `Outcome` nobody knows yet).
"""
from __future__ import annotations

import hashlib
import json
import uuid

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from banjian.contracts import ActionInput
from banjian.errors import DomainError, from_application_error


def workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


class Outcome(Exception):
    """Temporal did not answer in time: the action may or may not have been applied."""


def map_update_error(err: Exception) -> DomainError:
    cause = err.cause if isinstance(err, WorkflowUpdateFailedError) else err
    if isinstance(cause, ApplicationError):
        mapped = from_application_error(cause.type, list(cause.details))
        if mapped is not None:
            return mapped
    raise err


def update_id(act: ActionInput, request_id: str | None) -> str:
    """The id of an action's update: new for every request; with an `X-Request-Id`, that id bound to
    what is asked (who, which action, its comment and data), so that a retry of the same request is
    applied once and the same header on another request is another request, never a lost one."""
    if request_id is None:
        return f"{act.action}-{uuid.uuid4().hex}"
    asked = json.dumps([act.actor.username, act.action, act.comment, act.data], sort_keys=True,
                       ensure_ascii=False, default=str)
    return f"{request_id}-{hashlib.sha256(asked.encode()).hexdigest()[:16]}"

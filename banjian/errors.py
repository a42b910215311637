"""Domain errors: one type, a machine code, messages in Chinese and English, an HTTP status.

Raised by pure rule code (API and workflow validators alike). In a workflow it is turned
into a non-retryable `ApplicationError` whose `type` is the code and whose details carry the
rest, so the API can map it back once (`api/errors.py`).
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rejection: the request breaks a rule of the domain."""

    status: int = 422

    def __init__(self, code: str, message: str, message_en: str, field: str | None = None,
                 status: int | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message_en)
        self.code = code
        self.message = message
        self.message_en = message_en
        self.field = field
        # machine-readable facts beside the messages (e.g. `departments`: codes the message names)
        self.extra = dict(extra or {})
        if status is not None:
            self.status = status

    def detail(self) -> dict[str, Any]:
        return {**self.extra, "code": self.code, "message": self.message, "message_en": self.message_en,
                "field": self.field}

    def to_details(self) -> list[Any]:
        """The payload carried in an ApplicationError's details (`extra` fifth, when there is any)."""
        details: list[Any] = [self.status, self.message, self.message_en, self.field]
        return [*details, self.extra] if self.extra else details


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


class Invalid(DomainError):
    status = 422


class Unauthorised(DomainError):
    status = 401

    def __init__(self, code: str, message: str, message_en: str, field: str | None = None,
                 extra_headers: dict[str, str] | None = None) -> None:
        super().__init__(code, message, message_en, field)
        #: response headers in place of the default challenge (`WWW-Authenticate: Bearer`)
        self.headers = dict(extra_headers or {})


class Unavailable(DomainError):
    """A limit was truly reached (database pool, Temporal): answered 503 with `Retry-After`."""

    status = 503
    retry_after = 2


def from_application_error(code: str | None, details: list[Any] | tuple[Any, ...] | None) -> DomainError | None:
    """Rebuild a DomainError from an ApplicationError raised by `raise_in_workflow`."""
    if not code or not details or len(details) < 4 or not isinstance(details[0], int):
        return None
    status, message, message_en, field = details[:4]
    extra = details[4] if len(details) > 4 and isinstance(details[4], dict) else None
    return DomainError(code, message, message_en, field, status=status, extra=extra)

"""What crosses a Temporal boundary for consultations and complaints (咨询投诉): the inquiry
workflow's input and state, the answer update, the note a complaint leaves on its case.

Imports only pydantic, the standard library and `banjian.contracts` (sandbox-safe)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from banjian.contracts import Actor, Model

InquiryKind = Literal["consultation", "complaint"]
InquiryChannel = Literal["web", "window", "hotline"]
InquiryStatus = Literal["open", "answered"]
#: a complaint's outcome as the department judges it; a consultation has none
ComplaintOutcomeKind = Literal["upheld", "partly_upheld", "not_upheld"]


class InquiryInput(Model):
    """The start of an inquiry: filed by the API, which has checked it and planned its answer limit."""

    id: str
    kind: InquiryKind
    channel: InquiryChannel = "web"
    department: str
    item_code: str | None = None
    case_id: str | None = None
    asker: str | None = None
    contact: str | None = None
    text: str
    answer_due: date
    key_hash: str | None = None


class InquiryWarning(Model):
    level: Literal["notice", "yellow"]
    cause: Literal["answer_due_near", "answer_overdue"]
    at: datetime


class InquiryState(Model):
    """The inquiry as its workflow holds it; the read model (`inquiries`) mirrors it."""

    inp: InquiryInput
    status: InquiryStatus = "open"
    filed_at: datetime
    answered_at: datetime | None = None
    answered_by: str | None = None
    answer: str | None = None
    outcome: ComplaintOutcomeKind | None = None
    warnings: list[InquiryWarning] = []
    overdue: bool = False
    case_noted: bool = False


class AnswerInput(Model):
    """The department's answer (update `answer`)."""

    actor: Actor
    text: str
    outcome: ComplaintOutcomeKind | None = None


class ComplaintNote(Model):
    """A complaint's outcome, signalled to its case's workflow, which records it in the history."""

    inquiry_id: str
    answered_by: str
    answer: str
    outcome: ComplaintOutcomeKind | None = None
    overdue: bool = False

"""The contracts of a joint case (并联审批) and a bundle (一件事) with their departments' sub-cases: a
parent's view of each sub-case, and the consolidated supplement (一次性告知) the departments ask for
through the lead unit (`JOINT_SUPPLEMENT_DESIGN`, workflows/joint_supplement.py). Sandbox-safe,
like `banjian/contracts.py`, which holds them in the case state."""
from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from banjian.contract_parts import MaterialRef, Model
from banjian.enums import Decision, Opinion, Status


class SupplementAsk(Model):
    """A department's request, in a joint case or bundle, that the applicant supplement materials (补正需求):
    who asked, when, for what, and why (the department's opinion). `JOINT_SUPPLEMENT_DESIGN`."""

    sub_case: str
    department: str
    department_name: str | None = None
    missing: list[str]
    comment: str
    by: str
    by_name: str | None = None
    at: datetime


class JointSupplement(Model):
    """A joint case's (or bundle's) one consolidated supplement notice (一次性告知): the departments'
    requests it gathers, the notice the lead unit sent and the applicant's answer."""

    asks: list[SupplementAsk] = []
    notified_at: datetime | None = None
    notified_by: str | None = None
    missing: list[str] = []
    comment: str | None = None
    answered_at: datetime | None = None
    #: requests that reached the joint case after its notice went out (a race): answered with the rest
    late: list[SupplementAsk] = []

    def asked(self) -> list[str]:
        """Every material the departments asked for, each once, in the order asked."""
        out: list[str] = []
        for ask in self.asks:
            out += [m for m in ask.missing if m not in out]
        return out


class JointSupplementAnswer(Model):
    """What a joint case forwards to each open sub-case (`joint_supplement_answered`): the applicant's
    supplemented materials and who handed them in."""

    materials: list[MaterialRef]
    by: str


class SubCaseRef(Model):
    """A parent's view of one department's sub-case (并联部门子件)."""

    id: str
    department: str
    department_name: str | None = Field(default=None, description="the department's name for people to read "
                                                                   "(None in older histories: the code stands in)")
    item_code: str
    item_name: str
    status: Status
    opinion: Opinion | None = None
    decision: Decision | None = None
    due: date | None = None
    reason: str | None = None
    required: bool = True
    overdue: bool = False
    opened: bool = False
    deemed_consent: bool = False
    licence_id: str | None = Field(default=None, description="the e-licence a bundle member's sub-case issued "
                                                             "on approval (None otherwise, and in older histories)")
    parent_paused: bool = Field(default=False, description="the sub-case's clock is paused because its joint "
                                                           "case's is (design 8 on; always False before)")
    supplement_ask: SupplementAsk | None = Field(default=None, description=(
        "the department's open request for a supplement (design 9 on; None when it has none)"))

    @property
    def department_label(self) -> str:
        """The department as people read it: its name, else (older histories) its code."""
        return self.department_name or self.department

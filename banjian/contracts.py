"""What crosses the case workflow's boundary: its input, the people acting, update arguments and
answers, and the case state the workflow owns. The inputs and outputs of its activities are in
`banjian/activity_contracts.py`.

One pydantic model per call. Imports only pydantic, the standard library and the other
sandbox-safe domain modules (enums, item schema), so workflows can import it through
`workflow.unsafe.imports_passed_through()`. SQLModel tables never appear here.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from banjian.contract_parts import Actor, Agent, Applicant, MaterialRef, Model
from banjian.enums import (
    Channel,
    Decision,
    LimitUnit,
    Opinion,
    Role,
    Status,
    WarningCause,
    WarningLevel,
)
from banjian.items.schema import ItemDefinition, Limit
from banjian.joint_contracts import JointSupplement, SubCaseRef, SupplementAsk

SYSTEM = Actor(username="system", roles=[Role.SYSTEM], display_name="系统")


#: The design generation new cases start on (`CaseInput.design`, read by workflows/case.py). Telling a
#: path by the input instead of a patch marker saves a marker event and a search-attribute update
#: (a visibility write) per case.
CASE_DESIGN = 9
#: from this design on a department's sub-case is never returned to the applicant (who cannot open it),
#: and a bundle member's sub-case issues its item's e-licence when it approves (banjian/rules.py,
#: workflows/licensing.py)
SUB_CASE_DESIGN = 4
#: from this design on the e-licence is issued by a local activity inside the approval's workflow task
#: (one marker; no activity task round trip through the server on the concluding action)
LOCAL_LICENCE_DESIGN = 4
#: from this design on a case that waits for its fee gets its e-licence when the fee is paid, not at the
#: approval: a case left unpaid (terminated at `payment_due`) never holds a valid licence
#: (workflows/transitions.py, workflows/payment.py)
LICENCE_AFTER_PAYMENT_DESIGN = 5
#: from this design on an extension is requested and approved only within the statutory limit (行政许可法
#: art. 42: the extension is decided within the period): once the limit has ended (the case holds its
#: `statutory_overdue` warning) both are refused; a rule the update handler re-checks, so older cases keep
#: theirs (banjian/rules.py)
EXTENSION_IN_TIME_DESIGN = 6
#: from this design on an extension counts in its item's `extension_limit` unit: natural days (from the
#: limit's last day, onto a working day) when the definition says so; older cases counted every
#: extension in working days and keep doing so (workflows/transitions.py, activities/calendar.py)
EXTENSION_UNIT_DESIGN = 7
#: from this design on a joint case's or bundle's pause (a suspension, a special procedure that does not
#: count toward the limit) pauses the clock of every open department sub-case too, and its resumption
#: starts them again (行政许可法: suspended time does not count, for the departments' sub-limits either):
#: no department goes overdue, nor is deemed to consent, while the whole case is paused
#: (workflows/joint.py `_pause_sub_cases`, the sub-case's `parent_clock` signal)
JOINT_PAUSE_DESIGN = 8
#: from this design on a department of a joint case or bundle may ask for a supplement (补正) through the
#: lead unit (`ask_supplement` on its sub-case, which pauses its own clock); the lead unit sends the applicant
#: one consolidated notice (`notify_supplement` on the joint case: 一次性告知, every department's request in
#: it), which pauses the joint case's clock and with it every sub-case's; the applicant's one answer
#: (`submit_supplement`) reaches every open sub-case (`joint_supplement_answered` signal) before the clocks run
#: again (workflows/joint_supplement.py). Older cases never take the path.
JOINT_SUPPLEMENT_DESIGN = 9


class CaseInput(Model):
    """Input of a case workflow: everything fixed at receipt, including the item version in force."""

    case_id: str
    case_no: str | None = Field(default=None, description="unified case number (统一受理号码); None in old histories")
    item: ItemDefinition
    department: str
    applicant: Applicant
    agent: Agent | None = Field(default=None, description="who files for the applicant (经办人), if anyone; "
                                "None in older histories")
    form: dict[str, Any] = {}
    materials: list[MaterialRef] = []
    channel: Channel = Channel.WEB
    submitted_by: Actor
    parent_id: str | None = None
    # sub-case of a joint case: the participant's steps and sub-limit replace the item's
    steps_override: list[Any] | None = None
    limit_override: Limit | None = None
    accepted_at: datetime | None = Field(default=None, description="sub-cases start already accepted")
    members: list[ItemDefinition] = Field(default=[], description="a bundle's member items, current versions")
    lead_department: str | None = Field(default=None, description="a sub-case's lead unit")
    department_names: dict[str, str] = Field(default={}, description=(
        "a joint case's or bundle's departments by name (code → name, the departments table's at receipt), "
        "for the texts people read (denial reasons, history comments); empty in older histories, whose "
        "texts name the codes"))
    pre_review: bool = Field(default=False, description="filed for online pre-review (预审) first")
    design: int = Field(default=0, ge=0, le=CASE_DESIGN, description=(
        "the case workflow's design generation at the start: 0 in older histories, whose paths their patch "
        "markers tell; 1: the lean path (one local activity per transition) without a patch marker, and the "
        "archive package built by the read model's archive queue (banjian/archive_queue.py), not by an "
        "`archive_case` activity of the workflow; 2: as 1, and the applicant may withdraw only before the "
        "decision (not while an approved case waits for its fee); 3: as 2, and no notice that the promised deadline is "
        "near (`promised_due_near`) once that deadline has passed: only its overdue warning; 4: a bundle member's "
        "sub-case issues its licence, and the licence is issued by a local activity; 5: a case that waits for "
        "its fee gets its licence when the fee is paid; 6: extensions only within the statutory limit; 7: an "
        "extension counts in its item's unit (natural days too); 8: a joint case's or bundle's pause pauses its "
        "open sub-cases' clocks; 9: a department asks for a supplement through the lead unit, which sends one "
        "consolidated notice"))


class ActionInput(Model):
    """One human action, the argument of the `act` update."""

    action: str
    actor: Actor
    comment: str | None = None
    data: dict[str, Any] = {}


class HistoryEntry(Model):
    seq: int
    at: datetime
    actor: str
    role: str
    department: str | None = None
    action: str
    comment: str | None = None
    data: dict[str, Any] = {}


class WarningRecord(Model):
    level: WarningLevel
    cause: WarningCause
    step_id: str | None = None
    at: datetime
    reason: str


class Deadlines(Model):
    """Due dates (last working day still on time) and the dates timers are derived from."""

    acceptance_due: date | None = None
    promised_due: date | None = None
    statutory_due: date | None = None
    notice_on: date | None = None
    step_due: date | None = None
    delivery_due: date | None = None
    provisional: bool = False


class Clock(Model):
    """The pausable review clock (办理时限计时)."""

    paused: bool = False
    paused_since: datetime | None = None
    paused_working_days: int = 0
    extended_days: int = 0
    # the unit of `extended_days`: the item's `extension_limit` unit when the extension was approved
    # (cases extended before natural-day extensions were counted as such keep working days)
    extended_unit: LimitUnit = LimitUnit.WORKING_DAYS
    working_days_used: int = 0
    step_base: int = Field(default=0, description="paused_working_days when the current step started")


class StepRef(Model):
    id: str
    name: str
    role: Role


class PreReviewState(Model):
    """Online pre-review (预审) before formal receipt: its round, limit and where it stands."""

    round: int = 1
    due: date | None = None
    passed: bool = False
    returned: bool = False
    missing: list[str] = []
    warned_rounds: list[int] = []


class CaseResult(Model):
    decision: Decision
    reason: str | None = None
    licence_id: str | None = None
    opinion: Opinion | None = None


class PendingExtension(Model):
    requested_by: str
    reason: str
    requested_at: datetime
    days: int
    unit: LimitUnit = LimitUnit.WORKING_DAYS


class SpecialProcedureState(Model):
    kind: str
    name: str
    expected_days: int
    started_at: datetime


class Countersign(Model):
    """Signers added to the current step (加签): `before` the step's owner acts, or `after` the owner
    passes; `all` slots must sign, or `any` one. A slot is "user:NAME" or "role:ROLE"."""

    slots: list[str]
    mode: Literal["all", "any"] = "all"
    position: Literal["before", "after"] = "after"
    signed: list[str] = []
    signed_by: list[str] = []
    added_by: str
    active: bool = False

    def slot_of(self, actor: Actor) -> str | None:
        """The unsigned slot this actor may sign, if any."""
        for slot in self.slots:
            if slot in self.signed:
                continue
            kind, _, who = slot.partition(":")
            if (kind == "user" and who == actor.username) or (kind == "role" and who in actor.roles):
                return slot
        return None

    def complete(self) -> bool:
        return bool(self.signed) if self.mode == "any" else len(self.signed) == len(self.slots)

    def pending(self) -> list[str]:
        """The slots still to sign while the signers are asked (`active`); none before the owner's
        pass of an `after` countersign, and none once the signatures are complete."""
        if not self.active or self.complete():
            return []
        return [slot for slot in self.slots if slot not in self.signed]


class PaymentState(Model):
    """A case's online payment (缴费, banjian/payments.py): the order, its deadline, what was paid and
    what was sent back. Amounts are whole fen."""

    order_id: str
    provider: str
    amount_fen: int
    due: date
    requested_at: datetime
    status: Literal["awaiting", "paid", "expired", "cancelled"] = "awaiting"
    transaction_id: str | None = None
    paid_at: datetime | None = None
    #: every provider transaction this case has heard of (the payment and any refunded one)
    transactions: list[str] = []
    refunded: list[str] = []
    #: the payment started and not yet reported (`begin_payment`): its transaction and when it began;
    #: another payment cannot start while it is in progress (for `CHECKOUT_MINUTES`, banjian/payment_contracts.py)
    checkout: str | None = None
    checkout_at: datetime | None = None


class Urge(Model):
    """One urge (督办) on a case: its reply date and what became of it (banjian/urges.py has the rules).

    Unanswered at the end of `reply_by` it escalates to the department's head (`escalated` 1); still
    unanswered at the end of `board_on` it goes to the supervisor's warnings board (`escalated` 2).
    An urge on a joint case lists the `departments` still working: it is forwarded to their
    sub-cases, each of which keeps (and escalates) its own copy (`forwarded_from` the joint case)."""

    n: int
    by: str
    role: str
    at: datetime
    #: the display name of `by` when the urge was taken (urges taken before it was kept: None)
    by_name: str | None = None
    comment: str | None = None
    reply_by: date
    board_on: date
    departments: list[str] = []
    forwarded_from: str | None = None
    replied_at: datetime | None = None
    replied_by: str | None = None
    reply: str | None = None
    escalated: int = 0


class UrgeForward(Model):
    """A joint case's urge, signalled to one of its sub-cases (`urge_forwarded`)."""

    urge: Urge
    actor: Actor
    parent_id: str


class RectificationRef(Model):
    """A case's view of its rectification (整改), kept current by the rectification workflow: the
    figure columns `rectified` and `rating_void` are read from it."""

    id: str
    status: str
    due: date | None = None
    rectified: bool = False
    rating_void: bool = False
    open: bool = True


class CaseState(Model):
    """The state a case workflow owns; the read model is a copy of it."""

    id: str
    design: int = Field(default=0, ge=0, description="the case's design generation (`CaseInput.design`): the "
                        "rules of its generation apply to it for its whole life")
    case_no: str | None = Field(default=None, description="unified case number (统一受理号码)")
    item_code: str
    item_version: int
    item_name: str
    kind: str = "single"
    department: str
    status: Status
    applicant: Applicant
    agent: Agent | None = Field(default=None, description="who files for the applicant (经办人), if anyone")
    channel: Channel
    form: dict[str, Any] = {}
    materials: list[MaterialRef] = []
    submitted_at: datetime
    received_at: datetime
    accepted_at: datetime | None = None
    decided_at: datetime | None = None
    delivered_at: datetime | None = None
    concluded_at: datetime | None = None
    deadlines: Deadlines = Deadlines()
    clock: Clock = Clock()
    warnings: list[WarningRecord] = []
    step_index: int | None = None
    step_started_at: datetime | None = None
    current_step: StepRef | None = None
    claimed_by: str | None = None
    delegated_by: str | None = Field(default=None, description="who delegated the current task (委托)")
    last_passed_by: str | None = Field(default=None, description="who passed the previous step (may take it back)")
    countersign: Countersign | None = None
    copied_to: list[str] = []
    returned_to_applicant: bool = False
    missing_materials: list[str] = []
    supplement_requested: bool = False
    extension: PendingExtension | None = None
    special_procedure: SpecialProcedureState | None = None
    result: CaseResult | None = None
    delivery: dict[str, Any] | None = None
    rating: int | None = None
    urged: int = 0
    urges: list[Urge] = []
    rectification: RectificationRef | None = None
    parent_id: str | None = None
    lead_department: str | None = None
    sub_cases: list[SubCaseRef] | None = None
    parent_paused: bool = Field(default=False, description="a sub-case whose joint case is paused: its clock "
                                                           "is paused too (`JOINT_PAUSE_DESIGN`)")
    supplement_ask: SupplementAsk | None = Field(default=None, description=(
        "a sub-case: its department's open request for a supplement (`JOINT_SUPPLEMENT_DESIGN`)"))
    supplement_notified: bool = Field(default=False, description=(
        "a sub-case: the lead unit has sent the joint case's one supplement notice (no more requests)"))
    joint_supplement: JointSupplement | None = Field(default=None, description=(
        "a joint case or bundle: its departments' supplement requests and the one notice (`JOINT_SUPPLEMENT_DESIGN`)"))
    pre_review: PreReviewState | None = None
    payment: PaymentState | None = None
    history: list[HistoryEntry] = []
    clock_at: datetime = Field(description="the case clock (workflow time) when this state was taken")


class Answered(Model):
    """What the `open` and `act` updates answer: which case and how far its history goes. The case
    itself is read from the read model, which the workflow wrote before it answered; a whole state
    in every answer would make each action's history grow with the case."""

    id: str
    status: Status
    seq: int = Field(description="history entries recorded so far")

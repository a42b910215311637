"""Enumerations of the domain: case statuses, actions, roles, warnings.

Imports only the standard library so that workflow code can use it freely.
"""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Case status (办件状态), as the public contract names them."""

    PRE_REVIEW = "pre_review"
    SUBMITTED = "submitted"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    ACCEPTED = "accepted"
    IN_REVIEW = "in_review"
    SPECIAL_PROCEDURE = "special_procedure"
    SUSPENDED = "suspended"
    DECIDED = "decided"
    AWAITING_PAYMENT = "awaiting_payment"
    DELIVERED = "delivered"
    CONCLUDED = "concluded"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    TERMINATED = "terminated"


#: Statuses after which nothing waits for anyone (the case is closed).
CLOSED = frozenset({Status.CONCLUDED, Status.REFUSED, Status.WITHDRAWN, Status.TERMINATED})
#: Statuses in which the review clock is paused.
PAUSED = frozenset({Status.SPECIAL_PROCEDURE, Status.SUSPENDED})
#: Statuses between acceptance and decision.
UNDER_REVIEW = frozenset({Status.ACCEPTED, Status.IN_REVIEW, Status.SPECIAL_PROCEDURE, Status.SUSPENDED})


class Action(StrEnum):
    """Actions people post to a case (POST /api/cases/{id}/actions)."""

    ACCEPT = "accept"
    REQUEST_SUPPLEMENT = "request_supplement"
    REFUSE_ACCEPTANCE = "refuse_acceptance"
    SUBMIT_SUPPLEMENT = "submit_supplement"
    PASS = "pass"
    RETURN = "return"
    APPROVE = "approve"
    DENY = "deny"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    START_SPECIAL_PROCEDURE = "start_special_procedure"
    END_SPECIAL_PROCEDURE = "end_special_procedure"
    SUSPEND = "suspend"
    RESUME = "resume"
    DELIVER = "deliver"
    CONFIRM_RECEIPT = "confirm_receipt"
    WITHDRAW = "withdraw"
    TERMINATE = "terminate"
    URGE = "urge"
    REPLY_URGE = "reply_urge"
    RATE = "rate"
    CLAIM = "claim"
    RELEASE = "release"
    ASSIGN = "assign"
    TRANSFER = "transfer"
    DELEGATE = "delegate"
    COMPLETE_DELEGATION = "complete_delegation"
    ADD_SIGNER = "add_signer"
    RETURN_TO = "return_to"
    TAKE_BACK = "take_back"
    COPY_TO = "copy_to"
    #: a department of a joint case asks, on its sub-case, for a supplement through the lead unit
    ASK_SUPPLEMENT = "ask_supplement"
    #: the lead unit sends the applicant the joint case's one consolidated supplement notice
    NOTIFY_SUPPLEMENT = "notify_supplement"


class Role(StrEnum):
    """Roles of users (角色)."""

    APPLICANT = "applicant"
    CLERK = "clerk"
    HANDLER = "handler"
    APPROVER = "approver"
    HEAD = "head"
    LEAD = "lead"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"
    AUTHOR = "author"  # definition author of a department (事项管理员): drafts and publishes its items
    SYSTEM = "system"


#: Roles that belong to exactly one department.
STAFF_ROLES = frozenset({Role.CLERK, Role.HANDLER, Role.APPROVER, Role.HEAD, Role.LEAD})
#: Roles that need a department: the staff, and the department's definition author.
DEPARTMENT_ROLES = STAFF_ROLES | {Role.AUTHOR}


class WarningLevel(StrEnum):
    """Electronic supervision cards (电子监察): notice, yellow card, red card."""

    NOTICE = "notice"
    YELLOW = "yellow"
    RED = "red"


class WarningCause(StrEnum):
    PROMISED_DUE_NEAR = "promised_due_near"
    PROMISED_OVERDUE = "promised_overdue"
    STEP_OVERDUE = "step_overdue"
    STATUTORY_OVERDUE = "statutory_overdue"
    ACCEPTANCE_OVERDUE = "acceptance_overdue"
    PROCEDURE_VIOLATION = "procedure_violation"
    PRE_REVIEW_OVERDUE = "pre_review_overdue"
    URGE_UNANSWERED = "urge_unanswered"  # an urge's second escalation: on the supervisor's board


WARNING_LEVEL = {
    WarningCause.PROMISED_DUE_NEAR: WarningLevel.NOTICE,
    WarningCause.PROMISED_OVERDUE: WarningLevel.YELLOW,
    WarningCause.STEP_OVERDUE: WarningLevel.YELLOW,
    WarningCause.STATUTORY_OVERDUE: WarningLevel.RED,
    WarningCause.ACCEPTANCE_OVERDUE: WarningLevel.RED,
    WarningCause.PROCEDURE_VIOLATION: WarningLevel.RED,
    WarningCause.PRE_REVIEW_OVERDUE: WarningLevel.NOTICE,
    WarningCause.URGE_UNANSWERED: WarningLevel.RED,
}


class Decision(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"


class Opinion(StrEnum):
    """A participating department's answer in a joint case (并联审批意见)."""

    AGREE = "agree"
    AGREE_WITH_REFERRAL = "agree_with_referral"
    DISAGREE = "disagree"


class LimitUnit(StrEnum):
    WORKING_DAYS = "working_days"
    NATURAL_DAYS = "natural_days"


class ItemKind(StrEnum):
    SINGLE = "single"
    JOINT = "joint"
    BUNDLE = "bundle"


class DeliveryMethod(StrEnum):
    ELECTRONIC = "electronic"
    COURIER = "courier"
    WINDOW = "window"


class Channel(StrEnum):
    WEB = "web"
    WINDOW = "window"
    MOBILE = "mobile"
    POST = "post"


class IdKind(StrEnum):
    CITIZEN = "citizen"
    ORGANISATION = "organisation"

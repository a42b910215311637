"""The item definition schema: the GB/T 39046-2020 element set as frozen pydantic models.

A definition is one immutable *version* of a service item. The YAML files in
`item_definitions/` and the body of `POST /api/items` are parsed into `ItemDefinition`.
Only pydantic and the standard library are imported: definitions travel into workflows.
Cross-field rules (promised ≤ statutory, fully online ⇒ 0 visits, …) live in `validate.py`.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from banjian.enums import IdKind, ItemKind, LimitUnit, Role

#: the annotations of whole-number fields (time limits, copies, days, …)
_WHOLE = (int, int | None)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_number(cls, value: Any, info: ValidationInfo) -> Any:
        """`true` is no number of days: pydantic would read it as 1 (YAML's `yes` too), so a limit
        written `value: yes` became one day without a word."""
        if isinstance(value, bool) and info.field_name is not None \
                and cls.model_fields[info.field_name].annotation in _WHOLE:
            raise PydanticCustomError("int_type", "Input should be a valid integer")
        return value


#: Upper bounds of a time limit, by unit. The longest limits set by Chinese law are about a year
#: (e.g. 200 working days for a drug registration review); three years in either unit is more than
#: any real item (or step, or pre-review) needs, and keeps every deadline within a few calendar years
#: of its start, far from the ranges of dates, timers and the read model's integers.
MAX_LIMIT = {LimitUnit.WORKING_DAYS: 750, LimitUnit.NATURAL_DAYS: 1096}  # 3 × 250 working days; 3 × 365 + 1 days
#: The highest version number of an item (the same bound as `?version=` of the diagram route).
MAX_VERSION = 1_000_000
#: The longest item code (the same bound as `{code}` in every item route's path).
MAX_CODE_LENGTH = 64


class Limit(Frozen):
    """A time limit: a number and its unit (working days unless said otherwise), at most `MAX_LIMIT`
    of the unit. `unit` comes first so that the bound of `value` knows it."""

    unit: LimitUnit = LimitUnit.WORKING_DAYS
    value: int = Field(ge=0, description=f"at most {MAX_LIMIT[LimitUnit.WORKING_DAYS]} working days "
                                         f"or {MAX_LIMIT[LimitUnit.NATURAL_DAYS]} natural days")

    @field_validator("value")
    @classmethod
    def _check_bound(cls, value: int, info: ValidationInfo) -> int:
        unit = info.data.get("unit")  # absent when the unit is invalid: then the larger bound
        bound = MAX_LIMIT[unit] if isinstance(unit, LimitUnit) else max(MAX_LIMIT.values())
        if value > bound:
            raise PydanticCustomError("less_than_equal", "Input should be less than or equal to {le}", {"le": bound})
        return value


class Body(Frozen):
    """An implementing or entrusted body (实施主体 / 受委托组织)."""

    name: str = Field(min_length=1)
    credit_code: str | None = None


#: the roles a step may name (review: clerk, handler, approver, head; a joint item's own steps: lead too)
STEP_ROLES = "'clerk', 'handler', 'approver', 'head' or 'lead'"


class Step(Frozen):
    """One step of the flow after acceptance: a review step (`pass`/`return`) or the decision.

    `limit` is the optional step time limit; `on_timeout` says what happens when it passes
    (a yellow card `step_overdue`, recorded once per step).
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    role: Role
    kind: Literal["review", "decide"] = "review"

    @field_validator("role", mode="before")
    @classmethod
    def _staff_role(cls, value: Any) -> Any:
        """A role no user has names the staff roles a step may take (not every role: an applicant,
        an auditor or the system never performs a step)."""
        if not (isinstance(value, str) and value in Role._value2member_map_):
            raise PydanticCustomError("enum", "Input should be {expected}", {"expected": STEP_ROLES})
        return value
    limit: Limit | None = None
    on_timeout: Literal["yellow_card"] = "yellow_card"


class Material(Frozen):
    """An application material (申请材料). The name is how it is referred to everywhere."""

    name: str = Field(min_length=1)
    required: bool = True
    condition: str | None = None
    form: Literal["original", "copy", "electronic"] = "electronic"
    copies: int = Field(default=1, ge=0, le=100)  # no application asks for more than 100 copies
    source: str | None = None
    licence_type: str | None = None
    note: str | None = None


#: The longest text a form field takes (`max_length` of a text field is at most this).
MAX_FORM_TEXT = 2000
#: The largest magnitude of a form number (and of a number field's bounds).
MAX_FORM_NUMBER = 10**15
#: A date field's bound: an ISO date, or ``today`` with an optional offset in natural days
#: (``today-365``, ``today+30``), counted from the day of submission in China time.
DATE_BOUND = r"^(today([+-][0-9]{1,5})?|[0-9]{4}-[0-9]{2}-[0-9]{2})$"
#: Bounds a field may state, with their "unset" value (a definition without them keeps its digest).
FIELD_BOUNDS: dict[str, Any] = {"minimum": None, "maximum": None, "integer": False, "max_length": None,
                                "earliest": None, "latest": None, "commitment": False, "id_kind": None,
                                "phone": False}


class FormField(Frozen):
    """A field of the application form, with the bounds its value must keep (checked on submission,
    `banjian/form_values.py`; which bound fits which type: `banjian/items/form_rules.py`).

    number: `minimum`/`maximum` (inclusive) and `integer`; text: `max_length` (at most
    `MAX_FORM_TEXT`, the cap of every text); date: `earliest`/`latest` (inclusive; an ISO date or
    ``today±N``); boolean: `commitment` (a box the applicant must tick, e.g. 本人承诺所填信息真实有效);
    text: `phone` (a phone number: the dial pad on a phone, digits checked); text: `id_kind` (the value is an identifier checked by its standard: ``citizen`` a 公民身份号码,
    GB 11643; ``organisation`` a 统一社会信用代码, GB 32100; check character included).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    type: Literal["text", "number", "date", "boolean", "choice"] = "text"
    required: bool = True
    choices: list[str] | None = None
    minimum: int | float | None = Field(default=None, ge=-MAX_FORM_NUMBER, le=MAX_FORM_NUMBER, allow_inf_nan=False,
                                        description="number: the smallest value accepted (inclusive)")
    maximum: int | float | None = Field(default=None, ge=-MAX_FORM_NUMBER, le=MAX_FORM_NUMBER, allow_inf_nan=False,
                                        description="number: the largest value accepted (inclusive)")
    integer: bool = Field(default=False, description="number: whole numbers only")
    max_length: int | None = Field(default=None, ge=1, le=MAX_FORM_TEXT,
                                   description=f"text: the most characters accepted (at most {MAX_FORM_TEXT})")
    earliest: str | None = Field(default=None, pattern=DATE_BOUND,
                                 description="date: the earliest day accepted: YYYY-MM-DD, today, today-N or today+N")
    latest: str | None = Field(default=None, pattern=DATE_BOUND,
                               description="date: the latest day accepted: YYYY-MM-DD, today, today-N or today+N")
    commitment: bool = Field(default=False, description="boolean: a commitment the applicant must tick (true)")
    phone: bool = Field(default=False, description="text: a phone number (digits, blanks and hyphens, a leading + "
                        "allowed, 5 to 15 digits): a phone shows its dial pad, and the value is checked")
    id_kind: Literal["citizen", "organisation"] | None = Field(
        default=None, description="text: an identifier checked by its standard: citizen (公民身份号码, GB 11643) "
                                  "or organisation (统一社会信用代码, GB 32100)")

    @field_validator("minimum", "maximum", mode="before")
    @classmethod
    def _no_boolean_bound(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError("float_type", "Input should be a valid number")
        return value

    @field_validator("earliest", "latest")
    @classmethod
    def _real_date(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("today"):
            try:
                date.fromisoformat(value)
            except ValueError:
                raise PydanticCustomError("date_parsing", "Input should be a valid date") from None
        return value


class FeeItem(Frozen):
    """One fee (收费项目): its published standard, and what is charged online: a fixed `amount`
    (yuan) or a `formula` over the form's number and boolean fields (`banjian/fees.py`)."""

    name: str
    standard: str
    basis: str | None = None
    amount: float | None = Field(default=None, ge=0, le=100_000_000)
    formula: str | None = Field(default=None, min_length=1, max_length=500)

    @field_validator("formula")
    @classmethod
    def _check_formula(cls, formula: str | None) -> str | None:
        if formula is not None:
            from banjian.fees import FeeError, check_formula

            try:
                check_formula(formula)
            except FeeError as e:
                raise PydanticCustomError("fee_formula_invalid", "invalid fee formula: {en}",
                                          {"zh": e.zh, "en": str(e)}) from None
        return formula


class Fees(Frozen):
    charged: bool = False
    items: list[FeeItem] = []


class AppointmentSlots(Frozen):
    """Window appointments (预约): the times offered on every working day (by the calendar; holidays
    and weekends are off, 调休 workdays on), each with its capacity; bookable `days_ahead` days ahead."""

    times: list[str] = Field(min_length=1, max_length=48,
                             description='"HH:MM-HH:MM" windows, e.g. "09:00-10:00", in order, not overlapping')
    capacity: int = Field(ge=1, le=1000, description="people per slot")
    days_ahead: int = Field(default=14, ge=1, le=90)

    @field_validator("times")
    @classmethod
    def _check_times(cls, times: list[str]) -> list[str]:
        last = ""
        for t in times:
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", t):
                raise PydanticCustomError("appointment_times_invalid", "{en}", {
                    "zh": f"时段 {t!r} 格式不正确，应为 HH:MM-HH:MM（如 09:00-10:00）",
                    "en": f"{t!r} is not HH:MM-HH:MM"})
            start, end = t.split("-")
            if not start < end or start < last:
                raise PydanticCustomError("appointment_times_invalid", "{en}", {
                    "zh": f"时段 {t!r} 的结束时间须晚于开始时间，各时段须按先后排列、互不重叠",
                    "en": f"{t!r}: slots must end after they start, in order, without overlap"})
            last = end
        return times


class PreReviewPolicy(Frozen):
    """Online pre-review (预审): its limit, and whether a pass makes the application formal at once
    (otherwise the applicant confirms the formal submission)."""

    limit: Limit = Limit(value=2)
    formal_on_pass: bool = False


class Channels(Frozen):
    """Where and how the item can be applied for; online depth and site visits (跑动次数)."""

    window: bool = True
    web: bool = True
    mobile: bool = False
    post: bool = False
    online_depth: int = Field(default=3, ge=0, le=4)
    fully_online: bool = False
    site_visits: int = Field(default=1, ge=0, le=10)  # 跑动次数: "at most once" is the norm, 10 is far past any item
    site_visit_reason: str | None = None
    appointment: bool = False
    online_payment: bool = False
    courier: bool = False


class SpecialProcedure(Frozen):
    """A special procedure (特别程序) the item may need: hearing, inspection, appraisal, …"""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    expected_days: int = Field(ge=0, le=365)  # the bound of `start_special_procedure`'s `expected_days`
    counts_toward_limit: bool = False


class WarningPolicy(Frozen):
    """Thresholds of electronic supervision for this item (configurable; defaults from practice)."""

    notice_days: int = Field(default=2, ge=0, le=60)  # working days before the promised deadline


class Contacts(Frozen):
    consultation: str | None = None
    complaint: str | None = None


class ResultSpec(Frozen):
    """What the applicant receives (审批结果)."""

    name: str
    type: Literal["licence", "approval_letter", "certificate", "registration", "other"] = "licence"
    licence_type: str | None = None


class FaceField(Frozen):
    """One field on the face of the e-licence (照面信息), filled from the case when it is issued.

    `source` is ``form.<field name>`` (a field of the application form), ``applicant.name``,
    ``applicant.id_number``, ``applicant.kind``, ``case.case_no`` or ``case.decided_at``.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    source: str = Field(pattern=r"^(form|applicant|case)\.[a-z][a-z0-9_]*$")


class Validity(Frozen):
    """How long an issued licence is valid from its issue date (no `validity`: long-term, 长期有效)."""

    value: int = Field(ge=1, le=100)
    unit: Literal["years", "months", "days"] = "years"


class LicenceSpec(Frozen):
    """The e-licence the item issues (GB/T 36901–36906): its type, issuer, validity and face data.

    `type` is the licence type's name (the same as `result.licence_type`); `type_code` the type's
    code in the GB/T 36904 identifier; `issuer` defaults to the implementing body.
    """

    type: str = Field(min_length=1)
    type_code: str | None = Field(default=None, pattern=r"^[0-9A-Za-z]{1,20}$")
    issuer: Body | None = None
    validity: Validity | None = None
    face_data: list[FaceField] = []


class Faq(Frozen):
    q: str
    a: str


class Participant(Frozen):
    """A participating department of a joint item (并联部门), with its own sub-limit and steps."""

    department: str
    sub_limit: Limit
    steps: list[Step]
    returns: Literal["opinion", "decision"] = "opinion"
    required: bool = True


#: working days a joint item's deadline may be extended by when its definition names no `extension_limit`
JOINT_EXTENSION_DAYS = 15


class ItemDefinition(Frozen):
    """One version of a service item (事项), immutable once stored."""

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=MAX_CODE_LENGTH, description="short code used in the API")
    name: str = Field(min_length=1)
    basic_code: str | None = None
    implementation_code: str | None = None
    version: int = Field(default=1, ge=1, le=MAX_VERSION)
    status: Literal["active", "suspended", "retired"] = "active"
    effective_from: date | None = None
    effective_to: date | None = None
    type: Literal["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "20"] = "01"
    level: Literal["national", "province", "city", "county", "township", "village"] = "city"
    kind: ItemKind = ItemKind.SINGLE
    department: str = Field(description="implementing department; the lead unit of a joint item or bundle")
    implementing_body: Body
    entrusted_body: Body | None = None
    co_departments: list[str] = []
    legal_basis: list[str] = Field(min_length=1)
    case_type: Literal["promised", "immediate"] = "promised"
    promised_limit: Limit
    statutory_limit: Limit
    acceptance_limit: Limit = Limit(value=5)
    extension_limit: Limit = Limit(value=10)
    delivery_limit: Limit = Limit(value=10)
    special_procedures: list[SpecialProcedure] = []
    acceptance_conditions: list[str] = []
    steps: list[Step] = []
    materials: list[Material] = []
    form: list[FormField] = []
    fees: Fees = Fees()
    payment_limit: Limit | None = Field(
        default=None, description="how long an approved case waits for its online payment (default 15 natural days)")
    channels: Channels = Channels()
    appointments: AppointmentSlots | None = None
    pre_review: PreReviewPolicy | None = None
    service_object: list[IdKind] = [IdKind.CITIZEN]
    location: str | None = None
    hours: str | None = None
    contacts: Contacts = Contacts()
    result: ResultSpec
    licence: LicenceSpec | None = None
    faq: list[Faq] = []
    warnings: WarningPolicy = WarningPolicy()
    rating_days: int = Field(default=30, ge=0, le=365, description="natural days the case stays open for a rating")
    rectification_days: int = Field(default=10, ge=1, le=60,
                                    description="working days to rectify a bad rating (差评整改时限)")
    # joint items (并联审批)
    participants: list[Participant] = []
    silence_is_consent: bool = False
    # bundles (一件事)
    members: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _joint_extension(cls, data: Any) -> Any:
        """A joint item (并联审批: 45 working days, +15 with approval) is extended by 15 working days,
        not by a single item's 10, when its definition names no `extension_limit`."""
        if isinstance(data, dict) and data.get("kind") == ItemKind.JOINT and "extension_limit" not in data:
            return {**data, "extension_limit": {"value": JOINT_EXTENSION_DAYS}}
        return data

    def review_steps(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "review"]

    def decide_step(self) -> Step | None:
        return next((s for s in self.steps if s.kind == "decide"), None)

    def material(self, name: str) -> Material | None:
        return next((m for m in self.materials if m.name == name), None)


def _read_only(description: str) -> Any:
    """A field of a response that is derived and read-only: marked so in the JSON schema, ignored on POST."""
    return Field(description=description, json_schema_extra={"readOnly": True})


class VersionInfo(BaseModel):
    """One stored version of an item (GET /api/items/{code} `versions`)."""

    version: int
    created_at: str | None = None
    created_by: str | None = None
    digest: str


class ItemDetail(ItemDefinition):
    """GET /api/items/{code}: the definition plus derived, read-only fields (`readOnly` in the schema).

    Posting this body back to POST /api/items is accepted: the read-only fields are ignored there.
    """

    site_visits: int = _read_only("channels.site_visits, repeated for lists (到办事现场次数)")
    online: bool = _read_only("whether the item can be applied for online (web or mobile channel)")
    versions: list[VersionInfo] = _read_only("every stored version of the item, oldest first")


#: Top-level fields of `ItemDetail` that are derived (read-only): ignored when a definition is posted.
DERIVED_FIELDS = frozenset(
    name for name, f in ItemDetail.model_fields.items()
    if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("readOnly")
)

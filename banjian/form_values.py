"""The bounds of an application form's fields, applied to submitted values.

A field's bounds are stated in its definition (`FormField`: `minimum`, `maximum`, `integer`,
`max_length`, `earliest`, `latest`, `commitment`, `id_kind`). This module checks a value of the right type
against them (`refusal`), says them in words for a hint beside the field (`hint`), as HTML
attributes of its input (`html_attrs`), and picks a value that keeps them (`sample_value`, for the
demo and the tests). The API's submission check (`api/submission.py`) and the apply page use it alike.

Date bounds are ISO dates or ``today``/``today±N`` (natural days), resolved against the day of
submission in China time (`today()`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from banjian import phones
from banjian.ids import IdError, make_citizen_id, make_credit_code, validate_id
from banjian.items.schema import FormField
from banjian.timefmt import china_date

#: the first 16 characters of the organisation code a sample value uses (its check characters computed)
SAMPLE_CREDIT_BASE = "91330106MA2GL8K7"


@dataclass(frozen=True)
class Refusal:
    """Why a value breaks its field's bounds: a machine code and the rule in Chinese and English
    (each reads after the field's name: ``{label}{zh}``, ``form.{name} {en}``)."""

    code: str
    zh: str
    en: str


def today() -> date:
    """The day of submission: today in China time."""
    return china_date(datetime.now(UTC))


def resolve(bound: str, day: date) -> date:
    """A date bound on `day`: ``2026-01-01`` as it is, ``today`` as `day`, ``today+N`` / ``today-N``
    N natural days after / before it."""
    if not bound.startswith("today"):
        return date.fromisoformat(bound)
    offset = bound[len("today"):]
    return day + timedelta(days=int(offset) if offset else 0)


def number_text(value: float) -> str:
    """A number as people write it: 5, not 5.0; 0.5 as 0.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _between(lo: str | None, hi: str | None) -> tuple[str, str]:
    """A range in words: (Chinese, English)."""
    if lo is not None and hi is not None:
        return f"在 {lo} 至 {hi} 之间", f"between {lo} and {hi}"
    if lo is not None:
        return f"不小于 {lo}", f"at least {lo}"
    return f"不大于 {hi}", f"at most {hi}"


def date_range(field: FormField, day: date) -> tuple[date | None, date | None]:
    """The earliest and latest day the field accepts on `day` (None: unbounded)."""
    lo = resolve(field.earliest, day) if field.earliest else None
    hi = resolve(field.latest, day) if field.latest else None
    return lo, hi


def _day_text(d: date, day: date) -> str:
    return f"{d.isoformat()}（今天）" if d == day else d.isoformat()


def refusal(field: FormField, value: Any, day: date) -> Refusal | None:
    """Why `value` (already of the field's type) breaks the field's bounds; None when it keeps them."""
    if field.type == "number":
        if field.integer and not float(value).is_integer():
            return Refusal("not_integer", "应为整数", "must be a whole number")
        too_low = field.minimum is not None and value < field.minimum
        too_high = field.maximum is not None and value > field.maximum
        if too_low or too_high:
            lo = number_text(field.minimum) if field.minimum is not None else None
            hi = number_text(field.maximum) if field.maximum is not None else None
            zh, en = _between(lo, hi)
            return Refusal("out_of_range", f"应{zh}", f"must be {en}")
    elif field.type == "text":
        if field.max_length is not None and len(value) > field.max_length:
            return Refusal("too_long", f"不能超过 {field.max_length} 字",
                           f"must have at most {field.max_length} characters")
        if field.phone and not phones.is_phone(value):
            return Refusal("invalid_phone", f"格式不正确：{phones.RULE_ZH}", f"is not a phone number: {phones.RULE_EN}")
        if field.id_kind is not None:
            try:
                validate_id(field.id_kind, value)
            except IdError as e:  # the standard's rule, in its words: length, characters, check character
                return Refusal(e.code, f"有误：{e.message}", f"is not valid: {e.message_en}")
    elif field.type == "date":
        lo_d, hi_d = date_range(field, day)
        given = date.fromisoformat(value)
        if lo_d is not None and given < lo_d:
            return Refusal("out_of_range", f"不能早于 {_day_text(lo_d, day)}",
                           f"must not be before {lo_d.isoformat()}")
        if hi_d is not None and given > hi_d:
            return Refusal("out_of_range", f"不能晚于 {_day_text(hi_d, day)}",
                           f"must not be after {hi_d.isoformat()}")
    elif field.type == "boolean" and field.commitment and value is not True:
        return Refusal("commitment_required", "：须勾选确认（承诺事项）",
                       "is a commitment and must be true (ticked)")
    return None


#: what an identifier field's hint says (its rule, instead of a length)
ID_HINTS = {"citizen": "18 位公民身份号码，最后一位可为 X",
            "organisation": "18 位统一社会信用代码（数字和大写字母，不含 I、O、S、V、Z）"}


def hint(field: FormField, day: date) -> str | None:
    """The field's bounds in words, for the hint beside its input (None: nothing to say)."""
    if field.type == "number":
        what = "整数" if field.integer else "数字"
        lo = number_text(field.minimum) if field.minimum is not None else None
        hi = number_text(field.maximum) if field.maximum is not None else None
        if lo is not None and hi is not None:
            return f"请填写 {lo} 至 {hi} 之间的{what}"
        if lo is not None or hi is not None:
            return f"请填写{'不小于 ' + lo if lo is not None else '不大于 ' + str(hi)} 的{what}"
        return f"请填写{what}"
    if field.type == "text" and field.id_kind is not None:
        return ID_HINTS[field.id_kind]
    if field.type == "text" and field.phone:  # the rule the value is checked by, with examples
        return "手机或固定电话号码，如 13800000000、0571-87654321"
    if field.type == "text" and field.max_length is not None:
        return f"不超过 {field.max_length} 字"
    if field.type == "date":
        lo_d, hi_d = date_range(field, day)
        if lo_d is not None and hi_d is not None:
            return f"可填 {_day_text(lo_d, day)} 至 {_day_text(hi_d, day)}"
        if lo_d is not None:
            return f"不早于 {_day_text(lo_d, day)}"
        if hi_d is not None:
            return f"不晚于 {_day_text(hi_d, day)}"
    if field.type == "boolean" and field.commitment:
        return "须勾选确认后才能提交"
    return None


def html_attrs(field: FormField, day: date) -> dict[str, str]:
    """The field's bounds as attributes of its HTML input (min/max/step, maxlength)."""
    attrs: dict[str, str] = {}
    if field.type == "number":
        attrs["inputmode"] = "numeric" if field.integer and (field.minimum or 0) >= 0 else "decimal"
        attrs["step"] = "1" if field.integer else "any"
        if field.minimum is not None:
            attrs["min"] = number_text(field.minimum)
        if field.maximum is not None:
            attrs["max"] = number_text(field.maximum)
    elif field.type == "text" and field.max_length is not None:
        attrs["maxlength"] = str(field.max_length)
    if field.type == "text" and field.phone:  # the dial pad, and the browser may fill in the user's number
        attrs.update(inputmode="tel", autocomplete="tel")
    if field.type == "text" and field.id_kind is not None:
        # letters typed as capitals, no spelling fixes, no autofill of the applicant's own number
        attrs.update(autocapitalize="characters", autocomplete="off", spellcheck="false")
    elif field.type == "date":
        lo_d, hi_d = date_range(field, day)
        if lo_d is not None:
            attrs["min"] = lo_d.isoformat()
        if hi_d is not None:
            attrs["max"] = hi_d.isoformat()
    return attrs


def sample_value(field: FormField, day: date, text: str = "示例") -> Any:
    """A value of the field's type that keeps its bounds (the demo's and the tests' applications)."""
    if field.type == "number":
        value: float = 1
        if field.minimum is not None:
            value = max(value, field.minimum)
        if field.maximum is not None:
            value = min(value, field.maximum)
        if field.integer and not float(value).is_integer():
            value = int(value) + 1  # within the bounds: the definition rules refuse fractional integer bounds
        return int(value) if float(value).is_integer() else value
    if field.type == "text" and field.id_kind is not None:
        return make_citizen_id() if field.id_kind == "citizen" else make_credit_code(SAMPLE_CREDIT_BASE)
    if field.type == "text" and field.phone:
        return "13800000000" if (field.max_length or 11) >= 11 else "12345"
    if field.type == "text":
        return text[: field.max_length or None]
    if field.type == "date":
        lo_d, hi_d = date_range(field, day)
        pick = max(day, lo_d) if lo_d else day
        return (min(pick, hi_d) if hi_d else pick).isoformat()
    if field.type == "boolean":
        return True
    return (field.choices or [""])[0]

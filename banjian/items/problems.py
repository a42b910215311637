"""Problems of item definitions, and the limit arithmetic every rule module shares.

A `Problem` is one thing wrong with a definition: the path of the offending field
(``"steps[2].role"``, ``"promised_limit"``, ``""`` for the whole document), a machine code and a
message in Chinese and English (the shape of the API's 422 list, `detail.problems`).

Comparing limits: in the same unit their values are compared directly; when the units differ,
natural days count as ``value * 5 // 7`` working days (five working days per seven natural days,
rounded down). This ignores holidays; `calendar_rules` checks limits against the real calendar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from banjian.enums import LimitUnit
from banjian.items.schema import Limit


@dataclass
class Problem:
    """One problem of a definition.

    `path` is dotted/indexed (``"participants[1].sub_limit"``); ``""`` means the whole document.
    """

    path: str
    code: str
    message: str
    message_en: str

    def to_dict(self) -> dict[str, str]:
        """The problem as a JSON-ready mapping (the API lists these in a 422)."""
        return asdict(self)

    def __str__(self) -> str:
        where = self.path or "<document>"
        return f"{where}: [{self.code}] {self.message} / {self.message_en}"


#: Department code → how messages name the department: its name (市消防救援支队), the code only when
#: no name is known. Problems keep the code in their `path`'s field.
Namer = Callable[[str], str]


def by_code(code: str) -> str:
    """The namer of a caller that knows no department names."""
    return code


# ---------------------------------------------------------------------------------------------
# Limits


def to_working_days(limit: Limit) -> int:
    """A limit in working days; natural days count as ``value * 5 // 7`` (approximation, see above)."""
    if limit.unit == LimitUnit.NATURAL_DAYS:
        return limit.value * 5 // 7
    return limit.value


def exceeds(a: Limit, b: Limit) -> bool:
    """Whether limit `a` is longer than limit `b` (same unit: values; else both in working days)."""
    if a.unit == b.unit:
        return a.value > b.value
    return to_working_days(a) > to_working_days(b)


def fmt_zh(limit: Limit) -> str:
    unit = "个工作日" if limit.unit == LimitUnit.WORKING_DAYS else "个自然日"
    return f"{limit.value} {unit}"


def fmt_en(limit: Limit) -> str:
    unit = "working days" if limit.unit == LimitUnit.WORKING_DAYS else "natural days"
    return f"{limit.value} {unit}"



class Collector:
    """Accumulates problems in order."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, code: str, message: str, message_en: str) -> None:
        self.problems.append(Problem(path, code, message, message_en))

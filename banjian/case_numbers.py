"""Case numbers: the case id and the unified case number (统一受理号码) made from one serial.

A case gets both at receipt, from the day's serial (a counter in the read-model database,
`banjian.sequences`), so they are unique by construction, never by chance:

- ``id``: ``YYYYMMDD`` + the serial in 8 digits, e.g. ``2026120200000042`` (the shape the
  API has always used; sub-cases append ``-NN``).
- ``case_no``: ``{region}-{DEPT}-{YYYYMMDD}-{serial:08d}-{check}``, e.g.
  ``330100-AMR-20261202-00000042-7``:
  region, the 6-digit administrative division code (GB/T 2260) of the platform (setting
  ``BANJIAN_REGION_CODE``); DEPT, the receiving department's code, upper-case letters and
  digits (at most 16); the date of receipt (China time); the serial; and a check character
  computed with ISO 7064 MOD 37,36 over every character before it, separators left out.
  A sub-case of a joint case or bundle is numbered ``{parent case_no}-NN``.

ISO 7064 MOD 37,36 (a hybrid system, alphabet 0-9A-Z): start with p = 36; for each character
of value v, s = (p + v) mod 36 (36 when 0) and p = 2s mod 37; the check character c is the
one with (p + c) mod 36 = 1. It catches every single-character error and nearly every swap of
two adjacent characters (a hybrid system misses a few). The arithmetic is `python-stdnum`'s.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum.iso7064 import mod_37_36

__all__ = ["CaseNumber", "CaseNumberError", "check_char", "department_part", "make", "parse", "sub_case_no"]

SERIAL_DIGITS = 8
MAX_SERIAL = 10**SERIAL_DIGITS - 1
_FORMAT = re.compile(r"^(\d{6})-([A-Z0-9]{1,16})-(\d{8})-(\d{8})-([0-9A-Z])$")
_REGION = re.compile(r"^\d{6}$")


class CaseNumberError(ValueError):
    """A string that is not a well-formed case number (format or check character)."""

    def __init__(self, rule: str, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.rule, self.message, self.message_en = rule, message, message_en


@dataclass(frozen=True)
class CaseNumber:
    """The two numbers of a case, made from one serial of its day of receipt."""

    id: str
    case_no: str
    serial: int
    day: date


def check_char(body: str) -> str:
    """The ISO 7064 MOD 37,36 check character of `body` (separators are left out)."""
    return mod_37_36.calc_check_digit(body.replace("-", "").upper())


def department_part(department: str) -> str:
    """The department's code as it appears in a case number: upper-case letters and digits."""
    part = re.sub(r"[^A-Z0-9]", "", department.upper())[:16]
    return part or "X"


def make(region: str, department: str, day: date, serial: int) -> CaseNumber:
    """The case id and case number for the `serial`-th case received on `day`."""
    if not _REGION.match(region):
        raise ValueError(f"region must be a 6-digit administrative division code, not {region!r}")
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial out of range: {serial}")
    body = f"{region}-{department_part(department)}-{day:%Y%m%d}-{serial:0{SERIAL_DIGITS}d}"
    return CaseNumber(id=f"{day:%Y%m%d}{serial:0{SERIAL_DIGITS}d}", case_no=f"{body}-{check_char(body)}",
                      serial=serial, day=day)


def sub_case_no(parent_case_no: str | None, n: int) -> str | None:
    """The number of a joint case's or bundle's `n`-th sub-case."""
    return f"{parent_case_no}-{n:02d}" if parent_case_no else None


def parse(text: str) -> str:
    """A case number as typed (blanks, lower case) in its canonical form; a sub-case number's
    parent part is checked. Raises CaseNumberError for a malformed number or a wrong check character."""
    n = text.strip().upper()
    main, sub = n, None
    if re.match(r"^.*-[0-9A-Z]-\d{2}$", n):
        main, sub = n[:-3], n[-2:]
    m = _FORMAT.match(main)
    if m is None:
        raise CaseNumberError("format", "受理号码格式不正确（应为 行政区划码-部门-日期-序号-校验码）",
                              "a case number reads REGION-DEPT-YYYYMMDD-SERIAL-CHECK")
    try:
        date(int(m[3][:4]), int(m[3][4:6]), int(m[3][6:]))
    except ValueError:
        raise CaseNumberError("date", "受理号码中的日期无效", "the date in the case number is not a date") from None
    if not mod_37_36.is_valid(main.replace("-", "")):
        raise CaseNumberError("check_char", "受理号码校验码不正确", "the case number's check character is wrong")
    return main if sub is None else f"{main}-{sub}"

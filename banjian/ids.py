"""Identifier validation: citizen id numbers and unified social credit codes.

This module owns the two identifiers applicants are known by:

- 公民身份号码 (citizen id number, GB 11643-1999): 17 digits and a check character
  (ISO 7064 MOD 11-2, may be ``X``); characters 7-14 are the birth date.
- 统一社会信用代码 (unified social credit code, GB 32100-2015): 18 characters from a
  31-character alphabet without I, O, S, V, Z; the last one is a MOD 31 check character,
  and characters 9-17 are the organisation code (组织机构代码, GB 11714) with its own
  MOD 11 check character in position 17.

Validators normalise their input (full-width characters, surrounding blanks, lower case)
and return the canonical form, or raise :class:`IdError` naming the rule that was broken,
in Chinese and English. Generators build valid numbers for tests and demo data.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

from banjian.timefmt import CHINA

__all__ = [
    "CITIZEN_ID_KIND",
    "ORGANISATION_ID_KIND",
    "REGISTRATION_AUTHORITIES",
    "IdError",
    "citizen_check_char",
    "credit_check_char",
    "make_citizen_id",
    "make_credit_code",
    "org_code_check_char",
    "validate_citizen_id",
    "validate_credit_code",
    "validate_id",
]

CITIZEN_ID_KIND = "citizen"
ORGANISATION_ID_KIND = "organisation"

# --- GB 11643: citizen id number ----------------------------------------------------------
_CITIZEN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CITIZEN_CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11)
_EARLIEST_BIRTH = date(1900, 1, 1)

# --- GB 32100: unified social credit code --------------------------------------------------
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # value of a char = its index
_CREDIT_VALUES = {c: i for i, c in enumerate(_CREDIT_ALPHABET)}
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# 登记管理部门码 (position 1): 1 机构编制, 2 外交, 3 司法行政, 4 文化, 5 民政, 6 旅游,
# 7 宗教, 8 工会, 9 工商/市场监管, A 中央军委改革和编制办公室, N 农业, Y 其他.
REGISTRATION_AUTHORITIES = "123456789ANY"

# --- GB 11714: organisation code (positions 9-17 of a credit code) -------------------------
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


class IdError(ValueError):
    """An identifier that breaks a rule of its standard.

    Attributes:
        code: machine code of the identifier kind, ``invalid_citizen_id`` or
            ``invalid_credit_code`` (what an API error body carries).
        rule: which rule was broken: ``length``, ``characters``, ``birth_date``,
            ``check_char``, ``registration_authority``, ``region``, ``org_code_check_char``
            or ``kind`` (unknown identifier kind).
        message: explanation in Chinese.
        message_en: explanation in English.
        expected: for a wrong check character, the character the standard requires.
    """

    def __init__(
        self, code: str, rule: str, message: str, message_en: str, expected: str | None = None
    ) -> None:
        super().__init__(message_en)
        self.code = code
        self.rule = rule
        self.message = message
        self.message_en = message_en
        self.expected = expected

    def __repr__(self) -> str:
        return f"IdError(code={self.code!r}, rule={self.rule!r}, message_en={self.message_en!r})"


def _normalise(s: object) -> str:
    """Fold full-width characters to ASCII, strip blanks and upper-case."""
    if not isinstance(s, str):
        return ""
    return unicodedata.normalize("NFKC", s).strip().upper()


# --- citizen id -----------------------------------------------------------------------------
def _citizen_error(rule: str, message: str, message_en: str, expected: str | None = None) -> IdError:
    return IdError("invalid_citizen_id", rule, message, message_en, expected)


def citizen_check_char(body17: str) -> str:
    """Return the GB 11643 check character (ISO 7064 MOD 11-2) for 17 digits."""
    total = sum(int(c) * w for c, w in zip(body17, _CITIZEN_WEIGHTS, strict=True))
    return _CITIZEN_CHECK_CHARS[total % 11]


def validate_citizen_id(s: str, *, today: date | None = None) -> str:
    """Validate a 18-character 公民身份号码 (GB 11643) and return it normalised.

    Checks length, characters (17 digits then a digit or X; lower-case x is accepted and
    becomes X), the birth date in characters 7-14 (a real date, from 1900-01-01, not after
    ``today``, which defaults to the current date) and the check character.

    Raises:
        IdError: code ``invalid_citizen_id``; ``rule`` names the broken rule.
    """
    n = _normalise(s)
    if len(n) != 18:
        raise _citizen_error(
            "length",
            f"公民身份号码应为18位，实际为{len(n)}位。",
            f"A citizen id number has 18 characters, this one has {len(n)}.",
        )
    if not n[:17].isascii() or not n[:17].isdigit() or n[17] not in "0123456789X":
        raise _citizen_error(
            "characters",
            "公民身份号码前17位应为数字，最后一位应为数字或X。",
            "A citizen id number is 17 digits followed by a digit or X.",
        )
    birth_text = n[6:14]
    try:
        birth = date(int(birth_text[:4]), int(birth_text[4:6]), int(birth_text[6:]))
    except ValueError:
        birth = None
    latest = today or datetime.now(CHINA).date()  # China's date, whatever the server's time zone
    if birth is None or birth < _EARLIEST_BIRTH or birth > latest:
        raise _citizen_error(
            "birth_date",
            f"公民身份号码第7至14位的出生日期“{birth_text}”无效（应为1900年1月1日以后、不晚于今天的真实日期）。",
            f"Characters 7-14 of a citizen id number are the birth date; '{birth_text}' is not a real "
            f"date between 1900-01-01 and today.",
        )
    expected = citizen_check_char(n[:17])
    if n[17] != expected:
        raise _citizen_error(
            "check_char",
            f"公民身份号码校验码错误：最后一位应为“{expected}”，实际为“{n[17]}”。",
            f"Wrong check character of the citizen id number: expected '{expected}', got '{n[17]}'.",
            expected,
        )
    return n


def make_citizen_id(region: str = "110101", birth: date = date(1990, 1, 1), seq: int = 1) -> str:
    """Build a valid citizen id number: region (6 digits) + birth date + seq (000-999) + check char.

    The sequence's last digit is odd for men and even for women, as in real numbers.
    """
    if len(region) != 6 or not region.isdigit():
        raise ValueError("region must be 6 digits")
    if not 0 <= seq <= 999:
        raise ValueError("seq must be between 0 and 999")
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + citizen_check_char(body)


# --- unified social credit code ----------------------------------------------------------------
def _credit_error(rule: str, message: str, message_en: str, expected: str | None = None) -> IdError:
    return IdError("invalid_credit_code", rule, message, message_en, expected)


def credit_check_char(base17: str) -> str:
    """Return the GB 32100 check character (MOD 31) for the first 17 characters."""
    total = sum(_CREDIT_VALUES[c] * w for c, w in zip(base17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(body8: str) -> str:
    """Return the GB 11714 check character (MOD 11) for an 8-character organisation-code body.

    Digits count 0-9 and letters A-Z count 10-35; a result of 10 is written X, 11 is 0.
    """
    total = sum(int(c, 36) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def validate_credit_code(s: str, *, check_org_code: bool = True) -> str:
    """Validate a 统一社会信用代码 (GB 32100) and return it normalised (upper case).

    Checks length (18), alphabet (digits and upper-case letters except I, O, S, V, Z), the
    registration authority (position 1, one of ``REGISTRATION_AUTHORITIES``), the
    administrative division code (positions 3-8, digits), the organisation code's GB 11714
    check character (position 17, unless ``check_org_code`` is false) and the MOD 31 check
    character (position 18).

    Raises:
        IdError: code ``invalid_credit_code``; ``rule`` names the broken rule.
    """
    n = _normalise(s)
    if len(n) != 18:
        raise _credit_error(
            "length",
            f"统一社会信用代码应为18位，实际为{len(n)}位。",
            f"A unified social credit code has 18 characters, this one has {len(n)}.",
        )
    bad = sorted({c for c in n if c not in _CREDIT_VALUES})
    if bad:
        shown = "、".join(bad)
        raise _credit_error(
            "characters",
            f"统一社会信用代码含有不允许的字符：{shown}（只能是数字和除I、O、S、V、Z以外的大写字母）。",
            f"The unified social credit code contains characters not allowed: {', '.join(bad)} "
            f"(only digits and upper-case letters other than I, O, S, V, Z).",
        )
    if n[0] not in REGISTRATION_AUTHORITIES:
        raise _credit_error(
            "registration_authority",
            f"统一社会信用代码第1位登记管理部门代码“{n[0]}”无效（应为1-9、A、N或Y）。",
            f"Position 1 of the unified social credit code is the registration authority; "
            f"'{n[0]}' is not one of 1-9, A, N, Y.",
        )
    if not n[2:8].isdigit():
        raise _credit_error(
            "region",
            f"统一社会信用代码第3至8位行政区划码“{n[2:8]}”应为6位数字。",
            f"Positions 3-8 of the unified social credit code are the 6-digit region code; got '{n[2:8]}'.",
        )
    if check_org_code:
        expected_org = org_code_check_char(n[8:16])
        if n[16] != expected_org:
            raise _credit_error(
                "org_code_check_char",
                f"统一社会信用代码第9至17位组织机构代码校验码错误：第17位应为“{expected_org}”，实际为“{n[16]}”。",
                f"Wrong check character of the organisation code (positions 9-17): position 17 should "
                f"be '{expected_org}', got '{n[16]}'.",
                expected_org,
            )
    expected = credit_check_char(n[:17])
    if n[17] != expected:
        raise _credit_error(
            "check_char",
            f"统一社会信用代码校验码错误：最后一位应为“{expected}”，实际为“{n[17]}”。",
            f"Wrong check character of the unified social credit code: expected '{expected}', got '{n[17]}'.",
            expected,
        )
    return n


def make_credit_code(base17: str) -> str:
    """Build a valid unified social credit code from its leading characters.

    ``base17`` is either
    - 16 characters (authority, category, 6-digit region, 8-character organisation-code
      body): both the organisation-code check char (position 17) and the code's check char
      (position 18) are computed; or
    - 17 characters, already including the organisation-code check char: only position 18
      is computed (a wrong position 17 raises :class:`IdError`).

    Example: ``make_credit_code("91350100M000100Y")`` returns ``"91350100M000100Y43"``.
    """
    base = _normalise(base17)
    if len(base) not in (16, 17):
        raise ValueError("base17 must have 16 or 17 characters")
    if any(c not in _CREDIT_VALUES for c in base):
        raise ValueError("base17 contains characters outside the credit-code alphabet")
    if len(base) == 16:
        base += org_code_check_char(base[8:16])
    return validate_credit_code(base + credit_check_char(base))


# --- dispatch ---------------------------------------------------------------------------------
def validate_id(kind: str, s: str) -> str:
    """Validate an identifier of ``kind`` (``citizen`` or ``organisation``); return it normalised."""
    if kind == CITIZEN_ID_KIND:
        return validate_citizen_id(s)
    if kind == ORGANISATION_ID_KIND:
        return validate_credit_code(s)
    raise IdError(
        "invalid_id_kind",
        "kind",
        f"未知的证件类型“{kind}”（应为 citizen 或 organisation）。",
        f"Unknown identifier kind '{kind}' (expected 'citizen' or 'organisation').",
    )

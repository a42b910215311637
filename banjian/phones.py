"""Phone numbers as people write them (联系电话): digits, blanks and hyphens, perhaps a leading +, with
5 to 15 digits (ITU-T E.164 allows at most 15; a short service number such as 12345 has 5). One rule
for the agent's phone (banjian/agents.py) and a form field marked `phone` (banjian/form_values.py)."""
from __future__ import annotations

import re
import unicodedata

_PHONE = re.compile(r"\+?[0-9][0-9 \-]*")
#: the rule in words, for refusals
RULE_ZH = "只能包含数字、空格和连字符（可以 + 开头），5 至 15 位数字"
RULE_EN = "digits, blanks and hyphens (a leading + allowed), 5 to 15 digits"


def normal(value: object) -> str:
    """The number as typed, with full-width characters folded and the ends trimmed."""
    return unicodedata.normalize("NFKC", str(value or "")).strip()


def is_phone(value: str) -> bool:
    """Whether `value` (after `normal`) is written as a phone number."""
    text = normal(value)
    return bool(_PHONE.fullmatch(text)) and 5 <= sum(c.isdigit() for c in text) <= 15

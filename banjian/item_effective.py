"""An item's effective dates (生效日期 `effective_from`, 失效日期 `effective_to`): the days on which it
takes new applications.

An item takes applications from `effective_from` (inclusive) until `effective_to` (exclusive: on
that day it has lapsed, 失效), judged on the day of submission in China time. Either may be
absent (no bound on that side). Open cases keep their version and go on, as for a suspended item.
"""
from __future__ import annotations

from datetime import date

from banjian.errors import Conflict
from banjian.items.schema import ItemDefinition
from banjian.zh_quotes import quoted


def _zh(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def effective_note(item: ItemDefinition, today: date) -> str | None:
    """Why `item` takes no application today because of its dates (Chinese), or None when it does."""
    if item.effective_from is not None and today < item.effective_from:
        return f"本事项自{_zh(item.effective_from)}起生效，生效之前不受理申请"
    if item.effective_to is not None and today >= item.effective_to:
        return f"本事项已于{_zh(item.effective_to)}失效，不再受理新的申请"
    return None


def check_effective(item: ItemDefinition, today: date, member_of: str | None = None) -> None:
    """409 `item_not_effective` (or `member_not_effective` for a bundle's member), field
    `item_code`, when `item` takes no application on `today` because of its effective dates."""
    note = effective_note(item, today)
    if note is None:
        return
    early = item.effective_from is not None and today < item.effective_from
    when = (f"it takes effect on {item.effective_from} (effective_from), not before" if early
            else f"it lapsed on {item.effective_to} (effective_to)")
    if member_of is None:
        raise Conflict("item_not_effective", note, f"the item does not take applications today ({today}): {when}",
                       field="item_code")
    raise Conflict("member_not_effective", f"“一件事”中的成员事项{quoted(item.name)}不在有效期内：{note}",
                   f"member item {item.code} of this bundle does not take applications today ({today}): {when}",
                   field="item_code")

"""Texts the read model can store: PostgreSQL refuses a NUL character (U+0000) in any text, SQLite
keeps it. A NUL in a comment or a form value therefore failed the case's read-model write on
PostgreSQL for ever (the action's request never answered and the case took no further action), and in
a search a 500. Every text a caller sends into a case is checked here first: a 422 naming the field."""
from __future__ import annotations

from typing import Any

from banjian.errors import Invalid

__all__ = ["refuse_nul"]

NUL = "\x00"


def _path(field: str, key: str | int) -> str:
    return f"{field}[{key}]" if isinstance(key, int) else (f"{field}.{key}" if field else key)


def _first_nul(value: Any, field: str) -> str | None:
    """The path of the first text (a value or a key) holding a NUL, None when none does."""
    if isinstance(value, str):
        return field if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = _path(field, str(key))
            if isinstance(key, str) and NUL in key:
                return here
            found = _first_nul(item, here)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _first_nul(item, _path(field, i))
            if found is not None:
                return found
    return None


def refuse_nul(value: Any, field: str = "") -> None:
    """Raise a 422 `control_character` naming the first field whose text holds a NUL."""
    found = _first_nul(value, field)
    if found is not None:
        raise Invalid("control_character", f"{found or '请求'} 含有空字符（U+0000），不能保存",
                      f"{found or 'the request'} holds a NUL character (U+0000), which cannot be stored",
                      field=found or None)

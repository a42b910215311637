"""Schema problems of an item definition: pydantic's errors as `Problem`s, derived fields, and the
partial definition that lets cross-field rules run even when some fields are invalid.

* Every pydantic error becomes a `Problem` at its path, with a Chinese and an English message;
  an unknown field is ``unknown_field`` (pydantic's ``extra_forbidden``), other codes are
  pydantic's own error types (``missing``, ``string_pattern_mismatch``, ...).
* Derived, read-only fields that ``GET /api/items/{code}`` adds (`DERIVED_FIELDS`, marked
  ``readOnly`` in the response schema) are dropped before validation: posting back what GET
  returned is never refused for them.
* `parse_partial` returns the definition built from the valid top-level fields only: an invalid
  or missing field is absent from it (reading it raises AttributeError), so a cross-field rule
  that needs it is skipped while every other rule still runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from banjian.items.problems import Problem
from banjian.items.schema import DERIVED_FIELDS, ItemDefinition
from banjian.validation_text import CODES, RULES

#: Valid stand-ins for required top-level fields while the valid fields are parsed on their own;
#: never reach a rule (the partial definition leaves them out).
_STAND_INS: dict[str, Any] = {
    "code": "x", "name": "x", "department": "x", "implementing_body": {"name": "x"},
    "legal_basis": ["x"], "promised_limit": {"value": 1}, "statutory_limit": {"value": 1},
    "result": {"name": "x"},
}


def strip_derived(data: Mapping[str, Any]) -> dict[str, Any]:
    """The definition without the derived, read-only fields a GET adds (`versions`, `online`, ...)."""
    return {k: v for k, v in data.items() if k not in DERIVED_FIELDS}


def _path(loc: Iterable[Any]) -> str:
    """``('steps', 2, 'role')`` → ``"steps[2].role"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _shown(value: Any) -> str:
    """A short rendering of a scalar input for a message ("" for containers)."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return ""


#: pydantic error type → (Chinese template, English template): the shared rules, said of a definition
_TRANSLATIONS: dict[str, tuple[str, str]] = {
    **RULES,
    "missing": ("缺少必填字段", "field required"),
    "extra_forbidden": ("未知字段（事项定义中没有该字段）", "unknown field (the definition has no such field)"),
    "fee_formula_invalid": ("{zh}", "invalid fee formula: {en}"),
    "appointment_times_invalid": ("{zh}", "{en}"),
    **dict.fromkeys(("model_type", "model_attributes_type", "dict_type"),
                    ("应为对象（键值映射）", "must be a mapping (object)")),
}


def _problem_from_error(err: Mapping[str, Any]) -> Problem:
    """Turn one pydantic error into a `Problem` with a translated message."""
    kind = str(err.get("type", "value_error"))
    code = CODES.get(kind, kind)
    ctx = {k: str(v) for k, v in (err.get("ctx") or {}).items()}
    path = _path(err.get("loc", ()))
    templates = _TRANSLATIONS.get(kind)
    if templates is None:
        return Problem(path, code, f"取值无效：{err.get('msg', '')}", str(err.get("msg", "invalid value")))
    zh_t, en_t = templates
    ctx_zh = dict(ctx)
    if "expected" in ctx_zh:
        ctx_zh["expected"] = ctx_zh["expected"].replace(" or ", ", ")
    try:
        zh, en = zh_t.format(**ctx_zh), en_t.format(**ctx)
    except (KeyError, IndexError):
        zh, en = zh_t, str(err.get("msg", en_t))
    if kind not in ("missing", "extra_forbidden"):
        shown = _shown(err.get("input"))
        if shown:
            zh += f"（实际为 {shown}）"
            en += f" (got {shown})"
    return Problem(path, code, zh, en)


def schema_problems(data: Mapping[str, Any]) -> tuple[ItemDefinition | None, list[Problem]]:
    """Parse a definition: (the definition, []) or (None, every schema problem)."""
    try:
        return ItemDefinition.model_validate(data), []
    except ValidationError as exc:
        return None, [_problem_from_error(err) for err in exc.errors()]


def parse_partial(data: Mapping[str, Any], problems: list[Problem]) -> ItemDefinition | None:
    """The definition made of the top-level fields that have no schema problem (see the module doc);
    None when even that cannot be built."""
    bad = {p.path.split(".")[0].split("[")[0] for p in problems}
    if "" in bad:
        return None
    fields = ItemDefinition.model_fields
    good = {k: v for k, v in data.items() if k in fields and k not in bad}
    filled = {**{k: v for k, v in _STAND_INS.items() if k not in good}, **good}
    try:
        parsed = ItemDefinition.model_validate(filled)
    except ValidationError:
        return None
    values = {k: getattr(parsed, k) for k in fields if k not in bad and (k in good or k not in _STAND_INS)}
    partial = ItemDefinition.model_construct(_fields_set=set(good), **values)
    for k in fields:
        if k not in values:
            partial.__dict__.pop(k, None)
    return partial

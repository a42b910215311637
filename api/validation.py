"""Request-validation errors (FastAPI's `RequestValidationError`) in the contract's error shape.

FastAPI answers a malformed request with an English list `{"detail": [{"type", "loc", "msg"}]}`.
Here every such error becomes the documented body

    {"detail": {"code": "invalid_request", "message": <zh>, "message_en": <en>, "field": <path|null>,
                "problems": [{"field", "code", "message", "message_en", "allowed"?}, ...]}}

* `field` is the path of the first problem, named the way the domain errors name fields: without
  FastAPI's `body`/`query`/`path` prefix, dotted, list positions in brackets
  (``('body', 'materials', 0, 'name')`` → ``"materials[0].name"``); null for the body as a whole.
* each problem's `code` is pydantic's error type (``missing``, ``string_too_long``,
  ``literal_error``, ...; ``extra_forbidden`` is ``unknown_field``), its messages name the field and
  the rule, and a choice among fixed values lists them (also machine-readable in `allowed`).
* `message`/`message_en` at the top are the first problem's, with how many more there are.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from banjian import validation_text as text

#: where FastAPI says a value came from → how a message names it
_PLACES = {"query": ("参数", "parameter"), "path": ("路径参数", "path parameter"),
           "header": ("请求头", "header"), "cookie": ("Cookie", "cookie"), "body": ("字段", "field")}

_ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d")


def field_path(loc: Iterable[Any]) -> str:
    """``('body', 'materials', 0, 'name')`` → ``"materials[0].name"`` (the source prefix dropped)."""
    parts = list(loc)
    if parts and parts[0] in _PLACES:
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def allowed_values(expected: str) -> list[str]:
    """pydantic's ``"'notice', 'yellow' or 'red'"`` → ``["notice", "yellow", "red"]``."""
    quoted = re.findall(r"'((?:[^'\\]|\\.)*)'", expected)
    return quoted or [p.strip() for p in re.split(r",| or ", expected) if p.strip()]


def _shown(value: Any) -> str:
    """A short rendering of a scalar input for a message ("" for containers and absent values)."""
    if isinstance(value, bool | int | float) or (isinstance(value, str)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "...'"
    return ""


def _ctx_text(value: Any) -> str:
    """A rule's bound as people write it: a day as ISO, a whole float bound (a float field's `le=3650`
    arrives as 3650.0) without its ".0"."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def problem(err: Mapping[str, Any]) -> dict[str, Any]:
    """One pydantic error as `{field, code, message, message_en[, allowed]}`."""
    kind = str(err.get("type", "value_error"))
    loc = tuple(err.get("loc", ()))
    path = "" if kind == "json_invalid" else field_path(loc)  # its loc is a position in the text
    place_zh, place_en = _PLACES.get(str(loc[0]) if loc else "body", _PLACES["body"])
    names = {**text.FIELD_NAMES_ZH, **text.QUERY_FIELD_NAMES_ZH} if loc and loc[0] == "query" else text.FIELD_NAMES_ZH
    named = names.get(str(loc[-1])) if len(loc) > 1 else None
    who_zh = (f"{place_zh} {path}" + (f"（{named}）" if named else "")) if path else "请求体"
    who_en = f"{place_en} `{path}`" if path else "the request body"
    raw_ctx = dict(err.get("ctx") or {})
    ctx = {k: _ctx_text(v) for k, v in raw_ctx.items()}
    out: dict[str, Any] = {"field": path or None, "code": text.CODES.get(kind, kind)}
    dated = any(isinstance(v, date | datetime) or _ISO_DAY.match(str(v)) for v in raw_ctx.values())
    templates = (text.DATE_RULES.get(kind) if dated else None) or text.RULES.get(kind)
    if kind in ("literal_error", "enum") and "expected" in ctx:
        out["allowed"] = allowed_values(ctx["expected"])
        ctx_zh = {**ctx, "expected": "、".join(out["allowed"])}
        ctx = {**ctx, "expected": ", ".join(out["allowed"])}
    else:
        ctx_zh = ctx
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == r"\S":
        templates = ("不能为空或只含空白", "must not be blank")
    if templates is None:  # a custom validator's message, or a type not translated yet
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        zh, en = f"取值无效：{msg}", msg
    else:
        try:
            zh, en = templates[0].format(**ctx_zh), templates[1].format(**ctx)
        except (KeyError, IndexError):
            zh, en = templates[0].split("{")[0].rstrip("（ "), str(err.get("msg", templates[1]))
    quiet = ("missing", "extra_forbidden", "json_invalid", "string_too_long")  # nothing, or too much, to echo
    shown = "" if kind in quiet else _shown(err.get("input"))
    if shown and loc and loc[0] in ("query", "path", "header", "cookie") and isinstance(err.get("input"), str):
        shown = shown[1:-1]  # always text there: shown as typed, not quoted
    # no blank after a closing bracket, nor between the Chinese words 请求体 and the rule
    zh = who_zh + ("" if who_zh.endswith("）") or not path else " ") + zh + (f"（实际为 {shown}）" if shown else "")
    en = f"{who_en} {en}" + (f" (got {shown})" if shown else "")
    out["message"], out["message_en"] = zh, en
    return out


def detail(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The `detail` of a 422 for FastAPI's validation errors (see the module doc)."""
    problems = [problem(e) for e in errors] or [
        {"field": None, "code": "invalid_request", "message": "请求有误", "message_en": "invalid request"}]
    first = problems[0]
    more = len(problems) - 1
    message = first["message"] + (f"；另有 {more} 处问题" if more else "")
    message_en = first["message_en"] + (f"; {more} more problem(s), see problems" if more else "")
    return {"code": "invalid_request", "message": message, "message_en": message_en, "field": first["field"],
            "problems": problems}

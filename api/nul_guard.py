"""A NUL character (U+0000) in a request's path or query string: PostgreSQL refuses it even in a lookup,
so every route that read one from the database answered 500 (`GET /api/cases/2026%00`,
`GET /api/tasks?item_code=a%00`). Nothing is named with a NUL: a path holding one is a 404, a query
parameter a 422 naming it, before any route runs. (Bodies are checked where they are read:
banjian/nul_text.py.)"""
from __future__ import annotations

import json
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Receive, Scope, Send

PAGE = ("<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{status} {title}</title>"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body><h1>{status} {title}</h1>"
        "<p>{message}</p><p><a href=\"/\">返回首页</a></p></body></html>")


def _nul_parameter(query: bytes) -> str | None:
    """The name of the first query parameter holding a NUL ("" for a NUL in a name), None when none."""
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name:
            return ""
        if "\x00" in value:
            return name
    return None


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if "\x00" in scope["path"] or "\x00" in unquote(raw_path.decode("latin-1")):
            await self._answer(scope, send, 404, "not_found", "资源不存在", "Not Found", None, "页面不存在")
            return
        name = _nul_parameter(scope.get("query_string", b""))
        if name is not None:
            field = name or None
            await self._answer(scope, send, 422, "control_character",
                               f"{name or '查询参数'} 含有空字符（U+0000），请删除后重试",
                               f"{name or 'a query parameter'} holds a NUL character (U+0000); remove it", field,
                               "填写有误")
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope, send: Send, status: int, code: str, message: str, message_en: str,
                      field: str | None, title: str) -> None:
        if scope["path"].startswith("/api"):
            body = json.dumps({"detail": {"code": code, "message": message, "message_en": message_en, "field": field}},
                              ensure_ascii=False).encode()
            media = b"application/json"
        else:
            body = PAGE.format(status=status, title=title, message=message).encode()
            media = b"text/html; charset=utf-8"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", media), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

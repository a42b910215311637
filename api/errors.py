"""One place that maps domain errors to HTTP: `{"detail": {code, message, message_en, field}}`."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse

from api.service import Outcome
from banjian.errors import DomainError

HTTP_TEXT = {
    401: ("not_authenticated", "请先登录", "not logged in"),
    403: ("forbidden", "无权执行此操作", "not allowed"),
    404: ("not_found", "资源不存在", "not found"),
    405: ("method_not_allowed", "不支持该请求方法", "method not allowed"),
}


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status, headers=headers)

    @app.exception_handler(Outcome)
    async def outcome_unknown(_: Request, exc: Outcome) -> JSONResponse:
        return JSONResponse({"detail": {"code": "outcome_unknown", "message": "处理超时，结果未知，请用相同请求编号重试",
                                        "message_en": "timed out: the outcome is unknown; retry with the same request id",
                                        "field": None}}, status_code=504)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict):
            body = exc.detail
        else:
            code, zh, en = HTTP_TEXT.get(exc.status_code, ("error", "请求错误", str(exc.detail)))
            body = {"code": code, "message": zh, "message_en": str(exc.detail) if exc.detail else en, "field": None}
        return JSONResponse({"detail": body}, status_code=exc.status_code, headers=exc.headers)

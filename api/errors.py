"""One place that maps domain errors to HTTP: `{"detail": {code, message, message_en, field}}`."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from temporalio.service import RPCError, RPCStatusCode

from api.service import Outcome
from banjian.errors import DomainError, Unavailable

#: Temporal answers that mean "too busy or unreachable now", not "wrong request"
BUSY_RPC = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
RETRY_AFTER_S = 2

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
        if isinstance(exc, Unavailable):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status, headers=headers)

    @app.exception_handler(Outcome)
    async def outcome_unknown(_: Request, exc: Outcome) -> JSONResponse:
        return JSONResponse({"detail": {"code": "outcome_unknown", "message": "处理超时，结果未知，请用相同请求编号重试",
                                        "message_en": "timed out: the outcome is unknown; retry with the same request id",
                                        "field": None}}, status_code=504,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    def busy(what: str) -> JSONResponse:
        return JSONResponse({"detail": {"code": "busy", "message": "系统繁忙，请稍后重试",
                                        "message_en": f"{what} is at its limit; retry shortly", "field": None}},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(_: Request, exc: PoolTimeout) -> JSONResponse:
        return busy("the database connection pool")

    @app.exception_handler(OperationalError)
    async def database_busy(_: Request, exc: OperationalError) -> JSONResponse:
        if "locked" in str(exc.orig) or "busy" in str(exc.orig):
            return busy("the database")
        raise exc

    @app.exception_handler(RPCError)
    async def temporal_busy(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status in BUSY_RPC:
            return busy("the Temporal server")
        raise exc

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict):
            body = exc.detail
        else:
            code, zh, en = HTTP_TEXT.get(exc.status_code, ("error", "请求错误", str(exc.detail)))
            body = {"code": code, "message": zh, "message_en": str(exc.detail) if exc.detail else en, "field": None}
        return JSONResponse({"detail": body}, status_code=exc.status_code, headers=exc.headers)

"""One place that maps domain errors to HTTP: `{"detail": {code, message, message_en, field}}`;
request-validation 422s too (`api.validation`: the same shape, every problem in `detail.problems`)."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException  # FastAPI's is a subclass: one handler for both
from starlette.routing import Match
from temporalio.service import RPCError, RPCStatusCode

from api.bodies import is_json, media_type_of, unsupported_media_type
from api.routes.pages.common import (
    LoginRequired,
    PageError,
    error_page,
    form_page_of,
    is_page,
    login_redirect,
)
from api.updates import Outcome
from api.validation import detail as validation_detail
from banjian.errors import DomainError

#: Temporal answers that mean "too busy or unreachable now", not "wrong request"
BUSY_RPC = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
RETRY_AFTER_S = 2

log = logging.getLogger("banjian.api")
HTTP_TEXT = {
    # FastAPI's own 400: a body it parses itself raised while parsing (nested past the parser's stack)
    400: ("unparsable", "请求体无法解析（格式错误或嵌套过深）", "the request body cannot be parsed (malformed or nested too deeply)"),
    401: ("not_authenticated", "请先登录", "not logged in"),
    403: ("forbidden", "无权执行此操作", "not allowed"),
    404: ("not_found", "资源不存在", "not found"),
    405: ("method_not_allowed", "不支持该请求方法", "method not allowed"),
}


#: PostgreSQL error classes that say "not now" (SQLSTATE): connection exceptions, insufficient
#: resources, operator intervention (a restart, a shutdown), serialization failures and deadlocks
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
RETRYABLE_SQLSTATES = ("40001", "40P01")


def database_unavailable(exc: OperationalError) -> bool:
    """The database cannot answer now (down, restarting, out of connections), as opposed to a bug
    (SQLite's "no such table"): a caller may retry the same request later."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "pgcode", None)
    if code:
        return code[:2] in UNAVAILABLE_SQLSTATE_CLASSES or code in RETRYABLE_SQLSTATES
    # psycopg2 raises its OperationalError without a SQLSTATE when it cannot connect or lost the server
    return type(orig).__module__.split(".")[0] == "psycopg2"


#: the methods a 405's `Allow` may name
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: pydantic's errors for a body that is not an object: what a JSON body sent as another type reads as
NOT_AN_OBJECT = ("model_attributes_type", "model_type", "dict_type")


def not_json(request: Request, errors: Sequence[Any]) -> str | None:
    """The request's media type when a JSON body was refused as a whole because it was not sent as
    JSON (FastAPI parses only `application/json` and `+json` bodies): "" when it named none, None
    when the body was JSON or the error is another."""
    body_errors = [e for e in errors if tuple(e.get("loc", ()))[:1] == ("body",)]
    if len(body_errors) != 1 or tuple(body_errors[0]["loc"]) != ("body",) \
            or body_errors[0].get("type") not in NOT_AN_OBJECT:
        return None
    media_type = media_type_of(request)
    return None if is_json(media_type) else media_type


def allowed_methods(request: Request) -> str:
    """Every method some route of the app answers at the request's path (a 405's `Allow`), asked
    of the routes themselves (included routers match through their own wrappers)."""
    allowed = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.routes):
            allowed.append(method)
    return ", ".join(allowed)


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(_: Request, exc: LoginRequired) -> Response:
        return login_redirect(exc.next_url)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return await error_page(request, exc.status, exc.message)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if is_page(request):
            if exc.status == 401:
                return login_redirect(request.url.path)
            return await error_page(request, exc.status, exc.message)
        headers = {"WWW-Authenticate": "Bearer", **getattr(exc, "headers", {})} if exc.status == 401 else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status, headers=headers)

    @app.exception_handler(Outcome)
    async def outcome_unknown(request: Request, exc: Outcome) -> Response:
        if is_page(request):
            return await error_page(request, 504, "处理超时，结果未知。请稍后刷新页面查看办件状态，不要重复提交。")
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
    async def database_busy(request: Request, exc: OperationalError) -> Response:
        if "locked" in str(exc.orig) or "busy" in str(exc.orig):
            return busy("the database")
        if not database_unavailable(exc):
            raise exc
        log.warning("the database is unavailable (%s %s): %s", request.method, request.url.path,
                    " ".join(str(exc.orig).split())[:300])
        if is_page(request):
            return await error_page(request, 503, "系统暂时无法访问数据库，请稍后再试。")
        return JSONResponse({"detail": {"code": "database_unavailable", "message": "数据库暂时无法访问，请稍后重试",
                                        "message_en": "the database cannot be reached now; retry shortly",
                                        "field": None}},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(RPCError)
    async def temporal_busy(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status in BUSY_RPC:
            return busy("the Temporal server")
        raise exc

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = exc.headers
        if exc.status_code == 405:  # the router names the first matching route's methods only
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        if is_page(request):
            back = form_page_of(request.url.path) if exc.status_code == 405 and request.method in ("GET", "HEAD") \
                else None
            if back is not None:  # a form's address opened as a page: the page the form is on
                return RedirectResponse(back, status_code=303)
            return await error_page(request, exc.status_code, HTTP_TEXT.get(exc.status_code, ("", "请求错误", ""))[1])
        if isinstance(exc.detail, dict):
            body = exc.detail
        else:
            code, zh, en = HTTP_TEXT.get(exc.status_code, ("error", "请求错误", str(exc.detail)))
            said = str(exc.detail) if exc.detail and exc.status_code not in HTTP_TEXT else en
            body = {"code": code, "message": zh, "message_en": said, "field": None}
        return JSONResponse({"detail": body}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        detail = validation_detail(exc.errors())
        if is_page(request):  # which parameter and what rule, as the JSON answer says it
            said = str(detail.get("message") or "").rstrip("。")
            return await error_page(request, 422, f"请求参数有误：{said}。请返回上一页重新操作。" if said
                                    else "请求参数有误，请返回上一页重新操作。")
        media_type = not_json(request, exc.errors())
        if media_type is not None:
            refusal = unsupported_media_type(media_type)
            return JSONResponse({"detail": refusal.detail()}, status_code=refusal.status)
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        """A bug: logged with its traceback on the server, never shown to the caller."""
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        if is_page(request):
            return await error_page(request, 500, "系统暂时无法处理您的请求，请稍后再试。如问题持续，请联系咨询电话。")
        return JSONResponse({"detail": {"code": "internal_error", "message": "系统内部错误",
                                        "message_en": "internal error", "field": None}}, status_code=500)

"""The page cookies' flags: `Secure` over https, and in production mode (or with HSTS) even when a
TLS-terminating proxy hands the request on as http."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request
from starlette.responses import Response

from api.routes.pages.common import end_session, render, start_session
from banjian.auth import Tokens
from banjian.settings import Settings


def request(tmp_path, scheme: str, **settings) -> Request:
    state = SimpleNamespace(settings=Settings(data_dir=tmp_path, token_secret="x" * 40, **settings),
                            tokens=Tokens("x" * 40, 60))
    app = SimpleNamespace(state=state)
    return Request({"type": "http", "scheme": scheme, "method": "GET", "path": "/", "query_string": b"",
                    "headers": [(b"host", b"banjian.test")], "server": ("banjian.test", 80), "app": app})


@pytest.mark.parametrize("scheme, settings, secure", [
    ("http", {}, False), ("https", {}, True), ("http", {"env": "production"}, True), ("http", {"hsts": True}, True)])
async def test_session_and_csrf_cookies_are_secure_over_https_and_in_production(tmp_path, scheme, settings, secure):
    req = request(tmp_path, scheme, **settings)
    response = Response()
    start_session(response, req, "zhangsan")
    await end_session(response, req)
    page = render(req, "error.html", {"status": 404, "title": "页面不存在", "message": "—"})
    cookies = response.headers.getlist("set-cookie") + page.headers.getlist("set-cookie")
    assert len(cookies) == 3  # the session, its removal, the CSRF seed
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert ("Secure" in cookie) is secure, cookie

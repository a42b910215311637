"""HTTP middleware of the API: security headers on every response, and CORS for the codec
server's paths only (the Temporal UI's origin)."""
from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class PathCORS:
    """CORS on the paths under `prefix` alone; the rest of the API stays same-origin."""

    def __init__(self, app: ASGIApp, prefix: str, origins: list[str]) -> None:
        self.app, self.prefix = app, prefix
        self.cors = CORSMiddleware(app, allow_origins=origins, allow_credentials=True, allow_methods=["POST"],
                                   allow_headers=["Content-Type", "Authorization", "X-Namespace"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# The Content-Security-Policy of every response: the app's own scripts and styles only (inline
# styles allowed for the pages), no framing, no plugins, forms post to the app itself. The one
# place to adjust it.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
# FastAPI's /docs and /redoc load Swagger UI / ReDoc from a CDN with an inline bootstrap script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; object-src 'none'; "
            "base-uri 'self'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
HSTS = "max-age=31536000; includeSubDomains"
# What a logged-in caller is answered (a case page with an id number, a file, a case's JSON) is never
# kept by a browser or a proxy: after logging out at a shared counter PC, Back shows no earlier page.
NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
# Routes every answer of which is never kept, whoever asks: a token request's errors (401, 415, 422,
# 429, …) may echo what the credentials looked like, as its token does (RFC 6749 5.1).
NO_STORE_PATHS = ("/api/auth/token",)
PUBLIC_ASSETS = ("/static/",)
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"strict-origin-when-cross-origin"),
                    (b"cross-origin-opener-policy", b"same-origin")]


def _signed_in(scope: Scope) -> bool:
    """The request carries credentials: a bearer token or the pages' session cookie."""
    for key, value in scope.get("headers", []):
        if key == b"authorization" or (key == b"cookie" and b"banjian_token=" in value):
            return True
    return False


class SecurityHeaders:
    """Adds the security headers to every HTTP response (errors and 404s included); HSTS when the
    request came over TLS (directly, or via a proxy uvicorn trusts) or `hsts` is set; `no-store` on
    what a signed-in caller is answered and on every answer of NO_STORE_PATHS (unless the route set
    its own Cache-Control)."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else CSP
        add = [*SECURITY_HEADERS, (b"content-security-policy", csp.encode())]
        if self.hsts or scope.get("scheme") == "https":
            add.append((b"strict-transport-security", HSTS.encode()))
        private = (_signed_in(scope) and not path.startswith(PUBLIC_ASSETS)) or path.rstrip("/") in NO_STORE_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [*add, *NO_STORE] if private and b"cache-control" not in present else add
                message["headers"] = [*message.get("headers", []), *((k, v) for k, v in extra if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """HEAD answered as GET without the body (RFC 9110 9.3.2: a server must support HEAD wherever it
    supports GET): the status and headers, Content-Length included, are the GET's. Monitors and
    `curl -I` probe this way; the framework's routes know GET alone and answered 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the GET's body, held back
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)

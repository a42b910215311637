"""HTTP middleware of the API: CORS for the codec server's paths only (the Temporal UI's origin)."""
from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


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

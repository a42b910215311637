"""A cookie-keeping client for the pages in process (one per simulated browser), and form helpers."""
from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import PASSWORD

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert m, f"no hidden field {name}"
    return m.group(1)


class PageClient:
    def __init__(self, stack, address: str = "127.0.0.1") -> None:
        transport = httpx.ASGITransport(app=stack.app, client=(address, 40000))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://banjian.test", timeout=60)

    async def close(self) -> None:
        await self.http.aclose()

    async def get(self, path: str, **kw) -> httpx.Response:
        return await self.http.get(path, **kw)

    async def login(self, username: str, password: str = PASSWORD, next_url: str = "/") -> httpx.Response:
        page = await self.http.get(f"/login?next={next_url}")
        return await self.http.post("/login", data={"username": username, "password": password, "next": next_url,
                                                    "csrf_token": csrf_of(page.text)})

    async def submit(self, path: str, page_html: str, data: dict[str, Any] | None = None,
                     files: dict[str, tuple] | None = None) -> httpx.Response:
        """Post a multipart form as a browser would, with the page's CSRF token."""
        fields = {"csrf_token": csrf_of(page_html), **(data or {})}
        return await self.http.post(path, data=fields, files=files or {"_": ("", b"", "application/octet-stream")})


def text_of(html: str) -> str:
    """A page's body as text, tags and whitespace removed (Chinese reads without spaces)."""
    body = html.split("<body>", 1)[1]
    return re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", body))

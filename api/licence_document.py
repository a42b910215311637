"""The printable e-licence (电子证照打印件): an HTML page with the face data and a QR code (segno)
of the licence's verify URL, which anyone can scan to check it."""
from __future__ import annotations

from pathlib import Path

import segno
from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlmodel import Session

from banjian import licence_ops as ops
from banjian.licence_store import Licence

ENV = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                  autoescape=select_autoescape(["html"]))
STATUS_ZH = {"valid": "有效", "suspended": "已暂停", "revoked": "已撤销", "cancelled": "已注销", "expired": "已过期"}


def verify_url(request: Request, licence_id: str) -> str:
    return str(request.url_for("licence_verify", licence_id=licence_id))


def qr_code(url: str) -> segno.QRCode:
    return segno.make_qr(url, error="m")


def render_document(request: Request, session: Session, row: Licence) -> str:
    url = verify_url(request, row.id)
    svg = qr_code(url).svg_inline(scale=4, title="核验二维码")
    result = ops.check(session, row)
    return ENV.get_template("licence_document.html").render(
        licence=row, verify_url=url, qr_svg=Markup(svg), status=STATUS_ZH[result["status"]],
        signature_valid=result["signature_valid"], holder_id_masked=result["holder_id_masked"])

"""The printable e-licence (电子证照打印件): an HTML page with the face data and a QR code (segno)
of the licence's public verification page, which anyone can scan to check it.

The QR code and the printed address are built from the configured public address
(`Settings.public_base_url`, BANJIAN_PUBLIC_URL), never from the request: a forged Host header must
not print a forged address. They carry the licence's verification code, so whoever scans the printed
licence also sees its holder. A licence that is not valid today prints with its status across the
page (已撤销, 已暂停, …) and without the sentence on its legal effect.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import quote, urlencode

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlmodel import Session

from banjian import licence_ops as ops
from banjian.labels import LICENCE_STATUS_ZH
from banjian.licence_store import Licence
from banjian.settings import Settings

ENV = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                  autoescape=select_autoescape(["html"]))
STATUS_ZH = LICENCE_STATUS_ZH


def zh_day(day: date) -> str:
    """2026年12月3日: dates on a printed licence as people read them."""
    return f"{day.year}年{day.month}月{day.day}日"


def face_value(value: object) -> str:
    """A face-data value as printed: an ISO date as 2026年12月3日, yes/no as 是/否, nothing as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str) and len(value) == 10:
        try:
            return zh_day(date.fromisoformat(value))
        except ValueError:
            pass
    return str(value)


ENV.filters["zh_day"] = zh_day
ENV.filters["face_value"] = face_value


def verify_path(licence_id: str, code: str | None = None) -> str:
    """The public verification page of a licence (with its code: the holder is shown)."""
    path = f"/licences/{quote(licence_id, safe='')}/verify"
    return f"{path}?{urlencode({'code': code})}" if code else path


def verify_url(settings: Settings, row: Licence) -> str:
    """The absolute address printed on the licence and in its QR code."""
    return settings.public_base_url + verify_path(row.id, row.verify_code)


def qr_code(url: str) -> segno.QRCode:
    return segno.make_qr(url, error="m")


def render_document(settings: Settings, session: Session, row: Licence) -> str:
    url = verify_url(settings, row)
    svg = qr_code(url).svg_inline(scale=4, title="核验二维码")
    result = ops.check(session, row)
    return ENV.get_template("licence_document.html").render(
        licence=row, verify_url=url, qr_svg=Markup(svg), status=STATUS_ZH[result["status"]],
        valid=result["valid"], mark=None if result["valid"] else ops.reason_zh(result["reason"]),
        signature_valid=result["signature_valid"], holder_id_masked=result["holder_id_masked"],
        since=date.fromisoformat(result["status_since"]) if result["status_since"] else None)

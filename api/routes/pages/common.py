"""What every page shares: templates, the session cookie, CSRF tokens, the login redirect, the
Chinese error page, and the words pages use for statuses, actions and warnings."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from api.deps import current_user, end_token
from banjian import notices
from banjian.contracts import Actor
from banjian.enums import Role
from banjian.errors import DomainError
from banjian.labels import ACTION_NAMES_ZH, LICENCE_ACTION_ZH, LICENCE_STATUS_ZH, ROLE_ZH, STATUS_ZH
from banjian.licences import mask_id
from banjian.rules import TASK_ACTIONS
from banjian.timefmt import CHINA
from banjian.zh_quotes import quoted

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[2] / "templates")
SESSION_COOKIE = "banjian_token"  # what api.deps reads too: the API's GETs (files, archive) work from a page
CSRF_COOKIE = "banjian_csrf"

#: button names on the case page (the contract's words where it has them)
ACTION_ZH = {**{str(a): name for a, name in ACTION_NAMES_ZH.items()},
             "pre_review_pass": "预审通过", "pre_review_return": "预审退回",
             "pre_review_resubmit": "重新提交预审", "confirm_submission": "确认正式提交"}
#: history entries, by action or system event
EVENT_ZH = {**ACTION_ZH, "submitted": "提交申请", "deemed_acceptance": "视为受理", "warning": "预警",
            "extension_applied": "延期生效", "calendar_changed": "工作日历变更", "sub_case_started": "分送部门",
            "sub_case_decided": "部门意见", "delivered": "已送达", "concluded": "办结", "archived": "归档",
            "urge_escalated": "督办升级", "version_migrated": "版本迁移", "payment_received": "收到缴费",
            "payment_requested": "待缴费", "payment_expired": "缴费逾期终止", "payment_refunded": "退还缴费",
            "fee_not_computed": "收费金额无法计算", "fee_at_window": "窗口缴费",
            "licence_issued": "签发电子证照",
            "pre_review_submitted": "提交预审", "formal_submission": "正式收件", "complaint_answered": "投诉答复",
            # a bad rating's rectification (差评整改), reported into its case's history
            "record_callback": "登记回访", "record_fix": "登记整改", "close": "整改办结", "reopen": "重新整改",
            "appeal": "申诉复核", "uphold_appeal": "申诉成立", "reject_appeal": "驳回申诉",
            "rectification_warning": "整改预警", "rectification_opened": "启动差评整改",
            # joint cases and bundles (并联审批): what the system records on the parent and the sub-cases
            "sub_case_overdue": "部门逾期未答复", "deemed_consent": "视为同意", "combined_decision": "汇总办理结果",
            "cancelled_by_parent": "随主件撤销", "sub_cases_cancelled": "撤销部门子件",
            "paused_by_parent": "随主件暂停计时", "resumed_by_parent": "随主件恢复计时",
            "sub_cases_paused": "部门子件暂停计时", "sub_cases_resumed": "部门子件恢复计时",
            # a joint case's supplement (design 9): a department's request, the notice, the answer forwarded
            "supplement_asked": "部门提请补正", "supplement_asked_late": "部门提请补正（告知后）",
            "supplement_notified": "牵头部门已告知补正", "supplement_received": "收到补正材料",
            "rating_closed": "评价期届满"}
#: actions that end or refuse something: never the page's primary (green) button, and red to confirm
DANGER_ACTIONS = ("withdraw", "refuse_acceptance", "deny", "terminate")
#: operations on the task (claim, transfer, add a signer, …): after the actions that move the case on
TASK_OPERATIONS = tuple(sorted(a.value for a in TASK_ACTIONS))


def ordered_actions(allowed: list[str]) -> list[str]:
    """The case page's buttons in order: what moves the case on (the first is the primary, green
    button), then the task operations, then what ends or refuses the case (red)."""
    ahead = [a for a in allowed if a not in DANGER_ACTIONS and a not in TASK_OPERATIONS]
    tasks = [a for a in allowed if a in TASK_OPERATIONS and a not in DANGER_ACTIONS]
    return ahead + tasks + [a for a in allowed if a in DANGER_ACTIONS]
WARNING_ZH = {"notice": "提醒", "yellow": "黄牌", "red": "红牌"}
#: how an application came in (the case's `channel`)
CHANNEL_ZH = {"web": "网上申请", "window": "窗口收件", "mobile": "移动端申请", "post": "邮寄申请"}
OPINION_ZH = {"agree": "同意", "agree_with_referral": "同意并报上级", "disagree": "不同意", None: "尚未答复"}
RATING_ZH = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
#: the progress bar's steps and the statuses in which each is the current one: once decided (已决定,
#: 待缴费) the decision is done and the result is on its way (it read 决定 in progress beside 准予许可)
STEPS = [("受理", {"submitted", "supplement_requested", "pre_review"}),
         ("审查", {"accepted", "in_review", "special_procedure", "suspended"}),
         ("决定", set()), ("送达", {"decided", "awaiting_payment", "delivered", "concluded"})]


class LoginRequired(Exception):
    """Raised by a page that needs a login: answered with a redirect to /login?next=…"""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PageError(Exception):
    """An error shown as a page (status, message in Chinese)."""

    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


def is_page(request: Request) -> bool:
    """Requests for pages (not the JSON API, not the API docs) get HTML errors."""
    p = request.url.path
    return not (p.startswith("/api") or p in ("/docs", "/redoc", "/openapi.json", "/metrics") or p.startswith("/docs/"))


# ---- sessions -------------------------------------------------------------------------------------
def _next_url(request: Request) -> str:
    q = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + q


async def optional_user(request: Request) -> Actor | None:
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        actor = await current_user(request, None)
    except DomainError:
        return None
    if request.method in ("GET", "HEAD") and not hasattr(request.state, "unread_notices"):
        # the header's 消息 count, read here off the event loop (render is synchronous)
        request.state.unread_notices = await run_in_threadpool(count_for, request, actor)
    return actor


def count_for(request: Request, actor: Actor) -> int:
    """An applicant's unread notices for the header (capped and cheap: `banjian.notices.unread_count`);
    0 for anyone else."""
    if not actor.has(Role.APPLICANT):
        return 0
    with request.app.state.sessions() as session:
        return notices.unread_count(session, actor.username)


async def page_user(request: Request) -> Actor:
    """The logged-in caller, or a redirect to the login page that comes back here."""
    actor = await optional_user(request)
    if actor is None:
        raise LoginRequired(_next_url(request))
    return actor


def safe_next(url: str | None) -> str:
    """Only a path on this site (never `//host` or a scheme): no open redirect after login."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


#: pages' form targets (POST only) and the page each form is on: opened by address (a phone's browser
#: restoring a discarded tab, a link shared after an error, back then forward) they lead to that page
#: rather than to a 405 (不支持该请求方法) with nothing but a link home
_FORM_TARGETS = (
    (re.compile(r"^/cases/([^/]+)/(?:actions|ask|pay|book|appointments/[^/]+/(?:reschedule|cancel))/?$"), "/cases/{}"),
    (re.compile(r"^/guide/([^/]+)/appointments/[^/]+/(?:reschedule|cancel)/?$"), "/guide/{}/book"),
    (re.compile(r"^/guide/([^/]+)/ask/?$"), "/guide/{}"),
    (re.compile(r"^/rectifications/([^/]+)/actions/?$"), "/rectifications/{}"),
    (re.compile(r"^/work/(?:appointments|inquiries)/[^/]+/(?:no_show|answer)/?$"), "/work"),
)


def form_page_of(path: str) -> str | None:
    """The page whose form posts to `path` (None: not a form target of the pages)."""
    for pattern, page in _FORM_TARGETS:
        found = pattern.match(path)
        if found:
            return page.format(*(quote(g, safe="") for g in found.groups()))
    return None


def login_redirect(next_url: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(next_url, safe='/')}", status_code=303)


def secure_cookies(request: Request) -> bool:
    """Cookies are `Secure` over https, and always in production mode or with HSTS on: behind a
    TLS-terminating proxy the request reaches the API as http when uvicorn does not trust the proxy's
    forwarded headers, and the session cookie must still never travel in clear text."""
    settings = request.app.state.settings
    return request.url.scheme == "https" or settings.production or settings.hsts


def start_session(response: Response, request: Request, username: str) -> None:
    ttl = request.app.state.settings.token_ttl_seconds
    response.set_cookie(SESSION_COOKIE, request.app.state.tokens.issue(username), max_age=ttl, httponly=True,
                        samesite="lax", path="/", secure=secure_cookies(request))


async def end_session(response: Response, request: Request) -> None:
    """Log out: the cookie is removed and its token ended, so a copy of it no longer works."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await end_token(request, token)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure_cookies(request), httponly=True, samesite="lax")


# ---- CSRF (a random cookie and a keyed digest of it in every form) -------------------------------
def _csrf_secret(request: Request) -> bytes:
    return request.app.state.settings.secret_key().encode()


def csrf_token(request: Request) -> str:
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_seed", None)
    if not seed:
        seed = request.state.csrf_seed = secrets.token_urlsafe(24)
    return hmac.new(_csrf_secret(request), seed.encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, token: str | None) -> None:
    seed = request.cookies.get(CSRF_COOKIE)
    good = seed and hmac.new(_csrf_secret(request), seed.encode(), hashlib.sha256).hexdigest()
    if not good or not token or not hmac.compare_digest(good, token):
        raise PageError(403, "表单校验失败（可能来自其他网站，或页面已过期）。请返回刷新页面后重新提交。")


# ---- rendering ------------------------------------------------------------------------------------
def render(request: Request, template: str, context: dict[str, Any], status: int = 200,
           user: Actor | None = None) -> HTMLResponse:
    unread = getattr(request.state, "unread_notices", None)
    if unread is None and user is not None and user.has(Role.APPLICANT):  # a form that came back (POST)
        unread = count_for(request, user)
    ctx = {"user": user, "csrf_token": csrf_token(request), "path": request.url.path, "unread_notices": unread,
           **context}
    response = TEMPLATES.TemplateResponse(request, template, ctx, status_code=status)
    seed = getattr(request.state, "csrf_seed", None)
    if seed and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="lax", path="/",
                            secure=secure_cookies(request))
    return response


async def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The Chinese error page, with the header of the session's user (if any) like every page."""
    try:
        user = await optional_user(request)
    except Exception:  # an error page never fails for want of its header
        user = None
    titles = {400: "请求有误", 401: "请先登录", 403: "无权访问", 404: "页面不存在", 405: "不支持的操作",
              409: "当前状态不允许此操作", 413: "文件过大", 415: "文件类型不支持", 422: "填写有误",
              429: "请求过于频繁", 500: "系统出错了", 503: "服务暂不可用", 504: "处理超时"}
    return render(request, "error.html", {"status": status, "title": titles.get(status, "出错了"),
                                          "message": message}, status=status, user=user)


# ---- words and dates --------------------------------------------------------------------------------
def zh_date(value: str | date | datetime | None) -> str:
    """2026年12月1日 (in China time for a timestamp)."""
    if not value:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(CHINA) if value.tzinfo else value
        return f"{value.year}年{value.month}月{value.day}日 {value:%H:%M}"
    return f"{value.year}年{value.month}月{value.day}日"


def zh_datetime(value: str | datetime | None) -> str:
    """2026年12月1日 09:30:05 (China time), to the second: the audit trail, where several actions
    fall in one minute."""
    if not value:
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    at = at.astimezone(CHINA) if at.tzinfo else at
    return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M:%S}"


_ISO_DAY_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9T:])")


def zh_dates(text: str | None) -> str | None:
    """A text with every ISO date in it as people read it: the system's warning reasons carry the due
    day as it is recorded (已超过承诺办结期限（2026-12-28）); a page says 2026年12月28日."""
    if not text:
        return text
    return _ISO_DAY_IN_TEXT.sub(lambda m: f"{int(m[1])}年{int(m[2])}月{int(m[3])}日", text)


def result_text(result: dict[str, Any] | None) -> str:
    """A case's result as people read it: 准予许可 or 不予许可, with the decider's reason unless the
    reason already says it (an approval whose comment is 准予许可 reads 准予许可, not 准予许可：准予许可)."""
    if not result:
        return ""
    label = "准予许可" if result.get("decision") == "approved" else "不予许可"
    reason = (result.get("reason") or "").strip()
    if not reason or reason.rstrip("。.！! ") == label:
        return label
    if label in reason:  # 符合条件，准予许可
        return reason
    return f"{label}：{reason}"


def progress(status: str, accepted: Any = None) -> list[dict[str, Any]]:
    """The four steps 受理 → 审查 → 决定 → 送达, each done, current or to come. A case closed early
    (refused, withdrawn, terminated) keeps what it had done: once accepted (`accepted`, its
    `accepted_at`), 受理 stays done and nothing is current."""
    closed_early = status in ("refused", "withdrawn", "terminated")
    current = next((i for i, (_, states) in enumerate(STEPS) if status in states), None)
    if closed_early and accepted:
        current = 1  # stopped during review: acceptance was done
    if status == "concluded":
        current = len(STEPS)
    out = []
    for i, (name, _) in enumerate(STEPS):
        state = "todo"
        if current is not None and i < current:
            state = "done"
        elif current == i:
            state = "current"
        out.append({"name": name, "state": "todo" if closed_early and state != "done" else state})
    return out


def install_filters() -> None:
    env = TEMPLATES.env
    env.filters["zh_date"] = zh_date
    env.filters["zh_datetime"] = zh_datetime
    env.filters["zh_dates"] = zh_dates
    env.filters["mask_id"] = mask_id
    env.filters["quoted"] = quoted  # a name in “”, its own quotes nested: “开餐馆‘一件事’”
    env.globals.update(STATUS_ZH=STATUS_ZH, ACTION_ZH=ACTION_ZH, EVENT_ZH=EVENT_ZH, WARNING_ZH=WARNING_ZH,
                       ROLE_ZH=ROLE_ZH, OPINION_ZH=OPINION_ZH, LICENCE_STATUS_ZH=LICENCE_STATUS_ZH,
                       LICENCE_ACTION_ZH=LICENCE_ACTION_ZH, RATING_ZH=RATING_ZH, DANGER_ACTIONS=DANGER_ACTIONS, progress=progress,
                       ordered_actions=ordered_actions,
                       result_text=result_text, CHANNEL_ZH=CHANNEL_ZH)


install_filters()


def page_number(page: str, last: int) -> int:
    """The page asked for, 1 to `last` (a number past `last`, however long, is `last`); not a number: 1."""
    if not (page.isascii() and page.isdigit()):
        return 1
    return max(1, min(int(page[:12]) if len(page) <= 12 else last, last))

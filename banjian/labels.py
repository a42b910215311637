"""Chinese names of case statuses, actions and user roles, for messages (errors the API and the pages show
alike) and for the pages. Codes stay English everywhere else; people read these."""
from __future__ import annotations

from collections.abc import Iterable

from banjian.enums import Action

STATUS_ZH = {"submitted": "已提交，待受理", "supplement_requested": "待补正", "accepted": "已受理",
             "in_review": "审查中", "special_procedure": "特别程序中", "suspended": "已中止", "decided": "已决定",
             "delivered": "已送达", "concluded": "已办结", "refused": "不予受理", "withdrawn": "已撤回",
             "terminated": "已终止", "awaiting_payment": "待缴费", "pre_review": "预审中"}
#: e-licence statuses (banjian.licences.LicenceStatus) as people read them
LICENCE_STATUS_ZH = {"valid": "有效", "suspended": "已暂停", "revoked": "已撤销", "cancelled": "已注销",
                     "expired": "已过期"}
#: changes of an e-licence's status (banjian.licences.LicenceAction, and the timer's `expire`)
LICENCE_ACTION_ZH = {"suspend": "暂停", "reinstate": "恢复", "revoke": "撤销", "cancel": "注销", "expire": "到期失效"}
#: the history role of a department's own system (banjian/service_accounts.py `role_of`): `system_of:{dept}`
SYSTEM_OF = "system_of:"


class RoleNames(dict[str, str]):
    """Roles by their Chinese names; a department system's history role `system_of:{dept}` (one per
    department, so not a key) reads 部门业务系统 wherever a page or message names a role."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if isinstance(key, str) and key.startswith(SYSTEM_OF):
            return "部门业务系统"
        return super().get(key, default)


ROLE_ZH = RoleNames({"applicant": "申请人", "clerk": "窗口受理", "handler": "承办人", "approver": "审批人",
                     "head": "机关负责人", "lead": "牵头部门", "supervisor": "电子监察", "auditor": "审计",
                     "admin": "管理员", "author": "事项编制人员", "system": "系统"})

#: an action's Chinese name: its button on the case page (contract) and the word refusals use
ACTION_NAMES_ZH = {
    Action.ACCEPT: "受理", Action.REQUEST_SUPPLEMENT: "补正告知", Action.REFUSE_ACCEPTANCE: "不予受理",
    Action.SUBMIT_SUPPLEMENT: "提交补正", Action.PASS: "通过", Action.RETURN: "退回",
    Action.APPROVE: "准予许可", Action.DENY: "不予许可", Action.REQUEST_EXTENSION: "申请延期",
    Action.APPROVE_EXTENSION: "批准延期", Action.START_SPECIAL_PROCEDURE: "启动特别程序",
    Action.END_SPECIAL_PROCEDURE: "结束特别程序", Action.SUSPEND: "中止", Action.RESUME: "恢复",
    Action.DELIVER: "送达", Action.CONFIRM_RECEIPT: "确认签收", Action.WITHDRAW: "撤回",
    Action.TERMINATE: "终止", Action.URGE: "督办", Action.REPLY_URGE: "回复督办", Action.RATE: "评价", Action.CLAIM: "签收",
    Action.RELEASE: "退回任务池", Action.ASSIGN: "指派", Action.TRANSFER: "转办", Action.DELEGATE: "委托",
    Action.COMPLETE_DELEGATION: "完成委托", Action.ADD_SIGNER: "加签", Action.RETURN_TO: "退回至环节",
    Action.TAKE_BACK: "收回", Action.COPY_TO: "抄送",
    Action.ASK_SUPPLEMENT: "提请补正", Action.NOTIFY_SUPPLEMENT: "一次性告知补正",
}


def status_zh(status: str) -> str:
    """The status's Chinese name (the code itself for one without a name)."""
    return STATUS_ZH.get(str(status), str(status))


def licence_status_zh(status: str) -> str:
    """An e-licence status's Chinese name (the code itself for one without a name)."""
    return LICENCE_STATUS_ZH.get(str(status), str(status))


def roles_zh(roles: Iterable[str]) -> str:
    """Roles' Chinese names joined with 、 (in the order given)."""
    return "、".join(ROLE_ZH.get(str(r), str(r)) for r in roles)

"""Chinese names of case statuses and user roles, for messages (errors the API and the pages show
alike) and for the pages. Codes stay English everywhere else; people read these."""
from __future__ import annotations

from collections.abc import Iterable

STATUS_ZH = {"submitted": "已提交，待受理", "supplement_requested": "待补正", "accepted": "已受理",
             "in_review": "审查中", "special_procedure": "特别程序中", "suspended": "已中止", "decided": "已决定",
             "delivered": "已送达", "concluded": "已办结", "refused": "不予受理", "withdrawn": "已撤回",
             "terminated": "已终止", "awaiting_payment": "待缴费", "pre_review": "预审中"}
#: e-licence statuses (banjian.licences.LicenceStatus) as people read them
LICENCE_STATUS_ZH = {"valid": "有效", "suspended": "已暂停", "revoked": "已撤销", "cancelled": "已注销",
                     "expired": "已过期"}
#: changes of an e-licence's status (banjian.licences.LicenceAction, and the timer's `expire`)
LICENCE_ACTION_ZH = {"suspend": "暂停", "reinstate": "恢复", "revoke": "撤销", "cancel": "注销", "expire": "到期失效"}
ROLE_ZH = {"applicant": "申请人", "clerk": "窗口受理", "handler": "承办人", "approver": "审批人", "head": "机关负责人",
           "lead": "牵头部门", "supervisor": "电子监察", "auditor": "审计", "admin": "管理员",
           "author": "事项编制人员", "system": "系统"}


def status_zh(status: str) -> str:
    """The status's Chinese name (the code itself for one without a name)."""
    return STATUS_ZH.get(str(status), str(status))


def licence_status_zh(status: str) -> str:
    """An e-licence status's Chinese name (the code itself for one without a name)."""
    return LICENCE_STATUS_ZH.get(str(status), str(status))


def roles_zh(roles: Iterable[str]) -> str:
    """Roles' Chinese names joined with 、 (in the order given)."""
    return "、".join(ROLE_ZH.get(str(r), str(r)) for r in roles)

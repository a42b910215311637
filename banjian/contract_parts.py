"""The parts every contract is made of: the base model, who acts, the applicant, a material.
Split from `banjian/contracts.py`, which imports them, so that the contracts of one capability (for
example `banjian/joint_contracts.py`) can use them without importing the case state. Sandbox-safe,
like the contracts."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from banjian.enums import IdKind, Role


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Actor(Model):
    """Who acts: resolved by the API from the login, re-checked by the workflow validator."""

    username: str
    roles: list[Role]
    department: str | None = None
    display_name: str = ""
    id_number: str | None = None
    #: the history role of a department system's service account (`system_of:{dept}`), else None
    acts_as: str | None = None

    def has(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)


class Applicant(Model):
    kind: IdKind
    id_number: str
    name: str
    username: str | None = Field(default=None, description="the account that owns the case, if any")


class Agent(Model):
    """The person who files or stands at the window for the applicant (经办人 / 委托代理人): a company's
    staff member, or whoever a citizen entrusted. Recorded with the case; the applicant stays who applies."""

    name: str
    id_number: str = Field(description="公民身份号码 (GB 11643), canonical form")
    phone: str | None = None


class MaterialRef(Model):
    name: str
    file_id: str | None = None
    licence_id: str | None = None
    #: a licence's verification result when it was attached (banjian/licence_reuse.py)
    licence_check: dict[str, Any] | None = None
    # a supplement adds a version and replaces none: the case lists every version
    version: int = 1
    added_by: str | None = None
    added_at: datetime | None = None

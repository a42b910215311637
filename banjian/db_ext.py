"""Read-model tables of item authoring (drafts) and of the copy inbox (抄送).

Kept beside `banjian.db` (same metadata, same engine); created by migration 0005.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from banjian.db import JSONType


class CaseCopy(SQLModel, table=True):
    """A colleague a case was copied to (`copy_to`): listed in their `copied` inbox tab."""

    __tablename__ = "case_copies"
    case_id: str = Field(primary_key=True, max_length=40)
    username: str = Field(primary_key=True, max_length=64, index=True)
    copied_by: str | None = None
    copied_at: datetime


class ItemDraft(SQLModel, table=True):
    """A draft of an item definition (事项草稿): stored as written, validated on every save, never
    used by new cases until it is published as the item's next version."""

    __tablename__ = "item_drafts"
    id: str = Field(primary_key=True, max_length=40)
    code: str = Field(index=True, max_length=64)
    department: str | None = Field(default=None, index=True)
    definition: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    problems: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    # the item's version the draft was made from (0 for a new item): it publishes as base + 1 only
    # while the item is still at base; null on drafts stored before this column existed
    base_version: int | None = None
    published_version: int | None = None
    published_at: datetime | None = None

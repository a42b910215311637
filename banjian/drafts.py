"""Drafts of item definitions (事项草稿) and publishing them as the item's next version.

A draft is stored as its author wrote it (even with problems), validated on every save against
the schema and the catalogue, and never used by new cases. Publishing validates it again and, in
one transaction, marks the draft published and stores the next version. A draft remembers the
version it was made from and publishes only while the item is still there: of two drafts made from
one version one is published and the other is a 409 (whatever the timing), as is a draft published
twice; the author starts a new draft from the current version instead of overwriting a colleague's.
Who may: `rules.authorise_authoring` (an admin, or the item's department's `author`).
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from banjian.adminlog import record_admin
from banjian.catalog import Catalog, DefinitionProblems, digest
from banjian.contracts import Actor
from banjian.db import Item, ItemVersion
from banjian.db_ext import ItemDraft
from banjian.errors import Conflict, Forbidden, NotFound
from banjian.items.limit_advice import limit_advice
from banjian.items.schema import ItemDefinition
from banjian.items.schema_problems import schema_problems, strip_derived
from banjian.items.validate import Problem
from banjian.rules import authorise_authoring
from banjian.timefmt import iso_at


def jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """A definition as JSON stores it (YAML dates become ISO strings, which the schema parses)."""
    return json.loads(json.dumps(data, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v),
                                 ensure_ascii=False))


def revision(d: ItemDraft) -> str:
    """A token that changes with every save of the draft (its text, who saved it and when, to the
    microsecond): an editor sends back the one it started from, and a save made meanwhile by
    someone else is refused instead of silently overwritten (`Drafts.update`'s `expected`)."""
    at = d.updated_at.replace(tzinfo=None) if d.updated_at is not None else None
    seen = json.dumps([d.definition, d.updated_by, at.isoformat() if at else None], sort_keys=True,
                      ensure_ascii=False, default=str)
    return hashlib.sha256(seen.encode()).hexdigest()[:20]


def draft_json(d: ItemDraft) -> dict[str, Any]:
    """A draft as the API shows it (`version` is null until it is published); `warnings`: advice on
    its limits that does not stop it (`items.limit_advice`), for a draft the schema can read."""
    readable, _ = parsed(d.code, d.definition, d.published_version or 1)
    warnings = [p.to_dict() for p in limit_advice(readable)] if readable is not None else []
    return {"warnings": warnings, "draft_id": d.id, "code": d.code, "department": d.department, "version": d.published_version,
            "problems": d.problems, "definition": d.definition, "created_by": d.created_by,
            "created_at": iso_at(d.created_at), "updated_by": d.updated_by, "updated_at": iso_at(d.updated_at),
            "published_at": iso_at(d.published_at), "revision": revision(d)}


def parsed(code: str, data: dict[str, Any], version: int) -> tuple[ItemDefinition | None, list[Problem]]:
    """A draft's definition as the schema alone reads it (as version `version` of `code`), or its
    schema problems; the cross-field rules are not checked."""
    return schema_problems(strip_derived({**data, "code": data.get("code", code), "version": version}))


def authorise_new_text(catalog: Catalog, actor: Actor, code: str, stored: str | None, named: str | None) -> None:
    """Who may write a definition of `code` (a draft, or a version posted whole): as
    `rules.authorise_authoring`, but a refusal says why an author meets it: the code is already
    another department's item (field `code`: a new item needs a code of its own), or the text names
    another department for a new item (field `department`)."""
    department = stored or named or actor.department
    try:
        authorise_authoring(actor, department)
    except Forbidden as e:
        if e.code != "forbidden_department" or department is None:
            raise
        name = catalog.department_names({department}).get(department, department)
        if stored is not None:
            raise Forbidden("forbidden_department",
                            f"事项编码 {code} 已是“{name}”的事项，只能编辑和发布本部门的事项；新事项请另取一个编码",
                            f"the code {code} is an item of {name}: you may only author your own department's "
                            "items (give a new item a code of its own)", field="code") from None
        raise Forbidden("forbidden_department", f"只能编辑和发布本部门的事项，不能为“{name}”新建事项",
                        f"you may only author your own department's items, not create one for {name}",
                        field="department") from None


class Drafts:
    """Drafts of one catalogue; every method checks who may act (403) before anything changes."""

    def __init__(self, catalog: Catalog, session_factory: Callable[[], Session]) -> None:
        self.catalog = catalog
        self.session_factory = session_factory

    # ---- helpers -----------------------------------------------------------------------------
    def _department(self, code: str, data: dict[str, Any] | None) -> str | None:
        """The department an item belongs to: the stored item's, else the one the draft names."""
        stored = self.catalog.department(code)
        if stored is not None:
            return stored
        value = (data or {}).get("department")
        return value if isinstance(value, str) else None

    def _check(self, code: str, data: dict[str, Any], version: int) -> tuple[ItemDefinition | None, list[Problem]]:
        """Every problem of `data` as the next version of `code` (the draft's own `version` is ignored;
        one moving the item to another department: `Catalog.problems`' ``department_changed``)."""
        body = {**data, "code": data.get("code", code), "version": version}
        definition, problems = self.catalog.problems(body)
        if body["code"] != code:
            problems = [Problem("code", "code_mismatch", f"草稿的事项编码 {body['code']!r} 与地址中的 {code!r} 不一致",
                                f"the draft's code {body['code']!r} differs from {code!r} in the address"), *problems]
        return (definition if not problems else None), problems

    def _load(self, session: Session, code: str, draft_id: str) -> ItemDraft:
        row = session.get(ItemDraft, draft_id)
        if row is None or row.code != code:
            raise NotFound("draft_not_found", f"事项 {code} 没有草稿 {draft_id}", f"no draft {draft_id} of item {code}",
                           field="draft_id")
        return row

    # ---- operations --------------------------------------------------------------------------
    def create(self, actor: Actor, code: str, data: dict[str, Any]) -> dict[str, Any]:
        """Store a new draft of `code` with its problems."""
        # a new item's draft that names no department yet belongs to its author's department
        stored = self.catalog.department(code)
        named = data.get("department") if isinstance(data.get("department"), str) else None
        authorise_new_text(self.catalog, actor, code, stored, named)
        department = stored or named or actor.department
        data = jsonable(data)
        version = self.catalog.next_version(code)
        _, problems = self._check(code, data, version)
        now = datetime.now(UTC)
        row = ItemDraft(id=uuid.uuid4().hex, code=code, department=department, base_version=version - 1,
                        definition=data, problems=[p.to_dict() for p in problems], created_by=actor.username,
                        created_at=now, updated_by=actor.username, updated_at=now)
        with self.session_factory() as session:
            session.add(row)
            session.commit()
            session.refresh(row)
        return draft_json(row)

    def get(self, actor: Actor, code: str, draft_id: str) -> dict[str, Any]:
        with self.session_factory() as session:
            row = self._load(session, code, draft_id)
        authorise_authoring(actor, row.department)
        return draft_json(row)

    def find(self, actor: Actor, draft_id: str) -> dict[str, Any]:
        """A draft by its id alone (the page's editor opens it so): 404, then 403, as `get`."""
        with self.session_factory() as session:
            row = session.get(ItemDraft, draft_id)
        if row is None:
            raise NotFound("draft_not_found", f"没有草稿 {draft_id}", f"no draft {draft_id}", field="draft_id")
        authorise_authoring(actor, row.department)
        return draft_json(row)

    def definition(self, actor: Actor, code: str, draft_id: str) -> ItemDefinition:
        """The draft as the item's next version (for a what-if run): 422 listing its problems."""
        with self.session_factory() as session:
            row = self._load(session, code, draft_id)
        authorise_authoring(actor, row.department)
        definition, problems = self._check(code, row.definition, self.catalog.next_version(code))
        if definition is None:
            raise DefinitionProblems(problems)
        return definition

    def drawable(self, actor: Actor, code: str, draft_id: str) -> tuple[ItemDefinition, dict[str, Any]]:
        """The draft as its flow diagram draws it, and the draft (JSON): parsed by the schema alone, so a
        draft that breaks only cross-field rules (an unreachable step, promised > statutory) is still
        drawn for its author to see what to fix; 422 listing the schema problems when it does not parse."""
        with self.session_factory() as session:
            row = self._load(session, code, draft_id)
        authorise_authoring(actor, row.department)
        definition, problems = parsed(code, row.definition, row.published_version or self.catalog.next_version(code))
        if definition is None:
            raise DefinitionProblems(problems)
        return definition, draft_json(row)

    def list(self, actor: Actor, code: str) -> dict[str, Any]:
        """The item's drafts, newest first (published ones too, with their `version`)."""
        authorise_authoring(actor, self._department(code, None) or actor.department)
        with self.session_factory() as session:
            rows = session.exec(select(ItemDraft).where(ItemDraft.code == code)
                                .order_by(col(ItemDraft.updated_at).desc(), col(ItemDraft.id))).all()
        rows = [r for r in rows if actor.department is None or r.department == actor.department]
        return {"items": [draft_json(r) for r in rows], "total": len(rows)}

    def visible(self, actor: Actor, limit: int = 200) -> list[dict[str, Any]]:
        """Every item's drafts the caller may see (all for an admin of no department, else the
        caller's department's), newest first, at most `limit`."""
        query = select(ItemDraft).order_by(col(ItemDraft.updated_at).desc()).limit(limit)
        if actor.department is not None:
            query = query.where(ItemDraft.department == actor.department)
        with self.session_factory() as session:
            rows = session.exec(query).all()
        return [draft_json(r) for r in rows]

    def update(self, actor: Actor, code: str, draft_id: str, data: dict[str, Any],
               expected: str | None = None) -> dict[str, Any]:
        """Replace a draft's definition (validated again); a published draft is frozen (409). With
        `expected` (the `revision` the editor started from), a draft saved by someone else since is
        a 409 `draft_changed` and nothing changes: two authors never silently overwrite each other."""
        with self.session_factory() as session:
            row = self._load(session, code, draft_id)
            authorise_authoring(actor, row.department)
            if row.published_version is not None:
                raise Conflict("draft_published", f"草稿已发布为第 {row.published_version} 版，不能再修改",
                               f"the draft was published as version {row.published_version}", field="draft_id")
            data = jsonable(data)
            # the same text again (a reloaded page posting its form twice, a double click) loses nothing
            if expected is not None and expected != revision(row) and data != row.definition:
                at = iso_at(row.updated_at)
                raise Conflict("draft_changed",
                               f"草稿已在您打开之后被 {row.updated_by} 于 {at} 修改，您的修改未保存，以免覆盖对方的内容",
                               f"the draft was changed by {row.updated_by} at {at} after you opened it; "
                               "your changes were not saved so as not to overwrite theirs", field="draft_id")
            department = self._department(code, data) or row.department
            authorise_authoring(actor, department)  # a new item's draft may not move to another department
            _, problems = self._check(code, data, self.catalog.next_version(code))
            # written only if nobody saved or published the draft since it was read (a save racing
            # another lands once; the loser is told, as above)
            written = session.execute(update(ItemDraft).where(
                col(ItemDraft.id) == draft_id, col(ItemDraft.updated_at) == row.updated_at,
                col(ItemDraft.published_version).is_(None)).values(
                department=department, definition=data, problems=[p.to_dict() for p in problems],
                updated_by=actor.username, updated_at=datetime.now(UTC)))
            if written.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                raise Conflict("draft_changed", "草稿刚被他人保存或发布，您的修改未保存，请重新打开草稿",
                               "the draft was saved or published by someone else just now; your changes were "
                               "not saved", field="draft_id")
            session.commit()
            row = self._load(session, code, draft_id)
            session.refresh(row)
        return draft_json(row)

    def delete(self, actor: Actor, code: str, draft_id: str) -> None:
        """Delete an unpublished draft (404 unknown, 403 not the caller's department, 409
        `draft_published` once published: a published draft is the record of a version). Recorded
        in the admin log (`item.draft_delete`) with what the draft held, for the auditors."""
        with self.session_factory() as session:
            row = self._load(session, code, draft_id)
            authorise_authoring(actor, row.department)
            if row.published_version is not None:
                raise Conflict("draft_published", f"草稿已发布为第 {row.published_version} 版，不能删除",
                               f"the draft was published as version {row.published_version}: it cannot be deleted",
                               field="draft_id")
            # only the draft as read, still unpublished (a publish racing the delete wins or loses whole)
            gone = session.execute(delete(ItemDraft).where(col(ItemDraft.id) == draft_id,
                                                           col(ItemDraft.published_version).is_(None)))
            if gone.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                raise Conflict("draft_published", "草稿刚被发布，不能删除", "the draft was just published: "
                               "it cannot be deleted", field="draft_id")
            session.commit()
            detail = {"draft_id": draft_id, "created_by": row.created_by, "updated_by": row.updated_by,
                      "updated_at": iso_at(row.updated_at), "revision": revision(row)}
        record_admin(self.session_factory, actor.username, "item.draft_delete", code, detail)

    def publish(self, actor: Actor, code: str, draft_id: str) -> ItemDefinition:
        """Publish a draft as the item's next version: 422 with every problem if it has any, 409 if it
        was published already or another version won the race."""
        with self.session_factory() as session:
            row = self._load(session, code, draft_id)
        authorise_authoring(actor, row.department)
        if row.published_version is not None:
            raise Conflict("draft_published", f"草稿已发布为第 {row.published_version} 版",
                           f"the draft was published already as version {row.published_version}", field="draft_id")
        current = self.catalog.next_version(code) - 1
        base = current if row.base_version is None else row.base_version
        lost = Conflict("publish_conflict", "另一次发布已先完成，请基于当前版本新建草稿",
                        "another publish of this item won; start a new draft from the current version", field="draft_id")
        if current != base:
            made = f"本草稿基于第 {base} 版创建" if base else "本草稿是按新事项创建的"
            raise Conflict("publish_conflict", f"事项已是第 {current} 版，{made}，请基于当前版本新建草稿",
                           f"the item is at version {current} and this draft was made from "
                           f"{f'version {base}' if base else 'no version (as a new item)'}; "
                           "start a new draft from the current version", field="draft_id")
        version = base + 1
        definition, problems = self._check(code, row.definition, version)
        if definition is None:
            raise DefinitionProblems(problems)
        authorise_authoring(actor, definition.department)
        now = datetime.now(UTC)
        with self.session_factory() as session:
            try:
                # the draft as read above: a save that landed meanwhile is not published unseen
                marked = session.execute(update(ItemDraft)
                                         .where(col(ItemDraft.id) == draft_id, col(ItemDraft.published_version).is_(None),
                                                col(ItemDraft.updated_at) == row.updated_at)
                                         .values(published_version=version, published_at=now))
                if marked.rowcount != 1:  # type: ignore[attr-defined]
                    again = session.get(ItemDraft, draft_id)
                    if again is not None and again.published_version is None:  # saved meanwhile, not published
                        raise Conflict("draft_changed", "发布时草稿刚被修改，未发布；请查看修改后的草稿再发布",
                                       "the draft was changed while it was being published; nothing was "
                                       "published: review the changed draft and publish again", field="draft_id")
                    raise lost
                session.add(ItemVersion(code=code, version=version, definition=definition.model_dump(mode="json"),
                                        digest=digest(definition), created_at=now, created_by=actor.username))
                item = session.get(Item, code)
                if item is None:
                    session.add(Item(code=code, name=definition.name, department=definition.department,
                                     kind=definition.kind.value, current_version=version))
                else:
                    moved = session.execute(update(Item).where(col(Item.code) == code,
                                                               col(Item.current_version) == version - 1)
                                            .values(current_version=version, name=definition.name,
                                                    kind=definition.kind.value))
                    if moved.rowcount != 1:  # type: ignore[attr-defined]
                        raise lost
                session.commit()
            except IntegrityError:
                session.rollback()
                raise lost from None
            except Conflict:
                session.rollback()
                raise
        # the auditors' admin log, as a version posted whole (POST /api/items) is: page, API and CLI alike
        record_admin(self.session_factory, actor.username, "item.store", code,
                     {"version": version, "new_version": True, "draft_id": draft_id, "previous_version": base or None})
        return definition

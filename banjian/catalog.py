"""The item catalogue: storing immutable definition versions and reading them back (cached)."""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from banjian.calendar import WorkingCalendar, YearSchedule
from banjian.case_steps import effective_item
from banjian.db import CalendarYear, Department, Item, ItemVersion, User
from banjian.enums import STAFF_ROLES
from banjian.errors import Conflict, Invalid, NotFound
from banjian.items.schema import FIELD_BOUNDS, ItemDefinition
from banjian.items.validate import Problem, load_directory, validate_definition
from banjian.timefmt import iso_at

log = logging.getLogger("banjian.catalog")

#: Fields added to the schema after versions were stored: left out of the digest while unset (None),
#: so that the digest of every stored version stays what it was.
LATER_FIELDS = frozenset({"licence", "payment_limit"})


def digest(definition: ItemDefinition) -> str:
    dump = {k: v for k, v in definition.model_dump(mode="json").items() if not (k in LATER_FIELDS and v is None)}
    # a form field's bounds came later too: left out while unset, so every earlier digest stays
    dump["form"] = [{k: v for k, v in f.items() if not (k in FIELD_BOUNDS and v == FIELD_BOUNDS[k])}
                    for f in dump.get("form", [])]
    body = json.dumps(dump, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


class DefinitionProblems(Invalid):
    """A definition that breaks rules: every problem with its path."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__("invalid_definition", "；".join(f"{p.path}: {p.message}" for p in problems),
                         "; ".join(f"{p.path}: {p.message_en}" for p in problems), field=first.path)
        self.problems = problems

    def detail(self) -> dict:
        return {**super().detail(), "problems": [p.__dict__ for p in self.problems]}


_CURRENT_VERSION = select(Item.current_version).where(Item.code == bindparam("code"))


class Catalog:
    """Item definitions in the read model. Versions are immutable: a case runs on its version."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory
        self._version = lru_cache(maxsize=512)(self._load_version)

    def _load_version(self, code: str, version: int) -> ItemDefinition:
        with self.session_factory() as session:
            row = session.exec(select(ItemVersion).where(ItemVersion.code == code,
                                                         ItemVersion.version == version)).first()
            if row is None:
                raise NotFound("item_not_found", f"事项 {code} 第 {version} 版不存在",
                               f"item {code} version {version} does not exist", field="item_code")
            return ItemDefinition.model_validate(row.definition)

    def version(self, code: str, version: int) -> ItemDefinition:
        return self._version(code, version)

    def effective(self, code: str, version: int, department: str, is_sub_case: bool) -> ItemDefinition:
        return effective_item(self.version(code, version), department, is_sub_case)

    def current(self, code: str) -> ItemDefinition:
        with self.session_factory() as session:  # every submission asks: one column, no ORM entity
            version = session.connection().execute(_CURRENT_VERSION, {"code": code}).scalar()
        if version is None:
            raise NotFound("item_not_found", f"事项 {code} 不存在", f"no item {code}", field="item_code")
        return self.version(code, int(version))

    def versions(self, code: str) -> list[dict]:
        with self.session_factory() as session:
            rows = session.exec(select(ItemVersion).where(ItemVersion.code == code)
                                .order_by(col(ItemVersion.version))).all()
            return [{"version": r.version, "created_at": iso_at(r.created_at), "created_by": r.created_by,
                     "digest": r.digest} for r in rows]

    def all_current(self) -> list[ItemDefinition]:
        with self.session_factory() as session:
            rows = session.exec(select(Item).order_by(col(Item.code))).all()
            keys = [(r.code, r.current_version) for r in rows]
        return [self.version(c, v) for c, v in keys]

    def known_departments(self) -> dict[str, str]:
        """Code → name of every department (validation checks the codes and names them in messages)."""
        with self.session_factory() as session:
            return {str(code): str(name) for code, name in session.exec(select(Department.code, Department.name)).all()}

    def department_names(self, codes: set[str]) -> dict[str, str]:
        """Code → name of the departments `codes` names (the departments table: what people read)."""
        if not codes:
            return {}
        with self.session_factory() as session:
            rows = session.exec(select(Department.code, Department.name).where(col(Department.code).in_(codes)))
            return {str(code): str(name) for code, name in rows.all()}

    def known_items(self) -> dict[str, ItemDefinition]:
        return {d.code: d for d in self.all_current()}

    def staff_roles(self) -> dict[str, set[str]]:
        """Department code → the staff roles its active users hold (for `role_without_staff`)."""
        staff = {r.value for r in STAFF_ROLES}
        out: dict[str, set[str]] = {}
        with self.session_factory() as session:
            for department, roles in session.exec(select(User.department, User.roles)
                                                  .where(col(User.department).is_not(None), col(User.active))):
                out.setdefault(department, set()).update(r for r in roles if r in staff)
        return out

    def calendar(self) -> WorkingCalendar:
        """The working-day calendar in force: administrators' schedules over official data."""
        with self.session_factory() as session:
            rows = session.exec(select(CalendarYear)).all()
            return WorkingCalendar({r.year: YearSchedule.from_json(r.schedule, source="override") for r in rows})

    def department(self, code: str) -> str | None:
        """The department a stored item belongs to (None: no such item)."""
        with self.session_factory() as session:
            item = session.get(Item, code)
            return None if item is None else item.department

    def problems(self, data: dict) -> tuple[ItemDefinition | None, list[Problem]]:
        """Every problem of a definition, against the schema and the catalogue (departments, items,
        staff, calendar). A new version keeps the item's department (``department_changed``): no
        way of publishing (POST /api/items, a draft, the admin page) moves an item to another one."""
        departments = self.known_departments()
        definition, problems = validate_definition(data, departments, self.known_items(),
                                                   staff=self.staff_roles(), calendar=self.calendar())
        code, department = data.get("code"), data.get("department")
        stored = self.department(code) if isinstance(code, str) else None
        if stored is not None and isinstance(department, str) and department != stored:
            name = departments.get(stored, stored)
            problems = [*problems, Problem("department", "department_changed",
                                           f"事项属于“{name}”，新版本不能改为其他部门",
                                           f"the item belongs to {name} ({stored}); a new version cannot move it")]
        return (None, problems) if problems else (definition, [])

    def validate(self, data: dict) -> ItemDefinition:
        """Parse and check a definition against the schema and the catalogue; every problem at once."""
        definition, problems = self.problems(data)
        if problems or definition is None:
            raise DefinitionProblems(problems)
        return definition

    def next_version(self, code: str) -> int:
        """The version number a new version of `code` gets (1 for a new item)."""
        with self.session_factory() as session:
            item = session.get(Item, code)
            return 1 if item is None else item.current_version + 1

    def store(self, definition: ItemDefinition, created_by: str | None = None) -> tuple[ItemDefinition, bool]:
        """Store a new version. The same content again is a no-op; other content under an existing
        version number is refused (versions are immutable). Returns (definition, created)."""
        dg = digest(definition)
        with self.session_factory() as session:
            existing = session.exec(select(ItemVersion).where(ItemVersion.code == definition.code,
                                                              ItemVersion.version == definition.version)).first()
            if existing is not None:
                if existing.digest == dg:
                    return definition, False
                raise Conflict("version_immutable",
                               f"事项 {definition.code} 第 {definition.version} 版已存在且内容不同：版本不可修改，请提高版本号",
                               f"item {definition.code} version {definition.version} exists with other content: "
                               "versions are immutable, raise the version number", field="version")
            item = session.get(Item, definition.code)
            if item is not None and definition.version < item.current_version:
                raise Conflict("version_outdated",
                               f"版本号须大于当前版本 {item.current_version}",
                               f"the version must be above the current version {item.current_version}",
                               field="version")
            session.add(ItemVersion(code=definition.code, version=definition.version,
                                    definition=definition.model_dump(mode="json"), digest=dg,
                                    created_at=datetime.now(UTC), created_by=created_by))
            if item is None:
                item = Item(code=definition.code, name=definition.name, department=definition.department,
                            kind=definition.kind.value, current_version=definition.version)
            else:
                item.name, item.department, item.kind = definition.name, definition.department, definition.kind.value
                item.current_version = definition.version
            session.add(item)
            session.commit()
        return definition, True

    def load_directory(self, path: Path) -> list[str]:
        """Store the shipped definitions of a folder (new versions only). Returns the codes stored anew.

        They seed the catalogue: once an installation holds a version of an item, that version is
        its own (versions are immutable, and a department may have published later ones). A shipped
        file whose version the installation already holds with other content (a release that edited
        the file in place), or whose version is below the item's current one, is not adopted: it is
        logged and skipped, and the installation starts with its own catalogue."""
        definitions, problems = load_directory(path, self.known_departments())
        if problems:
            flat = [Problem(path=f"{name}:{p.path}", code=p.code, message=p.message, message_en=p.message_en)
                    for name, ps in problems.items() for p in ps]
            raise DefinitionProblems(flat)
        stored, skipped = [], []
        for d in definitions:
            try:
                _, created = self.store(d, created_by="system")
            except Conflict as e:
                skipped.append(f"{d.code} version {d.version} ({e.code})")
                continue
            if created:
                stored.append(d.code)
        if skipped:  # one line at every start, however many files a release changed
            log.warning("%d shipped item file(s) not adopted: %s; the installation keeps its own versions, "
                        "publish a new version to take the shipped changes", len(skipped), "; ".join(skipped))
        return stored

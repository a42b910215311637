"""Validation of service item definitions: the one place that says whether a definition is acceptable.

This module holds the entry points; the rules live beside it, one module per idea:

* `schema_problems` — pydantic's errors as problems (``unknown_field``, ``missing``, ...), the
  derived read-only fields a GET adds (ignored), the partial definition of the valid fields;
* `definition_rules` — limits, texts, channels and fees, lists, departments, credit codes, licence;
* `agreement_rules` — sections that must agree: co-departments, appointment channel and slots, notice;
* `fee_rules` — the form fields a fee formula reads, what online payment needs;
* `form_rules` — the bounds of the form's fields (which bound fits which type, empty ranges);
* `flow_rules` — steps, joint participants, bundle members, unreachable steps, roles without staff;
* `calendar_rules` — natural-day limits the working-day calendar cannot meet;
* `problems` — `Problem` and the limit arithmetic they share.

`validate_definition` reports *every* problem at once: the schema problems and the cross-field
problems of the valid part of the definition (a rule that needs an invalid or missing field is
skipped: its answer would be noise).

Messages name departments by name (市消防救援支队) when the caller gives the known departments as a
mapping of code to name (`Catalog.known_departments`); the problem's `path` points at the code.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from banjian.calendar import WorkingCalendar
from banjian.enums import ItemKind
from banjian.items import agreement_rules, calendar_rules, definition_rules, fee_rules, flow_rules, form_rules
from banjian.items.flow_rules import JOINT_STATUTORY_MAX, StaffRoles
from banjian.items.problems import Collector, Problem, to_working_days
from banjian.items.schema import ItemDefinition
from banjian.items.schema_problems import parse_partial, schema_problems, strip_derived
from banjian.items.yaml_text import yaml_error_text

__all__ = [
    "JOINT_STATUTORY_MAX",
    "Problem",
    "StaffRoles",
    "cross_field_problems",
    "load_definition_file",
    "load_directory",
    "to_working_days",
    "validate_definition",
]


@dataclass(frozen=True)
class Context:
    """What the rules may compare a definition with (None: that comparison is not made)."""

    departments: Collection[str] | None = None
    items: Mapping[str, ItemDefinition] | None = None
    staff: StaffRoles | None = None
    calendar: WorkingCalendar | None = None
    today: date | None = None

    def name(self, code: str) -> str:
        """How messages name a department: its name when the departments came with names, else its code."""
        if isinstance(self.departments, Mapping):
            return str(self.departments.get(code) or code)
        return code


Rule = Callable[[Collector, ItemDefinition, Context], None]

#: Every cross-field rule, in the order its problems are listed.
RULES: list[Rule] = [
    lambda out, d, c: definition_rules.check_limits(out, d),
    lambda out, d, c: definition_rules.check_texts(out, d),
    lambda out, d, c: definition_rules.check_departments(out, d, c.departments),
    lambda out, d, c: definition_rules.check_credit_codes(out, d),
    lambda out, d, c: definition_rules.check_implementation_code(out, d, c.items),
    lambda out, d, c: definition_rules.check_channels_and_fees(out, d),
    lambda out, d, c: agreement_rules.check_agreement(out, d, c.name),
    lambda out, d, c: fee_rules.check_fees(out, d),
    *[lambda out, d, c, rule=rule: rule(out, d) for rule in definition_rules.LIST_RULES],
    lambda out, d, c: form_rules.check_form_bounds(out, d),
    lambda out, d, c: flow_rules.check_kind_specific(out, d, c.items, c.name),
    lambda out, d, c: definition_rules.check_licence(out, d),
    lambda out, d, c: flow_rules.check_staff(out, d, c.staff, c.name),
    lambda out, d, c: calendar_rules.check_calendar(out, d, c.calendar, c.today),
]


def cross_field_problems(
    d: ItemDefinition,
    known_departments: Collection[str] | None = None,
    known_items: Mapping[str, ItemDefinition] | None = None,
    *,
    staff: StaffRoles | None = None,
    calendar: WorkingCalendar | None = None,
    today: date | None = None,
    partial: bool = False,
) -> list[Problem]:
    """Every cross-field problem of a parsed definition (empty when it is acceptable). With
    `partial` (a definition missing its invalid fields), a rule that needs a missing field is skipped."""
    ctx = Context(known_departments, known_items, staff, calendar, today)
    out = Collector()
    for rule in RULES:
        if not partial:
            rule(out, d, ctx)
            continue
        mark = len(out.problems)
        try:
            rule(out, d, ctx)
        except AttributeError:
            del out.problems[mark:]  # the rule read a field that is invalid: its half-answer is noise
    return out.problems


def validate_definition(
    data: Mapping[str, Any],
    known_departments: Collection[str] | None = None,
    known_items: Mapping[str, ItemDefinition] | None = None,
    *,
    staff: StaffRoles | None = None,
    calendar: WorkingCalendar | None = None,
    today: date | None = None,
) -> tuple[ItemDefinition | None, list[Problem]]:
    """Parse and check a definition: ``(definition, [])`` when it is acceptable, else ``(None,
    problems)`` with every schema problem and every cross-field problem of its valid part.

    Derived read-only fields (`schema.DERIVED_FIELDS`) are ignored. `known_departments` enables the
    department-code check, `known_items` (code → definition) the checks of a bundle's members,
    `staff` (department → roles held) the check of step roles; `calendar` is the working-day
    calendar the natural-day limits are judged on (default: official data, else provisional).
    """
    body = strip_derived(data)
    definition, problems = schema_problems(body)
    cal = calendar if calendar is not None else WorkingCalendar()
    kw: dict[str, Any] = {"staff": staff, "calendar": cal, "today": today}
    if definition is not None:
        problems = cross_field_problems(definition, known_departments, known_items, **kw)
        return (None, problems) if problems else (definition, [])
    partial = parse_partial(body, problems)
    if partial is not None:
        problems += cross_field_problems(partial, known_departments, known_items, partial=True, **kw)
    return None, problems


def _read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """The parsed YAML document of a file, or a problem (unreadable file, syntax error, not a mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [
            Problem("", "unreadable", f"无法读取文件 {path.name}：{exc}", f"cannot read {path.name}: {exc}")
        ]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        zh, en = yaml_error_text(exc)
        return None, [Problem("", "yaml_syntax", zh, en)]
    if not isinstance(data, dict):
        return None, [
            Problem(
                "",
                "not_a_mapping",
                "文件内容应为一个事项定义（键值映射）",
                "the document must be one item definition (a mapping)",
            )
        ]
    return data, []


def load_definition_file(
    path: Path,
    known_departments: Collection[str] | None = None,
    known_items: dict[str, ItemDefinition] | None = None,
) -> tuple[ItemDefinition | None, list[Problem]]:
    """Read one YAML definition and validate it (YAML errors are a problem at path "" naming the line)."""
    data, problems = _read_yaml(Path(path))
    if problems:
        return None, problems
    return validate_definition(data, known_departments, known_items)


def load_directory(
    path: Path,
    known_departments: Collection[str] | None = None,
    known_items: dict[str, ItemDefinition] | None = None,
) -> tuple[list[ItemDefinition], dict[str, list[Problem]]]:
    """Load every ``*.yaml`` / ``*.yml`` of a folder.

    Single and joint items are loaded first (by file name), bundles last so that they are
    checked against the items loaded before them (plus `known_items`, e.g. from the database).
    Returns the valid definitions and, keyed by file name, the problems of each file that has any.
    Two files with the same code and version are reported as ``duplicate_code`` on the later one;
    of several versions of one code, the highest is the one bundles see.
    """
    folder = Path(path)
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")], key=lambda p: p.name)
    parsed: list[tuple[Path, dict]] = []
    problems: dict[str, list[Problem]] = {}
    for file in files:
        data, errs = _read_yaml(file)
        if errs:
            problems[file.name] = errs
        else:
            parsed.append((file, data))
    first = [(f, d) for f, d in parsed if d.get("kind") != ItemKind.BUNDLE.value]
    last = [(f, d) for f, d in parsed if d.get("kind") == ItemKind.BUNDLE.value]

    items: dict[str, ItemDefinition] = dict(known_items or {})
    seen: set[tuple[str, int]] = set()
    loaded: list[ItemDefinition] = []
    for file, data in [*first, *last]:
        definition, errs = validate_definition(data, known_departments, items)
        if definition is not None and (definition.code, definition.version) in seen:
            errs = [
                Problem(
                    "code",
                    "duplicate_code",
                    f"事项 {definition.code!r} 第 {definition.version} 版已在其他文件中定义",
                    f"item {definition.code!r} version {definition.version} is already defined by another file",
                )
            ]
            definition = None
        if errs:
            problems[file.name] = errs
            continue
        assert definition is not None
        seen.add((definition.code, definition.version))
        current = items.get(definition.code)
        if current is None or current.version <= definition.version:
            items[definition.code] = definition
        loaded.append(definition)
    return loaded, problems

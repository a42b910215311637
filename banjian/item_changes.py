"""What changed between two versions of an item definition (版本对比), for the author who publishes
the next one and for whoever reads why a case of the old version runs differently.

Both sides are read by the schema first (`ItemDefinition`), so a field left out and the same field
written with its default value are no change. Lists of named entries are matched by their name, not
their position (steps by `id`, materials by `name`, form fields by `name`, participants by
`department`, special procedures by `kind`, fee items and licence face data by `name`): inserting a
step reports that step as added, not every later step as changed; a new order of the same entries is
one change `reordered` at the list's path. Each change: `{"path", "change": "added" | "removed" |
"changed" | "reordered", "before"?, "after"?}`, where the path names an entry by its key
(``steps[id=verify].limit.value``).
"""
from __future__ import annotations

from typing import Any

from banjian.catalog import Catalog
from banjian.contracts import Actor
from banjian.drafts import Drafts
from banjian.items.schema import ItemDefinition

#: the key that names an entry of a list of mappings, by the list's own name
ENTRY_KEYS = {"steps": "id", "materials": "name", "form": "name", "participants": "department",
              "special_procedures": "kind", "items": "name", "face_data": "name"}
#: the version number itself always differs: it is what is compared, not a change
SKIPPED = frozenset({"version"})


def normalised(definition: ItemDefinition) -> dict[str, Any]:
    """A definition as JSON with every default written out (so omitted = default)."""
    return {k: v for k, v in definition.model_dump(mode="json").items() if k not in SKIPPED}


def _keyed(entries: list[Any], key: str) -> dict[Any, Any] | None:
    """Entries by their key, or None when they cannot be matched so (not mappings, a key missing or repeated)."""
    if not all(isinstance(e, dict) and isinstance(e.get(key), str | int) for e in entries):
        return None
    out = {e[key]: e for e in entries}
    return out if len(out) == len(entries) else None


def _compare(before: Any, after: Any, path: str, out: list[dict[str, Any]]) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for k in [*before, *(k for k in after if k not in before)]:
            here = f"{path}.{k}" if path else str(k)
            if k not in after:
                out.append({"path": here, "change": "removed", "before": before[k]})
            elif k not in before:
                out.append({"path": here, "change": "added", "after": after[k]})
            else:
                _compare(before[k], after[k], here, out)
        return
    name = path.rsplit(".", 1)[-1]
    key = ENTRY_KEYS.get(name)
    if key and isinstance(before, list) and isinstance(after, list):
        old, new = _keyed(before, key), _keyed(after, key)
        if old is not None and new is not None:
            for k, entry in old.items():
                here = f"{path}[{key}={k}]"
                if k not in new:
                    out.append({"path": here, "change": "removed", "before": entry})
                else:
                    _compare(entry, new[k], here, out)
            for k, entry in new.items():
                if k not in old:
                    out.append({"path": f"{path}[{key}={k}]", "change": "added", "after": entry})
            kept_old = [k for k in old if k in new]
            kept_new = [k for k in new if k in old]
            if kept_old != kept_new:
                out.append({"path": path, "change": "reordered", "before": kept_old, "after": kept_new})
            return
    out.append({"path": path, "change": "changed", "before": before, "after": after})


def definition_changes(before: ItemDefinition, after: ItemDefinition) -> list[dict[str, Any]]:
    """Every change from `before` to `after`, in the order of the definition's fields."""
    out: list[dict[str, Any]] = []
    _compare(normalised(before), normalised(after), "", out)
    return out


def _from(catalog: Catalog, code: str, base: int, after: ItemDefinition) -> list[dict[str, Any]]:
    """From version `base` of `code` to `after`; from nothing (every field added) when `base` is 0."""
    if base < 1:
        return [{"path": k, "change": "added", "after": v} for k, v in normalised(after).items()]
    return definition_changes(catalog.version(code, base), after)


def stored_before(catalog: Catalog, code: str, version: int) -> int:
    """The newest version of `code` stored before `version`, 0 if none: an installation keeps only the
    versions it published or adopted (a fresh one holds a shipped item's current version alone)."""
    return max((v["version"] for v in catalog.versions(code) if v["version"] < version), default=0)


def compare_versions(catalog: Catalog, code: str, from_version: int | None, to_version: int | None) -> dict[str, Any]:
    """Version `from_version` (default: the newest stored before `to_version`) against `to_version`
    (default: the current one); 404 for an unknown item or version. Nothing stored before: from nothing."""
    after = catalog.version(code, to_version) if to_version is not None else catalog.current(code)
    start = from_version if from_version is not None else stored_before(catalog, code, after.version)
    return {"code": code, "name": after.name, "from_version": start or None, "to_version": after.version,
            "changes": _from(catalog, code, start, after)}


def compare_draft(drafts: Drafts, catalog: Catalog, actor: Actor, code: str, draft_id: str) -> dict[str, Any]:
    """A draft against the item's current version (a published draft: against the version before it);
    404 / 403 as for reading the draft; `DefinitionProblems` when the schema cannot read it."""
    draft, row = drafts.drawable(actor, code, draft_id)
    published = row["version"]
    base = stored_before(catalog, code, published) if published else catalog.next_version(code) - 1
    return {"code": code, "name": draft.name, "draft_id": draft_id, "from_version": base or None,
            "to_version": published, "changes": _from(catalog, code, base, draft)}

"""Reuse of e-licences at filing (电子证照免提交): a material linked to a licence type
(`materials[].licence_type` in the item definition) is attached from the applicant's valid licence of
that type, so the applicant uploads nothing for it; a revoked, suspended, cancelled or expired licence
(or one whose signature fails) is not reused and the material is asked for as usual.

A `licence_id` the application (or a supplement) names must be a licence the applicant holds: anyone
else's, or an unknown one, is a 404 and nothing is filed; one that does not verify as valid is a 422,
and so is one named for a material linked to another licence type (a 食品经营许可证 does not stand in
for the 营业执照).
Every licence attached carries its verification result at filing (`materials[].licence_check`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from banjian import licence_ops as ops
from banjian.contracts import MaterialRef
from banjian.errors import Invalid, NotFound
from banjian.items.schema import ItemDefinition, Material
from banjian.licence_store import Licence
from banjian.zh_quotes import quoted


def _stamp(out: dict[str, Any]) -> dict[str, Any]:
    """What a material records of its licence's verification (`materials[].licence_check`)."""
    return {k: out[k] for k in ("valid", "status", "signature_valid", "checked_at")}


def _check_of(session: Session, row: Licence, now: datetime | None) -> dict[str, Any]:
    return _stamp(ops.check(session, row, now))


def auto_attach(session: Session, item: ItemDefinition, holder_id: str, given: list[dict[str, Any]],
                now: datetime | None = None) -> list[dict[str, Any]]:
    """The materials to attach from the holder's licences: every material with a `licence_type` that
    the application does not give itself, whose type the holder holds a valid licence of."""
    named = {m.get("name") for m in given}
    on = ops.today(now)
    out = []
    for m in item.materials:
        if not m.licence_type or m.name in named:
            continue
        row = ops.reusable(session, holder_id, m.licence_type, on)
        if row is not None:
            out.append({"name": m.name, "licence_id": row.id})
    return out


def licence_types(item: ItemDefinition) -> dict[str, str]:
    """The licence type each material of the item is linked to, by material name."""
    return {m.name: m.licence_type for m in item.materials if m.licence_type}


def check_licences(session: Session, holder_id: str, materials: Iterable[MaterialRef | dict[str, Any]],
                   field: str = "materials", now: datetime | None = None, start: int = 0,
                   types: Mapping[str, str] | None = None) -> list[MaterialRef]:
    """Check every `licence_id` among `materials` against the holder (and, for a material `types`
    links to a licence type, against that type) and stamp its verification result; returns the
    materials as `MaterialRef`s (a client's own `licence_check` is never taken)."""
    out = []
    for i, m in enumerate(materials, start):
        ref = m if isinstance(m, MaterialRef) else MaterialRef.model_validate(m)
        ref = ref.model_copy(update={"licence_check": None})
        if ref.licence_id is not None:
            row = session.get(Licence, str(ref.licence_id))
            if row is None or row.holder_id != holder_id:
                raise NotFound("licence_not_found", f"电子证照 {ref.licence_id} 不存在",
                               f"no licence {ref.licence_id} of the applicant", field=f"{field}[{i}].licence_id")
            wanted = (types or {}).get(ref.name)
            if wanted is not None and row.type != wanted:
                raise Invalid("licence_type_mismatch",
                              f"电子证照 {ref.licence_id} 是“{row.type}”，不能作为材料“{ref.name}”"
                              f"（应为“{wanted}”电子证照），请上传材料或选择“{wanted}”电子证照",
                              f"licence {ref.licence_id} is a {row.type!r}; the material {ref.name!r} takes a "
                              f"{wanted!r} licence", field=f"{field}[{i}].licence_id")
            check = ops.check(session, row, now)
            if not check["valid"]:
                raise Invalid("licence_not_valid",
                              f"电子证照 {ref.licence_id} 当前无效（{ops.reason_zh(check['reason'])}），请上传材料",
                              f"licence {ref.licence_id} is not valid ({check['reason']}); upload the material",
                              field=f"{field}[{i}].licence_id")
            ref = ref.model_copy(update={"licence_check": _stamp(check)})
        out.append(ref)
    return out


def supplement_licences(session: Session, holder_id: str, materials: list[Any],
                        types: Mapping[str, str] | None = None) -> list[Any]:
    """A supplement's materials with their licences checked (the type `types` links each material to
    included) and stamped (names given as plain strings stay as they are; malformed entries are left
    for the rules to refuse)."""
    out: list[Any] = []
    for i, m in enumerate(materials):
        if isinstance(m, dict) and isinstance(m.get("name"), str) and m.get("licence_id") is not None:
            ref = check_licences(session, holder_id, [{k: v for k, v in m.items() if k != "licence_check"}],
                                 field="data.materials", start=i, types=types)[0]
            out.append(ref.model_dump(mode="json", exclude_none=True))
        elif isinstance(m, dict):
            out.append({k: v for k, v in m.items() if k != "licence_check"})
        else:
            out.append(m)
    return out


def why_not_attached(session: Session, holder_id: str | None, material: Material, now: datetime | None = None) -> str:
    """Why a material an e-licence may stand in for was not attached, and what to do (Chinese): the
    holder's newest licence of its type and why it is not valid today, or that they hold none."""
    row = None
    if holder_id and material.licence_type:
        row = session.exec(select(Licence).where(Licence.holder_id == holder_id,
                                                 Licence.type == material.licence_type)
                           .order_by(col(Licence.issued_at).desc())).first()
    if row is None:
        return f"您名下没有有效的“{material.licence_type}”电子证照可自动调取，请上传{material.name}"
    reason = ops.check(session, row, now)["reason"]
    return (f"您的电子证照{quoted(row.name)}（证照编号 {row.licence_no}）当前无效（{ops.reason_zh(reason)}），"
            f"不能自动调取，请上传{material.name}")


def explain_missing(session: Session, item: ItemDefinition, holder_id: str, given: list[dict[str, Any]],
                    error: Invalid) -> Invalid:
    """`material_missing` for a material an e-licence may stand in for, saying why none was attached
    and what to do; any other error as it is. The missing material is the one `check_form` names:
    the first required material of the item not given."""
    named = {m.get("name") for m in given}
    missing = next((m for m in item.materials if m.required and m.name not in named), None)
    if error.code != "material_missing" or missing is None or not missing.licence_type:
        return error
    return Invalid(error.code, f"{error.message}。{why_not_attached(session, holder_id, missing)}",
                   f"{error.message_en}: the applicant holds no valid e-licence of type "
                   f"{missing.licence_type!r} to attach; upload the material", field=error.field)

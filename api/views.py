"""The JSON shapes of the public contract, built from workflow state and read-model rows."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from banjian import rules
from banjian.agents import authority_materials
from banjian.calendar import WorkingCalendar
from banjian.contracts import Actor, CaseState
from banjian.enums import CLOSED
from banjian.items.schema import ItemDefinition
from banjian.timefmt import aware as _aware
from banjian.timefmt import china_date, china_times, iso_at


def case_clock_now(state: CaseState, recorded_at: datetime | None) -> datetime:
    """The case's own clock now: its last recorded workflow time plus the wall time since then
    (equal to the wall clock outside simulation; ahead of it after a simulated advance)."""
    if recorded_at is None:
        return _aware(state.clock_at)
    return _aware(state.clock_at) + (datetime.now(UTC) - _aware(recorded_at))


def working_days_used(state: CaseState, cal: WorkingCalendar, now: datetime) -> int:
    """Working days counted on the review clock: since acceptance, less paused days."""
    if state.accepted_at is None:
        return 0
    end = state.decided_at or (state.concluded_at if state.status in CLOSED else None) or now
    if state.clock.paused and state.clock.paused_since:
        end = min(end, _aware(state.clock.paused_since))
    used = cal.working_days_between(china_date(state.accepted_at), china_date(end))
    return max(0, used - state.clock.paused_working_days)


def case_json(state: CaseState, item: ItemDefinition, actor: Actor | None, cal: WorkingCalendar | None,
              recorded_at: datetime | None = None, history: list[dict] | None = None,
              sub_cases: list[dict] | None = None) -> dict[str, Any]:
    """GET /api/cases/{id} for `actor`."""
    d = state.deadlines
    now = case_clock_now(state, recorded_at)
    used = working_days_used(state, cal, now) if cal else state.clock.working_days_used
    step = state.current_step
    return {
        "id": state.id,
        "case_no": state.case_no,
        "item_code": state.item_code,
        "item_version": state.item_version,
        "item_name": state.item_name,
        "kind": state.kind,
        "status": state.status.value,
        "applicant": state.applicant.model_dump(mode="json", exclude={"username"}),
        "agent": state.agent.model_dump(mode="json") if state.agent else None,
        "agent_authority_missing": agent_authority_missing(state, item),
        "department": state.department,
        "channel": state.channel.value,
        "parent_id": state.parent_id,
        "submitted_at": iso_at(state.submitted_at),
        "received_at": iso_at(state.received_at),
        "accepted_at": iso_at(state.accepted_at),
        "decided_at": iso_at(state.decided_at),
        "delivered_at": iso_at(state.delivered_at),
        "concluded_at": iso_at(state.concluded_at),
        "deadlines": {
            "acceptance_due": _date(d.acceptance_due),
            "promised_due": _date(d.promised_due),
            "statutory_due": _date(d.statutory_due),
            "step_due": _date(d.step_due),
            "delivery_due": _date(d.delivery_due),
            "payment_due": _date(state.payment.due) if state.payment else None,
            "provisional": d.provisional,
        },
        "payment": payment_json(state),
        "clock": {"working_days_used": used, "paused": state.clock.paused,
                  "extended_days": state.clock.extended_days,
                  "extended_unit": state.clock.extended_unit.value,
                  "paused_working_days": state.clock.paused_working_days,
                  # the case's own date (China time): the wall clock's, or the simulation clock's
                  "today": china_date(now).isoformat()},
        "warnings": [{"level": w.level.value, "cause": w.cause.value, "step_id": w.step_id, "at": iso_at(w.at),
                      "reason": w.reason} for w in state.warnings],
        "current_step": _step_json(item, step),
        "claimed_by": state.claimed_by,
        "allowed_actions": rules.allowed_actions(item, state, actor) if actor else [],
        "missing_materials": state.missing_materials,
        "pre_review": pre_review_json(state),
        "materials": [material_json(m, state) for m in state.materials],
        "form": state.form,
        "special_procedure": (china_times(state.special_procedure.model_dump(mode="json"))
                              if state.special_procedure else None),
        "extension": china_times(state.extension.model_dump(mode="json")) if state.extension else None,
        # a supplement in a joint case or bundle (design 9 on): the joint case's requests and its one
        # notice; a sub-case's own open request and whether the notice went out
        "joint_supplement": (china_times(state.joint_supplement.model_dump(mode="json"))
                             if state.joint_supplement else None),
        # its open request: none once the sub-case closed (withdrawn with its joint case while it waited)
        "supplement_ask": (china_times(state.supplement_ask.model_dump(mode="json"))
                           if state.supplement_ask and state.status not in CLOSED else None),
        "supplement_notified": state.supplement_notified,
        "sub_cases": china_times(sub_cases if sub_cases is not None else (
            [sc.model_dump(mode="json") for sc in state.sub_cases] if state.sub_cases is not None else None)),
        "result": china_times(state.result.model_dump(mode="json", exclude_none=True)) if state.result else None,
        "delivery": china_times(state.delivery),
        "rating": state.rating or None,
        "history": history if history is not None else [history_json(h.model_dump()) for h in state.history],
    }


def agent_authority_missing(state: CaseState, item: ItemDefinition) -> list[str]:
    """The letter-of-authority materials (授权委托书, `banjian.agents.authority_materials`) a case filed
    through an agent lacks: the API files it anyway (adequacy is the clerk's call), so the clerk is told.
    Empty without an agent, or when every such material was handed in (a file, a licence or on paper)."""
    if state.agent is None:
        return []
    have = {m.name for m in state.materials}
    return [name for name in authority_materials(item.materials) if name not in have]


def pre_review_json(state: CaseState) -> dict[str, Any] | None:
    """Online pre-review (预审) of a case filed for it: its round, limit, and whether the clerk passed it
    or returned it with the materials to fix (`missing`); None for a case filed formally."""
    p = state.pre_review
    if p is None:
        return None
    return {"round": p.round, "due": _date(p.due), "passed": p.passed, "returned": p.returned,
            "missing": list(p.missing)}


def payment_json(state: CaseState) -> dict[str, Any] | None:
    """The case's online payment (缴费): amount in yuan, status, due date, what was paid and refunded."""
    p = state.payment
    if p is None:
        return None
    status = p.status
    if status == "awaiting" and state.status.value != "awaiting_payment":
        status = "cancelled"  # withdrawn while the fee was due: nothing is owed any more
    return {"order_id": p.order_id, "provider": p.provider, "amount": f"{p.amount_fen // 100}.{p.amount_fen % 100:02d}",
            "status": status, "due": p.due.isoformat(), "requested_at": iso_at(p.requested_at),
            "transaction_id": p.transaction_id, "paid_at": iso_at(p.paid_at), "refunded": p.refunded}


def material_json(m, state: CaseState) -> dict[str, Any]:
    """One version of a material; cases filed before versions were kept show the receipt as its time.
    Its `licence_check.checked_at` is shown in China time whatever zone it was stamped in."""
    return {**china_times(m.model_dump(mode="json", exclude={"added_at", "added_by"})),
            "added_by": m.added_by or state.applicant.username or "applicant",
            "added_at": iso_at(m.added_at or state.submitted_at)}


def _step_json(item: ItemDefinition, step) -> dict[str, Any] | None:
    if step is None:
        return None
    spec = next((s for s in item.steps if s.id == step.id), None)
    return {"id": step.id, "name": step.name, "role": step.role.value, "kind": spec.kind if spec else "review",
            "limit": spec.limit.model_dump(mode="json") if spec and spec.limit else None}


def _date(d) -> str | None:
    return d.isoformat() if d else None


def history_json(h: dict[str, Any]) -> dict[str, Any]:
    """One history entry as the contract shows it: times in `data` (e.g. `accepted_at` of
    `deemed_acceptance`) stay as the workflow recorded them (UTC) and are shown in China time."""
    return {"seq": h["seq"], "at": iso_at(h["at"]), "actor": h["actor"], "role": h["role"],
            "department": h.get("department"), "action": h["action"], "comment": h.get("comment"),
            "data": china_times(h.get("data") or {})}


def item_summary(item: ItemDefinition) -> dict[str, Any]:
    """One row of GET /api/items."""
    return {
        "code": item.code, "name": item.name, "version": item.version, "type": item.type,
        "department": item.department, "kind": item.kind.value,
        "promised_limit": item.promised_limit.model_dump(mode="json"),
        "statutory_limit": item.statutory_limit.model_dump(mode="json"),
        "site_visits": item.channels.site_visits,
        "online": item.channels.web or item.channels.mobile,
        "service_object": [o.value for o in item.service_object],
        "level": item.level,
    }

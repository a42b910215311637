"""Issuing the e-licence of an approved case (电子证照签发). Mixed into `CaseWorkflow`; deterministic.

When a case whose item has a `licence` section is approved (not a joint item's department sub-case;
a bundle member's sub-case of design 4 or later issues its member item's licence), the
`issue_licence` activity (a local activity from design 4 on) issues the licence exactly once (keyed by
the case id in the library, so a retried activity or a replayed workflow finds the same licence); `result.licence_id` then names it
and the history records `licence_issued` by `system`. A licence with a last valid day then gets its
expiry timer (`watch_licence` starts `licence-{id}`: workflows/licence_expiry.py). Cases approved
before these steps existed replay without them (patches `e-licence`, `licence-expiry`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.contracts import LOCAL_LICENCE_DESIGN, SUB_CASE_DESIGN, SYSTEM, Actor, CaseInput, CaseState
    from banjian.enums import Decision, ItemKind
    from banjian.licences import IssueRequest
    from workflows.calls import run_activity, run_local_activity, takes_path

if TYPE_CHECKING:
    from banjian.items.schema import ItemDefinition

E_LICENCE = "e-licence"
LICENCE_EXPIRY = "licence-expiry"


class Licensing:
    state: CaseState
    inp: CaseInput
    item: ItemDefinition

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...

    def _issues_licence(self) -> bool:
        s = self.state
        return (self.item.licence is not None and (s.parent_id is None or self._bundle_member())
                and s.result is not None and s.result.decision == Decision.APPROVED and s.result.licence_id is None)

    def _bundle_member(self) -> bool:
        """A bundle's member item decided by its own department (一件事): it issues that item's licence.
        A joint item's department sub-case gives an opinion inside the lead unit's one result, and
        issues nothing; nor did bundle members of cases started before this (design below 4)."""
        return self.inp.item.kind == ItemKind.SINGLE and self.state.design >= SUB_CASE_DESIGN

    async def _issue_licence(self) -> None:
        """Issue the licence of an approved case, once (call after the approval is logged)."""
        if not self._issues_licence() or not takes_path(self.inp.design, E_LICENCE):
            return
        s, spec = self.state, self.item.licence
        assert s.result is not None and spec is not None
        # design 4 on: inside the approval's workflow task (idempotent: a rerun finds the same licence)
        issue = run_local_activity if s.design >= LOCAL_LICENCE_DESIGN else run_activity
        ident: str = await issue("issue_licence", IssueRequest(
            case_id=s.id, case_no=s.case_no, item_code=s.item_code, item_name=s.item_name,
            department=s.department, implementing_body=self.item.implementing_body.model_dump(mode="json"),
            licence=spec, result_name=self.item.result.name, applicant=s.applicant.model_dump(mode="json"),
            form=s.form, decided_at=s.decided_at or workflow.now()), str)
        s.result = s.result.model_copy(update={"licence_id": ident})
        self._log(SYSTEM, "licence_issued", data={"licence_id": ident, "licence_type": spec.type})
        if spec.validity is not None and takes_path(self.inp.design, LICENCE_EXPIRY):
            await run_activity("watch_licence", ident, bool)

"""Issuing e-licences (电子证照签发): one licence per case, whatever the number of attempts; and
their expiry (the `licence-{id}` workflow's timer: `watch_licence` starts it, `expire_licence` ends it).

`issue_licence` runs when a case whose item issues a licence concludes approved. It is keyed by the
case id (`licences.case_id` is unique): an attempt that finds the case's licence returns it, and two
attempts racing each other (a retried activity whose first attempt did commit, a worker killed after
the commit) insert with ON CONFLICT DO NOTHING, so one row wins and both return its id.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from banjian import licence_feed, licence_seal
from banjian import licences as lic
from banjian.db import Department
from banjian.licence_store import (
    Licence,
    LicenceEvent,
    department_signer,
    licence_of_case,
    new_verify_code,
    next_sequence,
)
from banjian.timefmt import china_date

log = logging.getLogger("banjian")


class LicenceActivities:
    def __init__(self, session_factory: Callable[[], Session], master_key: bytes, region: str,
                 hold: Path | None = None) -> None:
        self.session_factory = session_factory
        self.master_key = master_key
        self.region = region
        self.hold = hold  # Settings.licence_issue_hold: a fault-injection point for tests

    @activity.defn(name="issue_licence")
    def issue_licence(self, req: lic.IssueRequest) -> str:
        """Issue the case's licence (or find the one already issued); returns its identifier."""
        for _ in range(3):
            with self.session_factory() as session:
                found = licence_of_case(session, req.case_id)
                if found is not None:
                    return found.id
                row = self._build(session, req)
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:  # a concurrent attempt committed first: return its licence
                    session.rollback()
                    continue
                self._held_after_commit()
                return row.id
        raise RuntimeError(f"could not issue the licence of case {req.case_id}")

    def seal_legacy(self) -> None:
        """Seal the status of licences issued before status seals (migration 0037), at start-up;
        one whose status is not what its recorded changes leave is named and left unsealed."""
        with self.session_factory() as session:
            sealed, left = licence_seal.seal_unsealed(session, self.master_key)
        if sealed:
            log.info("sealed the status of %d e-licences issued before status seals", len(sealed))
        for lid in left:
            log.warning("e-licence %s: status differs from its recorded changes; left unsealed", lid)

    def _held_after_commit(self) -> None:
        """Tests only: wait while the hold file exists (the licence is committed, the activity not
        yet completed: the moment a killed worker must not turn into a second licence)."""
        if self.hold is None or not self.hold.exists():
            return
        self.hold.with_name(self.hold.name + ".held").touch()
        while self.hold.exists():
            time.sleep(0.1)

    @activity.defn(name="expire_licence")
    def expire_licence(self, req: lic.ExpireRequest) -> str:
        """Store `expired` on a valid or suspended licence whose validity ended, with its event; a
        revoked or cancelled one keeps its status. Returns the status; a repeat changes nothing."""
        with self.session_factory() as session:
            row = session.get(Licence, req.licence_id, with_for_update=True)
            if row is None:
                return "missing"
            if lic.LicenceStatus(row.status) in lic.EXPIRING:
                old = row.status
                row.status = lic.LicenceStatus.EXPIRED.value
                session.add(row)
                session.add(LicenceEvent(licence_id=row.id, at=req.at, actor="system", action="expire",
                                         comment="有效期届满", status=row.status))
                licence_feed.enqueue_change(session, row, "expire", old, "system", "system", "有效期届满", req.at)
                licence_seal.seal(session, row, department_signer(session, row.department, self.master_key))
                session.commit()
            return row.status

    def _build(self, session: Session, req: lic.IssueRequest) -> Licence:
        spec = req.licence
        dept = session.get(Department, req.department)
        body = req.implementing_body
        issuer, issuer_code = lic.issuer_of(spec, body, req.department, dept.name if dept else None,
                                            dept.credit_code if dept else None)
        type_code = lic.type_code_of(spec)
        seq = next_sequence(session, type_code, issuer_code)
        ident = lic.identifier(type_code, issuer_code, seq)
        issue_date = china_date(req.decided_at)
        valid_to = lic.add_period(issue_date, spec.validity) if spec.validity else None
        applicant = req.applicant
        case = {"case_no": req.case_no, "case_id": req.case_id, "decided_at": issue_date.isoformat()}
        fields = {
            "id": ident, "licence_no": f"{type_code}{issuer_code[-6:]}{issue_date:%Y}{seq:07d}",
            "type": spec.type, "type_code": type_code, "name": req.result_name or spec.type,
            "issuer": issuer, "issuer_code": issuer_code, "issue_date": issue_date.isoformat(),
            "valid_from": issue_date.isoformat(), "valid_to": valid_to.isoformat() if valid_to else None,
            "holder_name": applicant["name"], "holder_id": applicant["id_number"],
            "holder_id_type": lic.holder_id_type(applicant["kind"]), "region": self.region,
            "item_code": req.item_code, "case_id": req.case_id,
            "face_data": lic.face_data(spec, req.form, applicant, case),
        }
        signer = department_signer(session, req.department, self.master_key)
        signature = signer.sign(lic.canonical(fields))
        return Licence(
            id=ident, case_id=req.case_id, licence_no=fields["licence_no"], type=spec.type, type_code=type_code,
            name=fields["name"], issuer=issuer, issuer_code=issuer_code, department=req.department,
            issue_date=issue_date, valid_from=issue_date, valid_to=valid_to, holder_name=applicant["name"],
            holder_id=applicant["id_number"], holder_id_type=fields["holder_id_type"],
            holder_username=applicant.get("username"), region=self.region, item_code=req.item_code,
            face_data=fields["face_data"], status=lic.LicenceStatus.VALID.value, signature=signature,
            public_key=signer.public_key_hex, issued_at=datetime.now(UTC), verify_code=new_verify_code(),
            status_seal=signer.sign(licence_seal.seal_bytes(ident, lic.LicenceStatus.VALID.value, [])))



class LicenceWatch:
    """Starts a licence's expiry workflow (`licence-{id}`) on the worker's task queue, once."""

    def __init__(self, session_factory: Callable[[], Session], client: Client) -> None:
        self.session_factory = session_factory
        self.client = client

    @activity.defn(name="watch_licence")
    async def watch_licence(self, licence_id: str) -> bool:
        """True when the licence has a last valid day and its expiry workflow runs (or ran)."""
        from workflows.licence_expiry import LicenceExpiryWorkflow, licence_workflow_id

        def valid_to() -> date | None:
            with self.session_factory() as session:
                row = session.get(Licence, licence_id)
                return row.valid_to if row is not None else None

        last = await asyncio.to_thread(valid_to)
        if last is None:
            return False
        try:  # a retried attempt, or a workflow that expired the licence already: the same one
            await self.client.start_workflow(
                LicenceExpiryWorkflow.run, lic.LicenceTerm(licence_id=licence_id, valid_to=last),
                id=licence_workflow_id(licence_id), task_queue=activity.info().task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            pass
        return True


@activity.defn(name="watch_licence")
async def no_licence_watch(licence_id: str) -> bool:
    """What-if runs (services.whatif_run) keep no expiry timers for their simulated licences."""
    return False

"""tasks: the added signers still to sign (their `mine` inbox lists the task) and whether the case's
clock is paused (its due date then says nothing about being late); open tasks get both from their
case's snapshot

Revision ID: 0021
Revises: 0020
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

#: the statuses in which a case may be countersigned or have its clock paused (banjian.enums when
#: this migration was written: under review)
UNDER_REVIEW = ("accepted", "in_review", "special_procedure", "suspended")


def pending_signers(snapshot: dict) -> list[str]:
    """`Countersign.pending` of the case's snapshot, as banjian.contracts said when this was written."""
    cs = snapshot.get("countersign") or {}
    if not cs.get("active"):
        return []
    slots, signed = cs.get("slots") or [], cs.get("signed") or []
    complete = bool(signed) if cs.get("mode", "all") == "any" else len(signed) == len(slots)
    return [] if complete else [s for s in slots if s not in signed]


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("signers", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch.add_column(sa.Column("clock_paused", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT t.case_id, c.snapshot FROM tasks t JOIN cases c ON c.id = t.case_id "
                                "WHERE t.status IN :statuses").bindparams(sa.bindparam("statuses", expanding=True)),
                        {"statuses": list(UNDER_REVIEW)}).all()
    tasks = sa.table("tasks", sa.column("case_id", sa.String()), sa.column("signers", sa.JSON()),
                     sa.column("clock_paused", sa.Boolean()))
    for case_id, snapshot in rows:
        snap = json.loads(snapshot) if isinstance(snapshot, str) else (snapshot or {})
        signers, paused = pending_signers(snap), bool((snap.get("clock") or {}).get("paused"))
        if signers or paused:
            conn.execute(tasks.update().where(tasks.c.case_id == case_id).values(signers=signers, clock_paused=paused))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("clock_paused")
        batch.drop_column("signers")

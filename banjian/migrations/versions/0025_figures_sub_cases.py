"""figures: pre-reviews never received leave them (`cases.pre_review_only`), departments' sub-cases of
joint cases and bundles get measures of their own in the daily summary, warnings are counted by level
(`cases.notices`, `yellow_cards`, `red_cards`, from the `warnings` table); the summary is rebuilt

Revision ID: 0025
Revises: 0022
"""
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0022"
branch_labels = None
depends_on = None

#: the measures this revision adds to banjian/figures.py (MEASURES)
NEW_MEASURES = ["sub_cases", "sub_cases_concluded", "sub_cases_on_time", "sub_cases_overdue", "sub_case_warnings",
                "notices", "yellow_cards", "red_cards"]
#: the case row's warnings of each level, counted from the `warnings` table (every warning once)
LEVEL_COLUMNS = {"notice": "notices", "yellow": "yellow_cards", "red": "red_cards"}


def _never_received(snapshot: Any) -> bool:
    """A withdrawn case that had a pre-review and was never formally received (activities/figures.py)."""
    if not isinstance(snapshot, dict):
        return False
    return snapshot.get("pre_review") is not None and snapshot.get("received_at") == snapshot.get("submitted_at")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("pre_review_only", sa.Boolean(), nullable=True))
        for column in LEVEL_COLUMNS.values():
            batch.add_column(sa.Column(column, sa.Integer(), nullable=True))
    with op.batch_alter_table("case_figures_daily") as batch:
        for name in NEW_MEASURES:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    conn = op.get_bind()
    for level, column in LEVEL_COLUMNS.items():
        conn.execute(sa.text(f"UPDATE cases SET {column} = (SELECT count(*) FROM warnings w "  # noqa: S608 (constants)
                             f"WHERE w.case_id = cases.id AND w.level = :level)"), {"level": level})
    conn.execute(sa.text("UPDATE cases SET pre_review_only = :t WHERE status = 'pre_review'"), {"t": True})
    rows = conn.execute(sa.text("SELECT id, snapshot FROM cases WHERE status = 'withdrawn'")).all()
    import json
    ids = [cid for cid, snap in rows if _never_received(json.loads(snap) if isinstance(snap, str) else snap)]
    for cid in ids:
        conn.execute(sa.text("UPDATE cases SET pre_review_only = :t WHERE id = :id"), {"t": True, "id": cid})
    from banjian.figures_summary import rebuild  # the measures' SQL, written once
    rebuild(conn)


def downgrade() -> None:
    with op.batch_alter_table("case_figures_daily") as batch:
        for name in NEW_MEASURES:
            batch.drop_column(name)
    with op.batch_alter_table("cases") as batch:
        for column in LEVEL_COLUMNS.values():
            batch.drop_column(column)
        batch.drop_column("pre_review_only")

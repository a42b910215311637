"""figures and board: a concluded case whose promised deadline had passed undecided (its
`promised_overdue` card) is not on time, even when an extension or a suspension after that day moved
`promised_due` on (`activities/figures.py`); the notice that the promised deadline is near leaves the
warnings board once the case has that card, and an answered urge's `urge_unanswered` card leaves it
whatever other cases owe (`banjian/warnings_board.py`). Existing rows are brought to these rules and
the daily summary is rebuilt (its `on_time` and `sub_cases_on_time`)

Revision ID: 0034
Revises: 0029
"""
import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0029"
branch_labels = None
depends_on = None

_LATE = ("EXISTS (SELECT 1 FROM warnings w WHERE w.case_id = {table}.id AND w.cause = 'promised_overdue')")


def upgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE cases SET on_time = :f WHERE on_time = :t AND concluded_at IS NOT NULL AND "
                         + _LATE.format(table="cases")), {"t": True, "f": False})
    conn.execute(sa.text("UPDATE warnings SET active = :f WHERE cause = 'promised_due_near' AND active = :t AND "
                         "EXISTS (SELECT 1 FROM warnings w WHERE w.case_id = warnings.case_id "
                         "AND w.cause = 'promised_overdue')"), {"t": True, "f": False})
    # an answered urge's card leaves the board (the refresh's check was not tied to the card's own
    # case and urge: any case's open urge kept every answered one on the board)
    conn.execute(sa.text("UPDATE warnings SET active = :f WHERE cause = 'urge_unanswered' AND active = :t AND "
                         "NOT EXISTS (SELECT 1 FROM case_urges u WHERE u.case_id = warnings.case_id "
                         "AND u.key = warnings.step_key AND u.open = :t)"), {"t": True, "f": False})
    from banjian.figures_summary import rebuild  # the measures' SQL, written once
    rebuild(conn)


def downgrade() -> None:
    """Nothing to undo in the schema; the corrected values stay (the former ones were wrong)."""

"""supervision: figure columns on cases, indexes for the warnings board and the figures

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

def columns() -> list[sa.Column]:
    return [
        sa.Column("online", sa.Boolean(), nullable=True),
        sa.Column("site_visits", sa.Integer(), nullable=True),
        sa.Column("promised_days", sa.Integer(), nullable=True),
        sa.Column("statutory_days", sa.Integer(), nullable=True),
        sa.Column("working_days_used", sa.Integer(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("clock_paused", sa.Boolean(), nullable=True),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("rating_void", sa.Boolean(), nullable=True),
        sa.Column("rectified", sa.Boolean(), nullable=True),
        sa.Column("warnings_count", sa.Integer(), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=True),
    ]


#: the figures read these from the index alone (PostgreSQL: an index-only scan of a department's period)
FIGURE_INCLUDE = ["item_code", "item_name", "parent_id", "online", "concluded_at", "on_time", "promised_days",
                  "statutory_days", "rating", "rating_void", "rectified", "site_visits", "working_days_used", "warnings_count", "overdue"]


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for c in columns():
            batch_op.add_column(c)
        batch_op.create_index("ix_cases_dept_submitted", ["department", "submitted_at"], unique=False,
                              postgresql_include=FIGURE_INCLUDE)
        batch_op.create_index("ix_cases_item_submitted", ["item_code", "submitted_at"], unique=False)
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("level_rank", sa.Integer(), nullable=True))
        batch_op.create_index("ix_warnings_level_dept", ["level", "department"], unique=False)
    # the board: active warnings, reddest then oldest (a small partial index)
    op.create_index("ix_warnings_board", "warnings", ["level_rank", "at", "id"], unique=False,
                    postgresql_where=sa.text("active"), sqlite_where=sa.text("active"))
    op.execute("UPDATE warnings SET level_rank = CASE level WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END")
    op.execute("UPDATE warnings SET active = EXISTS (SELECT 1 FROM cases c WHERE c.id = warnings.case_id AND "
               "c.status NOT IN ('concluded', 'refused', 'withdrawn', 'terminated'))")


def downgrade() -> None:
    op.drop_index("ix_warnings_board", table_name="warnings")
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.drop_index("ix_warnings_level_dept")
        batch_op.drop_column("level_rank")
        batch_op.drop_column("active")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_item_submitted")
        batch_op.drop_index("ix_cases_dept_submitted")
        for c in reversed(columns()):
            batch_op.drop_column(c.name)

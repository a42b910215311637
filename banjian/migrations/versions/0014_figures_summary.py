"""figures at scale: the daily figures summary (filled from the case rows), the inbox's index and one
department's warnings board index

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: the measures of banjian/figures.py (MEASURES), one integer column each
MEASURES = ["cases", "concluded", "online", "on_time", "promised_days", "statutory_days", "ratings", "satisfied",
            "bad_ratings", "rectified", "site_visits", "site_visits_known", "at_most_one_visit", "zero_visit",
            "warnings", "overdue", "working_days", "working_days_known", "awaiting_payment"]


def upgrade() -> None:
    op.create_table(
        "case_figures_daily",
        sa.Column("department", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("item_code", sa.String(), nullable=False),
        sa.Column("item_name", sa.String(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in MEASURES],
        sa.PrimaryKeyConstraint("department", "day", "item_code", "item_name", "used"),
    )
    op.create_index("ix_tasks_dept_due", "tasks", ["department", "due", "case_id"], unique=False)
    op.create_index("ix_warnings_board_dept", "warnings", ["department", "level_rank", "at", "id"], unique=False,
                    postgresql_where=sa.text("active"), sqlite_where=sa.text("active"))
    if op.get_bind().dialect.name == "postgresql":
        # the figures group the summary by (department, item, used): tell the planner how few groups
        # there are, so it hashes them instead of sorting every row
        op.execute("CREATE STATISTICS case_figures_daily_groups (ndistinct) ON department, item_code, used "
                   "FROM case_figures_daily")
    # filled from the case rows by revision 0025's rebuild: the measures' SQL of the current code
    # reads columns (and fills summary columns) that later revisions add


def downgrade() -> None:
    op.drop_index("ix_warnings_board_dept", table_name="warnings")
    op.drop_index("ix_tasks_dept_due", table_name="tasks")
    op.drop_table("case_figures_daily")

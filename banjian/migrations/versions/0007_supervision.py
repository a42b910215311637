"""supervision: figure columns on cases, indexes for the warnings board and the figures

Revision ID: 0007
Revises: 0005
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0005"
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
    ]


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for c in columns():
            batch_op.add_column(c)
        batch_op.create_index("ix_cases_dept_submitted", ["department", "submitted_at"], unique=False)
        batch_op.create_index("ix_cases_item_submitted", ["item_code", "submitted_at"], unique=False)
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.create_index("ix_warnings_level_dept", ["level", "department"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.drop_index("ix_warnings_level_dept")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_item_submitted")
        batch_op.drop_index("ix_cases_dept_submitted")
        for c in reversed(columns()):
            batch_op.drop_column(c.name)

"""urges (督办) with their escalation, and rectifications (差评整改)

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString
AT = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "case_urges",
        sa.Column("case_id", S(length=40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("key", S(length=20), nullable=False),
        sa.Column("department", S(length=32), nullable=False),
        sa.Column("parent_id", S(length=40), nullable=True),
        sa.Column("by", S(length=64), nullable=False),
        sa.Column("at", AT(), nullable=False),
        sa.Column("comment", S(), nullable=True),
        sa.Column("reply_by", sa.Date(), nullable=False),
        sa.Column("board_on", sa.Date(), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("forwarded_from", S(length=40), nullable=True),
        sa.Column("escalated", sa.Integer(), nullable=False),
        sa.Column("replied_at", AT(), nullable=True),
        sa.Column("replied_by", S(length=64), nullable=True),
        sa.Column("reply", S(), nullable=True),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "n"),
    )
    op.create_index("ix_case_urges_department", "case_urges", ["department"])
    op.create_index("ix_case_urges_open", "case_urges", ["open"])
    op.create_table(
        "rectifications",
        sa.Column("id", S(length=48), nullable=False),
        sa.Column("case_id", S(length=40), nullable=False),
        sa.Column("case_no", S(length=40), nullable=True),
        sa.Column("department", S(length=32), nullable=False),
        sa.Column("item_code", S(length=64), nullable=False),
        sa.Column("item_name", S(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("status", S(length=20), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("opened_at", AT(), nullable=False),
        sa.Column("updated_at", AT(), nullable=False),
        sa.Column("appeal", S(length=20), nullable=True),
        sa.Column("warning", S(length=10), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rectifications_case_id", "rectifications", ["case_id"])
    op.create_index("ix_rectifications_department", "rectifications", ["department"])
    op.create_index("ix_rectifications_status", "rectifications", ["status"])


def downgrade() -> None:
    op.drop_table("rectifications")
    op.drop_table("case_urges")

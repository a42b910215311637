"""front office: consultations and complaints (inquiries), window appointments

Revision ID: 0010
Revises: 0008
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "inquiries",
        sa.Column("id", S(length=40), nullable=False),
        sa.Column("kind", S(length=20), nullable=False),
        sa.Column("channel", S(length=20), nullable=False),
        sa.Column("department", S(length=32), nullable=False),
        sa.Column("item_code", S(length=64), nullable=True),
        sa.Column("case_id", S(length=40), nullable=True),
        sa.Column("asker", S(length=64), nullable=True),
        sa.Column("contact", S(length=200), nullable=True),
        sa.Column("key_hash", S(length=64), nullable=True),
        sa.Column("text", S(), nullable=False),
        sa.Column("status", S(length=20), nullable=False),
        sa.Column("filed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("answer_due", sa.Date(), nullable=False),
        sa.Column("answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("answered_by", S(length=64), nullable=True),
        sa.Column("answer", S(), nullable=True),
        sa.Column("outcome", S(length=20), nullable=True),
        sa.Column("warning", S(length=10), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("case_noted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("inquiries", schema=None) as batch_op:
        for column in ("kind", "department", "case_id", "asker", "status"):
            batch_op.create_index(batch_op.f(f"ix_inquiries_{column}"), [column], unique=False)
    op.create_table(
        "slot_counts",
        sa.Column("item_code", S(length=64), nullable=False),
        sa.Column("slot", S(length=16), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("item_code", "slot"),
    )
    op.create_table(
        "appointments",
        sa.Column("id", S(length=40), nullable=False),
        sa.Column("item_code", S(length=64), nullable=False),
        sa.Column("department", S(length=32), nullable=False),
        sa.Column("slot", S(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("username", S(length=64), nullable=False),
        sa.Column("status", S(length=20), nullable=False),
        sa.Column("rescheduled_to", S(length=40), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("changed_by", S(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        for column in ("item_code", "department", "day", "username", "status"):
            batch_op.create_index(batch_op.f(f"ix_appointments_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table("appointments")
    op.drop_table("slot_counts")
    op.drop_table("inquiries")

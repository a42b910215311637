"""online payment: the payments ledger and the refused callbacks kept for an operator

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("transaction_id", S(length=80), nullable=False),
        sa.Column("case_id", S(length=40), nullable=False),
        sa.Column("provider", S(length=32), nullable=False),
        sa.Column("order_id", S(length=80), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("status", S(length=20), nullable=False),
        sa.Column("reason", S(length=40), nullable=True),
        sa.Column("refund_id", S(length=80), nullable=True),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id"),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_status"), ["status"], unique=False)
    op.create_table(
        "payment_issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", S(length=40), nullable=True),
        sa.Column("provider", S(length=32), nullable=False),
        sa.Column("order_id", S(length=80), nullable=True),
        sa.Column("transaction_id", S(length=64), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("expected_fen", sa.Integer(), nullable=True),
        sa.Column("code", S(length=40), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("body", S(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("payment_issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_issues_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_table("payment_issues")
    op.drop_table("payments")

"""service accounts of department systems and the outbound event feed

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(), "postgresql")
Text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "service_accounts",
        sa.Column("name", Text(length=64), nullable=False),
        sa.Column("client_id", Text(length=64), nullable=False),
        sa.Column("secret_hash", Text(), nullable=False),
        sa.Column("department", Text(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("rotated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_index("ix_service_accounts_department", "service_accounts", ["department"])
    op.create_table(
        "feed_subscribers",
        sa.Column("name", Text(length=64), nullable=False),
        sa.Column("url", Text(length=2000), nullable=False),
        sa.Column("secret", Text(length=200), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("last_error", Text(length=500), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "feed_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscriber", Text(length=64), nullable=False),
        sa.Column("case_id", Text(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", Text(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", Text(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscriber", "case_id", "seq", name="uq_feed_delivery"),
    )
    op.create_index("ix_feed_deliveries_sub_state", "feed_deliveries", ["subscriber", "state", "case_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_feed_deliveries_sub_state", table_name="feed_deliveries")
    op.drop_table("feed_deliveries")
    op.drop_table("feed_subscribers")
    op.drop_index("ix_service_accounts_department", table_name="service_accounts")
    op.drop_table("service_accounts")

"""the archive queue: closed cases whose archive package the worker's sweeper builds

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

#: the closed statuses (banjian.enums.CLOSED) when this migration was written
CLOSED = ("concluded", "refused", "withdrawn", "terminated")


def upgrade() -> None:
    op.create_table(
        "archive_queue",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("enqueued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("not_before", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lease", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
    )
    # backfill: every closed top-level case without a package is queued (the sweeper builds it)
    statuses = ", ".join(f"'{s}'" for s in CLOSED)
    op.execute(sa.text(
        "INSERT INTO archive_queue (case_id, enqueued_at, attempts) "
        "SELECT c.id, COALESCE(c.concluded_at, c.recorded_at), 0 FROM cases c "
        f"WHERE c.parent_id IS NULL AND c.status IN ({statuses}) "
        "AND NOT EXISTS (SELECT 1 FROM archives a WHERE a.case_id = c.id)"))


def downgrade() -> None:
    op.drop_table("archive_queue")

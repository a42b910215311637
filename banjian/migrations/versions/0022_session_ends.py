"""sessions ended early: `users.sessions_from` (a new password ends earlier tokens) and
`ended_sessions` (tokens ended by a logout, until they would have expired)

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sessions_from", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table(
        "ended_sessions",
        sa.Column("token_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    with op.batch_alter_table("ended_sessions") as batch:
        batch.create_index(batch.f("ix_ended_sessions_username"), ["username"], unique=False)
        batch.create_index(batch.f("ix_ended_sessions_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("ended_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("sessions_from")

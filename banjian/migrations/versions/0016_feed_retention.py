"""the event feed keeps a count of delivered events pruned by its retention

Revision ID: 0016
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_subscribers") as batch:
        batch.add_column(sa.Column("pruned_delivered", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("feed_subscribers") as batch:
        batch.drop_column("pruned_delivered")

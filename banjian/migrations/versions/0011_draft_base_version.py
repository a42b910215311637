"""item drafts remember the version they were made from

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("item_drafts") as batch:
        batch.add_column(sa.Column("base_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("item_drafts") as batch:
        batch.drop_column("base_version")

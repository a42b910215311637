"""feed_subscribers.departments: a subscriber may take only the events of some departments' cases (a
department's own system), comma-separated codes; null (every subscriber before) takes every event

Revision ID: 0036
Revises: 0034
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0036"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_subscribers") as batch:
        batch.add_column(sa.Column("departments", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_subscribers") as batch:
        batch.drop_column("departments")

"""feed_subscribers.last_error_at (when the kept `last_error` happened, so that an operator tells an old
error from a present one); rectifications.case_no as wide as cases.case_no (64): a case number is up to
43 characters (a 16-character department part), so 40 refused on PostgreSQL the rectification of a case
whose department code is long (the rating's update then never finished); SQLite ignores lengths

Revision ID: 0027
Revises: 0022
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0027"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_subscribers") as batch:
        batch.add_column(sa.Column("last_error_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table("rectifications") as batch:
        batch.alter_column("case_no", type_=sqlmodel.sql.sqltypes.AutoString(length=64),
                           existing_type=sqlmodel.sql.sqltypes.AutoString(length=40), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("feed_subscribers") as batch:
        batch.drop_column("last_error_at")
    with op.batch_alter_table("rectifications") as batch:
        batch.alter_column("case_no", type_=sqlmodel.sql.sqltypes.AutoString(length=40),
                           existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), existing_nullable=True)

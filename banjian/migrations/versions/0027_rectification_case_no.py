"""rectifications.case_no as wide as cases.case_no (64): a case number is up to 43 characters (a
16-character department part) and a sub-case's 46, so 40 refused on PostgreSQL the rectification of a
case whose department code is long (the rating's update then never finished); SQLite ignores lengths

Revision ID: 0027
Revises: 0022
"""
import sqlmodel
from alembic import op

revision = "0027"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rectifications") as batch:
        batch.alter_column("case_no", type_=sqlmodel.sql.sqltypes.AutoString(length=64),
                           existing_type=sqlmodel.sql.sqltypes.AutoString(length=40), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("rectifications") as batch:
        batch.alter_column("case_no", type_=sqlmodel.sql.sqltypes.AutoString(length=40),
                           existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), existing_nullable=True)

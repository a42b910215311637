"""The applicant's message centre (消息中心): `notice_reads` (how far each user has read their notices,
one row per user) and `ix_cases_applicant_recorded` (an applicant's cases by the time their row was
last written), which replaces `ix_cases_applicant_username` (its prefix serves the same lookups), so
that the header's unread count reads only the cases written since the user last read

Revision ID: 0029
Revises: 0027
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0029"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_reads",
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("events_through", sa.Integer(), nullable=False),
        sa.Column("others_through", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("count_from", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    with op.batch_alter_table("cases") as batch:
        batch.create_index("ix_cases_applicant_recorded", ["applicant_username", "recorded_at"], unique=False)
        batch.drop_index("ix_cases_applicant_username")


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.create_index("ix_cases_applicant_username", ["applicant_username"], unique=False)
        batch.drop_index("ix_cases_applicant_recorded")
    op.drop_table("notice_reads")

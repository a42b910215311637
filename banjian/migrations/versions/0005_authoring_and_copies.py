"""item drafts and case copies

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "case_copies",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("copied_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("copied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "username"),
    )
    with op.batch_alter_table("case_copies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_copies_username"), ["username"], unique=False)
    op.create_table(
        "item_drafts",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("problems", JSON, nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("item_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_drafts_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_drafts_department"), ["department"], unique=False)


def downgrade() -> None:
    op.drop_table("item_drafts")
    op.drop_table("case_copies")

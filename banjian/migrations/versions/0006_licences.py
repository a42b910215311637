"""e-licence library: licences, their status changes and verifications, department keys, sequences

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(), "postgresql")
Str = sqlmodel.sql.sqltypes.AutoString
When = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "licences",
        sa.Column("id", Str(length=160), nullable=False),
        sa.Column("case_id", Str(length=40), nullable=False),
        sa.Column("licence_no", Str(length=64), nullable=False),
        sa.Column("type", Str(), nullable=False),
        sa.Column("type_code", Str(length=20), nullable=False),
        sa.Column("name", Str(), nullable=False),
        sa.Column("issuer", Str(), nullable=False),
        sa.Column("issuer_code", Str(length=32), nullable=False),
        sa.Column("department", Str(), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("holder_name", Str(), nullable=False),
        sa.Column("holder_id", Str(), nullable=False),
        sa.Column("holder_id_type", Str(length=3), nullable=False),
        sa.Column("holder_username", Str(), nullable=True),
        sa.Column("region", Str(length=6), nullable=False),
        sa.Column("item_code", Str(), nullable=False),
        sa.Column("face_data", JSON, nullable=False),
        sa.Column("status", Str(), nullable=False),
        sa.Column("signature", Str(length=128), nullable=False),
        sa.Column("public_key", Str(length=130), nullable=False),
        sa.Column("issued_at", When(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
        sa.UniqueConstraint("licence_no"),
    )
    for col in ("department", "holder_id", "holder_username", "status"):
        op.create_index(f"ix_licences_{col}", "licences", [col], unique=False)
    op.create_table(
        "licence_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_id", Str(length=160), nullable=False),
        sa.Column("at", When(), nullable=False),
        sa.Column("actor", Str(), nullable=False),
        sa.Column("action", Str(), nullable=False),
        sa.Column("comment", Str(), nullable=True),
        sa.Column("status", Str(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_licence_events_licence_id", "licence_events", ["licence_id"], unique=False)
    op.create_table(
        "licence_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_id", Str(length=160), nullable=False),
        sa.Column("at", When(), nullable=False),
        sa.Column("address", Str(), nullable=True),
        sa.Column("status", Str(), nullable=False),
        sa.Column("signature_valid", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_licence_verifications_licence_id", "licence_verifications", ["licence_id"], unique=False)
    op.create_table(
        "department_keys",
        sa.Column("department", Str(length=32), nullable=False),
        sa.Column("public_key", Str(length=130), nullable=False),
        sa.Column("private_key_enc", Str(), nullable=False),
        sa.Column("created_at", When(), nullable=False),
        sa.PrimaryKeyConstraint("department"),
    )
    op.create_table(
        "licence_sequences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type_code", Str(length=20), nullable=False),
        sa.Column("issuer_code", Str(length=32), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("type_code", "issuer_code"),
    )


def downgrade() -> None:
    for table in ("licence_sequences", "department_keys", "licence_verifications", "licence_events", "licences"):
        op.drop_table(table)

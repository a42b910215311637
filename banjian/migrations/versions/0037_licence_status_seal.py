"""e-licences: `licences.status_seal`, the issuing department's SM2 signature over the licence's
status and its recorded status changes (banjian/licence_seal.py), so that a hand edit of the status
fails verification. Licences issued before it have none until a worker seals them at start-up (only
those whose status is the one their recorded changes leave: `licence_seal.seal_unsealed`); the
verification log keeps each verification's answer (`valid`, `reason`), for the auditors' reader

Revision ID: 0037
Revises: 0036
"""
import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("licences") as batch:
        batch.add_column(sa.Column("status_seal", sa.String(length=128), nullable=True))
    with op.batch_alter_table("licence_verifications") as batch:
        batch.add_column(sa.Column("valid", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("reason", sa.String(length=40), nullable=True))
    op.create_index("ix_licence_verifications_at", "licence_verifications", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_licence_verifications_at", table_name="licence_verifications")
    with op.batch_alter_table("licence_verifications") as batch:
        batch.drop_column("reason")
        batch.drop_column("valid")
    with op.batch_alter_table("licences") as batch:
        batch.drop_column("status_seal")

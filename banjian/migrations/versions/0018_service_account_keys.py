"""service accounts: the credential generation (`key_id`) their tokens are bound to

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service_accounts") as batch:
        batch.add_column(sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=32), server_default="",
                                   nullable=False))
    # existing accounts get a generation of their own; tokens issued before carry none and stop working
    op.execute(sa.text("UPDATE service_accounts SET key_id = substr(client_id, 4, 24)"))


def downgrade() -> None:
    with op.batch_alter_table("service_accounts") as batch:
        batch.drop_column("key_id")

"""e-licences carry a verification code (printed on the licence and in its QR code) that discloses
the holder when verifying; existing licences get one each

Revision ID: 0020
Revises: 0019
"""
import secrets

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

#: banjian.licence_store.CODE_ALPHABET and CODE_LENGTH when this migration was written
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 8


def upgrade() -> None:
    with op.batch_alter_table("licences") as batch:
        batch.add_column(sa.Column("verify_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    conn = op.get_bind()
    ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM licences WHERE verify_code IS NULL"))]
    for licence_id in ids:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        conn.execute(sa.text("UPDATE licences SET verify_code = :code WHERE id = :id"),
                     {"code": code, "id": licence_id})


def downgrade() -> None:
    with op.batch_alter_table("licences") as batch:
        batch.drop_column("verify_code")

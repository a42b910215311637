"""Alembic environment: runs on the connection handed in by `banjian.migrate`, or on the URL."""
from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from banjian import (  # noqa: F401  (registers the tables)
    appointments,
    db,
    feed,
    files,
    inquiries,
    licence_store,
    notices,
    payments,
    service_accounts,
)

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as c:
        context.configure(connection=c, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()

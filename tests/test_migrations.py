"""The migrations build exactly the schema the models declare, on SQLite and on PostgreSQL.

A column or index added to a model without a migration (or a migration without its model) is a
difference here, before it becomes an error in production's first write.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import banjian
from banjian.migrate import upgrade
from tests.conftest import drop_postgres, new_postgres_url


def every_table_module() -> None:
    """Import every module of the domain package, so every table it declares is in the metadata."""
    for info in pkgutil.walk_packages(banjian.__path__, "banjian."):
        if ".migrations" not in info.name and not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def differences(url: str) -> list[object]:
    every_table_module()
    engine = create_engine(url)
    try:
        upgrade(engine)
        upgrade(engine)  # idempotent: a second run at head changes nothing
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))
    finally:
        engine.dispose()


def test_sqlite_schema_matches_the_models(tmp_path: Path) -> None:
    assert differences(f"sqlite:///{tmp_path / 'schema.db'}") == []


@pytest.mark.postgres
def test_postgres_schema_matches_the_models() -> None:
    url = new_postgres_url()
    try:
        assert differences(url) == []
    finally:
        drop_postgres(url)


def test_the_models_know_a_draft_base_version() -> None:
    """Guard for the comparison itself: it sees a column the migrations lack."""
    every_table_module()
    from banjian.db_ext import ItemDraft
    assert "base_version" in ItemDraft.__table__.columns  # type: ignore[attr-defined]

"""What every installation starts with: the schema, the city's departments and the shipped items."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from banjian.catalog import Catalog
from banjian.db import Department, session_factory
from banjian.migrate import upgrade

ITEM_DIR = Path(__file__).resolve().parent.parent / "item_definitions"

#: The departments of the demo city (code, name, unified social credit code).
DEPARTMENTS: list[tuple[str, str, str | None]] = [
    ("gov", "市政务服务管理局", None),
    ("amr", "市市场监督管理局", None),
    ("nrp", "市自然资源和规划局", None),
    ("psb", "市公安局交通警察支队", None),
    ("civil", "市民政局", None),
    ("hpf", "市住房公积金管理中心", None),
    ("hcd", "市住房和城乡建设局", None),
    ("fire", "市消防救援支队", None),
    ("env", "市生态环境局", None),
    ("ndrc", "市发展和改革委员会", None),
]


def ensure_departments(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        for code, name, credit in DEPARTMENTS:
            if session.get(Department, code) is None:
                session.add(Department(code=code, name=name, credit_code=credit))
        session.commit()


def ensure_base(engine: Engine, item_dir: Path = ITEM_DIR) -> list[str]:
    """Migrate, add the departments, store the shipped item definitions (new versions only)."""
    upgrade(engine)

    sessions = session_factory(engine)

    ensure_departments(sessions)
    return Catalog(sessions).load_directory(item_dir)

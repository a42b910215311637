"""Starting an existing installation after a release changed a shipped definition (banjian/seed.py):
the installation keeps its own versions, starts, and says which shipped files it did not adopt."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from banjian.db import ItemVersion, make_engine
from banjian.seed import ITEM_DIR, ensure_base

ITEM = "fire-safety-inspection"


def _stored(engine, code: str) -> list[tuple[int, str]]:
    with Session(engine) as session:
        rows = session.exec(select(ItemVersion).where(ItemVersion.code == code)).all()
        return sorted((r.version, r.definition["name"]) for r in rows)


def _shipped_copy(tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "items"
    shutil.copytree(ITEM_DIR, folder)
    path = folder / f"{ITEM}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def test_a_shipped_file_edited_in_place_does_not_stop_an_existing_installation(tmp_path, caplog) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    ensure_base(engine)
    before = _stored(engine, ITEM)
    assert [v for v, _ in before] == [1]
    edited = _shipped_copy(tmp_path, name="公众聚集场所投入使用、营业前消防安全检查（新发布文本）")
    with caplog.at_level(logging.WARNING, logger="banjian.catalog"):
        stored = ensure_base(engine, edited)  # the release's version 1 differs from the stored one
    assert stored == []
    assert _stored(engine, ITEM) == before  # the installation's version 1 is kept as it was
    assert any(ITEM in r.getMessage() and "version_immutable" in r.getMessage() for r in caplog.records)


def test_a_new_shipped_version_is_adopted_and_an_older_one_is_not(tmp_path, caplog) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    ensure_base(engine)
    newer = _shipped_copy(tmp_path / "v2", version=2, name="新版本名称")
    assert ensure_base(engine, newer) == [ITEM]
    assert [v for v, _ in _stored(engine, ITEM)] == [1, 2]
    # a release whose file is still at version 1 changed it: below the current version 2, not adopted
    older = _shipped_copy(tmp_path / "v1", name="旧版本改过的名称")
    with caplog.at_level(logging.WARNING, logger="banjian.catalog"):
        assert ensure_base(engine, older) == []
    assert [v for v, _ in _stored(engine, ITEM)] == [1, 2]
    assert any("not adopted" in r.getMessage() for r in caplog.records)


def test_a_shipped_file_with_problems_still_stops_the_start(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    folder = _shipped_copy(tmp_path, department="nowhere")
    with pytest.raises(Exception, match="department"):
        ensure_base(engine, folder)


def test_files_not_adopted_are_said_in_one_line(tmp_path, caplog) -> None:
    """An upgraded installation starts every day: a release that changed ten files in place gave ten
    warnings at each start."""
    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    ensure_base(engine)
    edited = _shipped_copy(tmp_path, name="改过的名称")
    other = edited / "food-business-licence.yaml"
    data = yaml.safe_load(other.read_text(encoding="utf-8"))
    other.write_text(yaml.safe_dump({**data, "name": "另一个改过的名称"}, allow_unicode=True), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="banjian.catalog"):
        assert ensure_base(engine, edited) == []
    lines = [r.getMessage() for r in caplog.records if "not adopted" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("2 shipped item file(s) not adopted")
    assert ITEM in lines[0] and f"food-business-licence version {data['version']} (version_immutable)" in lines[0]

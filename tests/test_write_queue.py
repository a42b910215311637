"""SQLite writers of one process queue on a lock instead of SQLite's sleeping busy handler
(`banjian.db.write_transaction`, docs/benchmarks.md)."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from banjian.db import CaseSequence, make_engine, write_transaction
from banjian.migrate import upgrade
from banjian.sequences import next_serial


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def test_concurrent_writers_all_commit_in_turn(engine):
    day = datetime.now(UTC).date()
    drawn: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(15):
                with Session(engine) as session, write_transaction(session):
                    drawn.append(next_serial(session, day))
                    session.commit()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(drawn) == list(range(1, 121))  # every draw committed, none twice


def test_an_error_rolls_back_before_the_next_writer(engine):

    day = datetime.now(UTC).date()
    with Session(engine) as session:
        with pytest.raises(RuntimeError), write_transaction(session):
            next_serial(session, day)
            raise RuntimeError("boom")
        assert session.exec(select(CaseSequence)).all() == []
    with Session(engine) as other, write_transaction(other):  # not held by the failed writer
        assert next_serial(other, day) == 1
        other.commit()

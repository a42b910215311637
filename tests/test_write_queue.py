"""SQLite writers of one process queue on a lock instead of SQLite's sleeping busy handler
(`banjian.db.write_transaction`, docs/benchmarks.md)."""
from __future__ import annotations

import threading
from datetime import UTC, date, datetime

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


def test_a_queue_whose_holder_never_returns_is_replaced(tmp_path, monkeypatch):
    """A writer interrupted between taking the queue and entering its block (the SDK cancels a running
    sync activity by raising into its thread) must not stop every later writer of the file."""
    import banjian.db as db

    monkeypatch.setattr(db, "WRITE_QUEUE_WAIT", 0.2)
    engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    upgrade(engine)
    with Session(engine) as session:
        stuck = write_transaction(session)
        stuck.__enter__()  # taken and never left, as after an interrupted __enter__
        with Session(engine) as other, write_transaction(other):
            other.add(CaseSequence(day=date(2026, 1, 2), last=1))
            other.commit()
        with Session(engine) as third, write_transaction(third):  # the new queue works as a queue again
            assert third.get(CaseSequence, date(2026, 1, 2)) is not None

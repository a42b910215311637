"""Case numbers (统一受理号码): format and check character, the day's sequence on SQLite and
PostgreSQL, uniqueness under concurrent submissions, and a clash of workflow ids that fails
loudly instead of attaching a second applicant to the first one's case."""
from __future__ import annotations

import asyncio
import itertools
import re
import threading
import uuid
from datetime import date

import pytest
from sqlmodel import Session, select

import api.numbers
from banjian.case_numbers import CaseNumberError, check_char, make, parse, sub_case_no
from banjian.db import Case, CaseEvent, make_engine
from banjian.seed import ensure_base
from banjian.sequences import next_serial
from tests.conftest import drop_postgres, new_postgres_url

ITEM = "food-business-licence"  # amr
CASE_NO = re.compile(r"^(\d{6})-([A-Z0-9]{1,16})-(\d{8})-(\d{8})-([0-9A-Z])$")
STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store(request):
    return request.getfixturevalue(request.param)


# ---- format and check character ---------------------------------------------------------------------
def test_check_character_is_iso_7064_mod_37_36():
    # the worked example of ISO 7064 (as used for ISAN and in python-stdnum's documentation)
    assert check_char("A12425GABC1234002") == "M"
    # separators are not part of the checked string
    assert check_char("330100-AMR-20261128-54821646") == check_char("330100AMR2026112854821646")


def test_case_number_format():
    n = make("330100", "amr", date(2026, 12, 2), 42)
    assert n.id == "2026120200000042"
    m = CASE_NO.match(n.case_no)
    assert m is not None, n.case_no
    assert m.groups()[:4] == ("330100", "AMR", "20261202", "00000042")
    assert m[5] == check_char(n.case_no[:-2])
    assert parse(n.case_no) == n.case_no
    assert parse(f"  {n.case_no.lower()} ") == n.case_no
    assert sub_case_no(n.case_no, 3) == f"{n.case_no}-03"
    assert parse(f"{n.case_no}-03") == f"{n.case_no}-03"
    assert sub_case_no(None, 1) is None
    with pytest.raises(ValueError):
        make("33010", "amr", date(2026, 12, 2), 1)
    with pytest.raises(ValueError):
        make("330100", "amr", date(2026, 12, 2), 0)


def test_every_single_character_error_and_nearly_every_adjacent_swap_is_caught():
    n = make("330100", "fire", date(2026, 12, 2), 1234).case_no
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    positions = [i for i, c in enumerate(n) if c != "-"]
    for i in positions:
        for c in alphabet:
            if c == n[i]:
                continue
            wrong = n[:i] + c + n[i + 1:]
            with pytest.raises(CaseNumberError):
                parse(wrong)
    # a hybrid ISO 7064 system misses a few adjacent transpositions (here "01" -> "10" in the region)
    swaps = caught = 0
    for a, b in itertools.pairwise(positions):
        if b == a + 1 and n[a] != n[b]:
            swaps += 1
            try:
                parse(n[:a] + n[b] + n[a] + n[b + 1:])
            except CaseNumberError:
                caught += 1
    assert swaps > 10 and caught >= swaps - 1


def test_malformed_case_numbers_are_refused():
    for bad in ("", "abc", "330100-AMR-20261302-00000042-0", "330100--20261202-00000042-0",
                "330100-AMR-20261202-42-0"):
        with pytest.raises(CaseNumberError):
            parse(bad)


# ---- the day's sequence --------------------------------------------------------------------------------
def _draw_concurrently(url: str, n: int) -> list[int]:
    engine = make_engine(url)
    ensure_base(engine)
    day = date(2026, 12, 2)
    out: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def draw() -> None:
        barrier.wait()
        with Session(engine) as session:
            serial = next_serial(session, day)
            session.commit()
        with lock:
            out.append(serial)

    threads = [threading.Thread(target=draw) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    # a restart (a new engine, a new process) continues the day where it stopped
    again = make_engine(url)
    with Session(again) as session:
        out.append(next_serial(session, day))
        other_day = next_serial(session, date(2026, 12, 3))
        session.commit()
    again.dispose()
    assert other_day == 1
    return out


def test_sequence_is_unique_under_50_threads_sqlite(tmp_path):
    drawn = _draw_concurrently(f"sqlite:///{tmp_path / 'seq.db'}", 50)
    assert sorted(drawn) == list(range(1, 52))


@pytest.mark.postgres
def test_sequence_is_unique_under_50_threads_postgres():
    url = new_postgres_url()
    try:
        drawn = _draw_concurrently(url, 50)
    finally:
        drop_postgres(url)
    assert sorted(drawn) == list(range(1, 52))


# ---- through the API -------------------------------------------------------------------------------------
async def test_case_number_on_the_case_the_read_model_and_the_history(stack):
    u = stack.applicant()
    r = await u.apply(ITEM)
    assert r.status_code == 201, r.text
    case = r.json()
    m = CASE_NO.match(case["case_no"])
    assert m is not None, case["case_no"]
    assert m[1] == stack.settings.region_code and m[2] == "AMR"
    assert case["id"] == m[3] + m[4]
    assert parse(case["case_no"]) == case["case_no"]
    with stack.sessions() as session:
        assert session.get(Case, case["id"]).case_no == case["case_no"]
        first = session.exec(select(CaseEvent).where(CaseEvent.case_id == case["id"])).first()
        assert first.action == "submitted" and first.data["case_no"] == case["case_no"]
    history = (await u.get(f"/api/cases/{case['id']}/history")).json()
    assert history[0]["data"]["case_no"] == case["case_no"]
    again = (await u.get(f"/api/cases/{case['id']}")).json()
    assert again["case_no"] == case["case_no"]
    found = (await u.get("/api/cases", params={"q": case["case_no"].lower()})).json()
    assert [c["id"] for c in found["items"]] == [case["id"]]


async def test_by_number_follows_case_visibility(stack):
    owner, stranger = stack.applicant(), stack.applicant()
    case = (await owner.apply(ITEM)).json()
    path = f"/api/cases/by-number/{case['case_no']}"
    r = await owner.get(path)
    assert r.status_code == 200 and r.json()["id"] == case["id"]
    r = await owner.get(f"/api/cases/by-number/{case['case_no'].lower()}")
    assert r.status_code == 200 and r.json()["id"] == case["id"]
    assert (await stack.staff("amr", "clerk").get(path)).status_code == 200
    r = await stranger.get(path)
    assert r.status_code == 404 and r.json()["detail"]["code"] == "case_not_found"
    assert (await stack.staff("fire", "clerk").get(path)).status_code == 404
    assert (await stack.http.get(path)).status_code == 401
    # a well-formed number of no case, and a malformed one
    unknown = make("330100", "AMR", date(2001, 1, 1), 1).case_no
    assert (await owner.get(f"/api/cases/by-number/{unknown}")).status_code == 404
    bad = case["case_no"][:-1] + ("0" if case["case_no"][-1] != "0" else "1")
    r = await owner.get(f"/api/cases/by-number/{bad}")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "case_no"


async def test_sub_cases_carry_the_parent_number(stack):
    applicant = stack.applicant(organisation=True)
    r = await applicant.apply("construction-permit-joint")
    assert r.status_code == 201, r.text
    case = await stack.staff("hcd", "clerk").ok(r.json()["id"], "accept")
    assert case["sub_cases"]
    for n, sub in enumerate(case["sub_cases"], start=1):
        sc = await stack.staff(sub["department"], "handler").case(sub["id"])
        assert sc["case_no"] == f"{case['case_no']}-{n:02d}"
        assert parse(sc["case_no"]) == sc["case_no"]
        # the joint case's own list names each sub-case by the number its feed events and queries carry
        # (it gave only the id: a platform had to open each sub-case to learn its number)
        assert sub["case_no"] == sc["case_no"]
    again = await stack.staff("hcd", "clerk").case(case["id"])  # read back, not the action's answer
    assert [s["case_no"] for s in again["sub_cases"]] == [f"{case['case_no']}-{n:02d}"
                                                         for n in range(1, len(again["sub_cases"]) + 1)]


async def test_forced_collision_never_shares_a_case(stack, monkeypatch):
    """Two submissions forced onto one case id: the second must not land on the first's case."""
    first, second = stack.applicant(), stack.applicant()
    a = (await first.apply(ITEM)).json()
    monkeypatch.setattr(api.numbers, "new_case_id", lambda *args, **kw: a["id"])
    r = await second.apply(ITEM, idempotency_key=f"k-{uuid.uuid4().hex}")
    assert r.status_code not in (200, 201), r.text  # the old code answered 201 with the first's case
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.json()["detail"]["code"] == "case_number_unavailable"
    assert first.username not in r.text and a["applicant"]["id_number"] not in r.text
    assert (await second.get(f"/api/cases/{a['id']}")).status_code == 404
    assert (await second.get("/api/cases")).json()["total"] == 0
    case = await first.case(a["id"])
    assert [h["action"] for h in case["history"]] == ["submitted"]
    assert case["applicant"] == a["applicant"]
    monkeypatch.undo()
    # once numbers are drawn normally again, the second applicant gets a case of their own
    r = await second.apply(ITEM)
    assert r.status_code == 201, r.text
    assert r.json()["id"] != a["id"] and r.json()["case_no"] != a["case_no"]


async def test_50_concurrent_submissions_get_distinct_numbers(store):
    people = [store.applicant() for _ in range(10)]
    for p in people:
        await p.token()
    results = await asyncio.gather(*(people[i % 10].apply(ITEM) for i in range(50)))
    assert [r.status_code for r in results] == [201] * 50, [r.text for r in results if r.status_code != 201]
    ids = {r.json()["id"] for r in results}
    numbers = {r.json()["case_no"] for r in results}
    assert len(ids) == len(numbers) == 50
    with store.sessions() as session:
        rows = session.exec(select(Case.case_no).where(Case.id.in_(ids))).all()
    assert set(rows) == numbers


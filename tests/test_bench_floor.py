"""`bench/floor.py` measures the floor of a read-your-writes submit on the shared reference's own
workflow. A small run: every way concludes its cases, the eager way really starts them eagerly, and
the first round trip of each way is timed (the figures themselves belong in docs/benchmarks.md)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "bench"
pytestmark = pytest.mark.skipif(not (SHARED / "run_bench.py").exists(), reason="the shared reference is absent")


def test_each_way_of_opening_a_bare_case_concludes_and_is_timed(tmp_path):
    from bench import floor

    args = floor.parser().parse_args(["--cases", "4", "--users", "2", "--warmup", "1", "--rounds", "1",
                                      "--out", str(tmp_path / "floor.jsonl")])
    (row,) = asyncio.run(floor.measure(args))
    for way in floor.WAYS:
        assert row[way]["errors"] == 0, row[way]["error_samples"]
        assert row[way]["first_p50_ms"] > 0 and row[way]["update_p50_ms"] > 0
    assert row["eager"]["eagerly_started"] == 4  # the server handed each first task back with the start
    assert set(row["ratios"]) == {"uws", "eager"}

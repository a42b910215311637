"""`bench/suite.py`'s verdict over several back-to-back pairs: each ratio's median, not one pair's luck."""
from __future__ import annotations

from typing import Any

from bench.suite import criteria, median_ratios, ratios


def side(cases_per_s: float, submit: float, action: float, p99: float, cpu: float, errors: int = 0) -> dict[str, Any]:
    return {"cases_per_s": cases_per_s, "submit_p50_ms": submit, "action_p50_ms": action, "action_p99_ms": p99,
            "cpu_ms_per_case": cpu, "errors": errors}


def pair(banjian: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    return {"banjian": banjian, "reference": reference, "ratios": ratios(banjian, reference)}


def test_the_bar_is_judged_on_the_median_of_the_pairs():
    ref_slow, ref_fast = side(17.0, 21.0, 67.0, 170.0, 106.0), side(24.4, 13.0, 44.6, 132.0, 73.0)
    pairs = [pair(side(10.4, 172.0, 126.0, 220.0, 184.0), ref_slow),
             pair(side(10.1, 179.0, 125.0, 243.0, 191.0), ref_slow),
             pair(side(10.1, 178.0, 130.0, 226.0, 191.0), ref_fast)]
    assert pairs[2]["ratios"]["cases_per_s"] < 0.5  # the third pair alone would fail throughput
    median = median_ratios(pairs)
    assert median == {"cases_per_s": 0.594, "action_p50": 1.881, "submit_p50": 8.524, "cpu_per_case": 1.802}
    verdict = {c["criterion"]: (c["result"], c["value"]) for c in criteria(pairs)}
    assert verdict["cases/s ÷ reference"] == ("PASS", 0.594)
    assert verdict["action p50 ÷ reference Update p50"] == ("PASS", 1.881)
    assert verdict["submit p50 ÷ reference start p50"] == ("FAIL", 8.524)
    assert verdict["CPU per case (all processes) ÷ reference"] == ("PASS", 1.802)
    assert verdict["action p99"] == ("PASS", "226 ms")  # the median of banjian's p99s
    assert verdict["every case concluded"] == ("PASS", "0 + 0 errors")


def test_an_error_in_any_pair_fails_the_run_and_one_pair_is_its_own_median():
    pairs = [pair(side(10.0, 150.0, 100.0, 200.0, 150.0), side(20.0, 50.0, 60.0, 150.0, 80.0, errors=1))]
    assert median_ratios(pairs) == pairs[0]["ratios"]
    verdict = {c["criterion"]: c["result"] for c in criteria(pairs)}
    assert verdict["every case concluded"] == "FAIL"
    assert verdict["submit p50 ÷ reference start p50"] == "PASS"  # 3.0: at the limit

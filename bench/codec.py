"""The cost of payload encryption (banjian/codec.py): SM4-GCM encode + decode per payload and per case.

    python bench/codec.py [--repeat N]

Per payload: the payloads of a real case history (tests/histories/approved_electronic.json, a
food-business-licence case from submission to electronic delivery, recorded plain), each encrypted
and decrypted N times; sizes and µs per round trip, at the median and the largest payload.
Per case: every payload of that history encrypted once and decrypted once — what the client and
the worker do at least once for each payload a case carries (a worker that replays a history
after its cache is evicted decrypts it again).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.api.common.v1 import Payload  # noqa: E402
from temporalio.client import WorkflowHistory  # noqa: E402

from banjian.codec import Sm4PayloadCodec, _visit_payloads  # noqa: E402
from banjian.crypto import sm4_generate_key  # noqa: E402

HISTORY = ROOT / "tests" / "histories" / "approved_electronic.json"


def history_payloads(path: Path) -> list[Payload]:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    found: list[Payload] = []

    def keep(p: Payload) -> Payload:
        copy = Payload()
        copy.CopyFrom(p)
        found.append(copy)
        return p

    for e in history.events:
        _visit_payloads(e, keep)
    return found


def round_trip_us(codec: Sm4PayloadCodec, payloads: list[Payload], repeat: int) -> float:
    """µs for one encode + decode of all `payloads`, best of `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for p in payloads:
            codec.decode_one(codec.encode_one(p))
        best = min(best, time.perf_counter() - t0)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    codec = Sm4PayloadCodec({"k1": sm4_generate_key()}, "k1")
    payloads = history_payloads(HISTORY)
    sizes = sorted(p.ByteSize() for p in payloads)
    median = min(payloads, key=lambda p: abs(p.ByteSize() - statistics.median(sizes)))
    largest = max(payloads, key=lambda p: p.ByteSize())
    print(f"history: {HISTORY.name}, {len(payloads)} payloads, {sum(sizes)} bytes "
          f"(median {statistics.median(sizes):.0f} B, largest {sizes[-1]} B)")
    for name, p in (("median payload", median), ("largest payload", largest)):
        us = round_trip_us(codec, [p] * 20, args.repeat) / 20
        print(f"{name} ({p.ByteSize()} B): encode+decode {us:.1f} µs")
    case_us = round_trip_us(codec, payloads, max(args.repeat // 10, 5))
    print(f"per case (every payload once each way): {case_us / 1000:.2f} ms")
    enc = [codec.encode_one(p) for p in payloads]
    growth = sum(e.ByteSize() for e in enc) - sum(sizes)
    print(f"stored size: +{growth} bytes per case ({growth / len(payloads):.0f} B per payload)")


if __name__ == "__main__":
    main()

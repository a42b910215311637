"""Audit (审计): replay a case's history, prove its records were not altered, log auditors' reads.

Four pieces, each usable from the API, the CLI and tests:

- **Timeline** — a case's full ordered record built from its Temporal event history (the
  source of truth): every history entry the workflow handed to the `record_case` activity,
  the item version in force (the workflow input), Temporal-level events (timer firings,
  signals, child workflows, completion), and for a joint case its sub-cases interleaved. It
  is compared entry by entry with the read model (`case_events`); a disagreement is reported
  in `discrepancies`, never hidden. When Temporal no longer holds the history (the dev
  server keeps a closed workflow 24 hours), the copy exported into the case's archive
  package is used, and failing that the read model alone (`source` says which).
- **Replay** (`services/replay.py`, above this package: it runs the workers' workflow code) — the history replayed with `temporalio.worker.Replayer` against the current
  workflow code (`workflows.registry.WORKFLOWS`, the pydantic data converter). A failure names the
  workflow task where the code and the history part ways (found by replaying prefixes).
- **Chain verification** — each `case_events` row carries the SM3 hash of its content and of
  the previous row of its case (`banjian.chain`). `verify_case` recomputes the chain, checks
  it is complete (the case row's `rev`), compares it with the hashes recomputed from the
  Temporal history (which catches a row altered *and* re-hashed), and with the signed daily
  chain heads. It also compares the case row's snapshot with the state the workflow last
  recorded (`snapshot.py`; the timeline reports the same `snapshot_differs`) and the archive
  package with its recorded digest (`package_check.py`, which the archive download uses too).
- **Daily chain heads** — once a (China) day is over, `seal_day` seals the tips of every
  case's chain that moved that day into one SM3 head, linked to the previous day's head and
  signed with SM2 by the system key (`data_dir/system-sm2.key`). The head is stored in
  `chain_heads` and, with the tips it covers, in `data_dir/chain-heads/{day}.json`, so one
  case can be checked against it without re-reading every other case.
"""
from banjian.audit.chainheads import (
    day_tips,
    head_of,
    seal_day,
    seal_due,
    seal_forever,
    signed_bytes,
    system_signer,
    verify_case,
    verify_case_full,
    verify_heads,
)
from banjian.audit.timeline import (
    HEADS_DIR,
    SYSTEM_KEY_FILE,
    CaseSource,
    archived_histories,
    case_id_of,
    compare,
    entry_json,
    fetch_history,
    load_source,
    log_read,
    read_history,
    timeline,
    workflow_id,
)

__all__ = [
    "HEADS_DIR", "SYSTEM_KEY_FILE", "CaseSource", "archived_histories", "case_id_of", "compare",
    "day_tips", "entry_json", "fetch_history", "head_of", "load_source", "locate_divergence",
    "log_read", "read_history", "seal_day", "seal_due",
    "seal_forever", "signed_bytes", "system_signer", "timeline", "verify_case", "verify_case_full", "verify_heads",
    "workflow_id", "workflow_type_names",
]

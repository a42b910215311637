"""The audit timeline of a case moved to a later item version in flight (version_migrated): the
version in force is the new one, and the read model saying so is no discrepancy."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from temporalio.client import WorkflowHistory

from banjian.audit import compare, read_history
from banjian.codec import decode_history
from tests.conftest import TEST_CONVERTER

HISTORIES = Path(__file__).parent / "histories"


def _migrated_source():
    path = HISTORIES / "v4.version_migrated.json"
    history = WorkflowHistory.from_json(f"case-{path.stem}", path.read_text(encoding="utf-8"))
    return read_history(path.stem, decode_history(history, TEST_CONVERTER.payload_codec))


def test_the_version_in_force_follows_version_migrated():
    src = _migrated_source()
    moves = [r.entry.data for r in src.records if r.entry.action == "version_migrated"]
    assert moves and src.case_input is not None
    assert src.case_input.item.version == moves[0]["from_version"]  # filed under the old version
    assert src.item_version == moves[-1]["to_version"]


def test_a_migrated_case_is_no_item_version_discrepancy():
    src = _migrated_source()
    to = src.item_version
    kinds = {d["kind"] for d in compare(src.case_id, src, [], SimpleNamespace(item_version=to, status=src.last_status))}
    assert "item_version_differs" not in kinds
    # a read model that still names the old version (or any other) is reported
    old = src.case_input.item.version
    found = [d for d in compare(src.case_id, src, [], SimpleNamespace(item_version=old, status=src.last_status))
             if d["kind"] == "item_version_differs"]
    assert found == [{"case_id": src.case_id, "seq": None, "kind": "item_version_differs", "temporal": to,
                      "read_model": old}]

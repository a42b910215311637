"""A fee paid at the window (`channels.online_payment: false`) no longer makes a case wait for an
online payment (workflows/payment.py, patch `fee-at-window`): a case of such an item approved before
the rule waited for its fee, and its history must still replay."""
from __future__ import annotations

import json
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory

from services import replay
from tests.conftest import TEST_CONVERTER

HISTORIES = Path(__file__).parent / "histories"


async def without_online_payment(name: str) -> WorkflowHistory:
    """A recorded paid case as if its item had taken no payment online: the wait recorded under the
    old code, with the item's `channels.online_payment` false in the workflow's input."""
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text(encoding="utf-8"))
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    [plain] = await TEST_CONVERTER.payload_codec.decode([payloads[0]])  # type: ignore[union-attr]
    inp = json.loads(plain.data)
    assert inp["item"]["channels"]["online_payment"] is True and inp["item"]["fees"]["charged"] is True
    inp["item"]["channels"]["online_payment"] = False
    payloads[0].CopyFrom(Payload(metadata=dict(plain.metadata), data=json.dumps(inp).encode()))
    return history


async def test_a_case_that_waited_for_a_window_fee_before_the_rule_still_replays():
    for name in ("v7.paid_then_refunded", "v7.deemed_then_paid", "v6.paid_then_refunded"):
        history = await without_online_payment(name)
        actions = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events]
        assert "open_payment_order" in actions  # it waited for the fee online
        report = await replay.replay_history(name, history, converter=TEST_CONVERTER)
        assert report.verified, f"{name}: {report.error}"

"""The reminder of one window appointment (预约提醒): a durable timer until the day before the slot,
then the `send_appointment_reminder` activity queues the event in the feed (banjian/appointment_reminders.py).
One workflow per booking, id `appointment-reminder-{id}`."""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.appointment_reminders import ReminderInput
    from workflows.calls import run_activity


def reminder_workflow_id(appointment_id: str) -> str:
    return f"appointment-reminder-{appointment_id}"


@workflow.defn(name="AppointmentReminder")
class AppointmentReminderWorkflow:
    @workflow.run
    async def run(self, inp: ReminderInput) -> bool:
        wait = inp.remind_at - workflow.now()
        if wait.total_seconds() > 0:
            await workflow.sleep(wait)
        sent: bool = await run_activity("send_appointment_reminder", inp.appointment_id, bool)
        return sent

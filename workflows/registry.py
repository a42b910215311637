"""Every workflow banjian runs: the worker registers them, and a replay is checked against them."""
from __future__ import annotations

from workflows.appointment_reminder import AppointmentReminderWorkflow
from workflows.case import CaseWorkflow
from workflows.feed import FeedWorkflow
from workflows.inquiry import InquiryWorkflow
from workflows.licence_expiry import LicenceExpiryWorkflow
from workflows.payment_refund import PaymentRefundWorkflow
from workflows.rectification import RectificationWorkflow

WORKFLOWS = [CaseWorkflow, FeedWorkflow, InquiryWorkflow, PaymentRefundWorkflow, AppointmentReminderWorkflow,
             RectificationWorkflow, LicenceExpiryWorkflow]

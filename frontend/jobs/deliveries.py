"""Webhook deliveries as the job store keeps them. A delivery is written in the same store
transaction as the change of the job it tells of (so a job never ends without its event
being due), and stays until it is delivered or given up: a replica that dies leaves its
deliveries for another to send."""

from __future__ import annotations

import time

from pydantic import BaseModel

from framecast.frontend.jobs.record import JobRecord
from framecast.protocol import ErrorCode, WebhookEventBody

# The job's status a change moves it to -> the event it is.
_EVENT_OF_STATUS = {"in_progress": "started", "completed": "completed", "failed": "failed"}


class WebhookDelivery(BaseModel):
    id: str  # the event's id: its webhook-id on every attempt
    job_id: str
    tenant: str | None
    url: str
    event: str
    # The signed body, fixed when the event happened: every attempt sends the same bytes.
    body: str
    owner: str  # the replica that sends it
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> WebhookDelivery:
        return cls.model_validate_json(data)


def event_delivery(record: JobRecord, event: str, owner: str | None = None) -> WebhookDelivery | None:
    """The delivery of the job's `event`, if its webhook asks for it, sent by `owner` (the
    replica that owns the job, by default)."""
    target = record.webhook
    if target is None or event not in target.events:
        return None
    event_id = f"evt_{record.id.partition('_')[2]}_{event}"
    body = WebhookEventBody(id=event_id, type=f"video.{event}", created_at=int(time.time()), data=record.to_video())
    return WebhookDelivery(
        id=event_id, job_id=record.id, tenant=record.tenant, url=target.url, event=event, body=body.model_dump_json(),
        owner=owner or record.owner,
    )  # fmt: skip


def due_on_write(stored_status: str | None, record: JobRecord) -> list[WebhookDelivery]:
    """Deliveries a write of the record makes due: the event of a change of its status."""
    if record.webhook is None or stored_status == record.status:
        return []
    event = _EVENT_OF_STATUS.get(record.status)
    if event == "failed" and record.error is not None and record.error.code == ErrorCode.CANCELLED:
        event = "cancelled"
    delivery = event_delivery(record, event) if event else None
    return [delivery] if delivery else []

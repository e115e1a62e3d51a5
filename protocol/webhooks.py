"""Webhooks: which job events a client may ask to hear of, and where they go (the event a
receiver gets is videos.WebhookEventBody)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

WebhookEvent = Literal["completed", "failed", "cancelled", "started"]
WEBHOOK_EVENTS: tuple[str, ...] = ("completed", "failed", "cancelled", "started")
# What a webhook hears of when the request names no events: how the job ended.
DEFAULT_WEBHOOK_EVENTS: tuple[str, ...] = ("completed", "failed", "cancelled")


def _event_list(value: object) -> object:
    """A form sends "completed,failed"; JSON sends a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class WebhookFields(BaseModel):
    """What a job request may say of its webhook."""

    # https (or http to an address the server's fetch allow-list names); None: the tenant's
    # default endpoint, if its key has one.
    webhook: str | None = Field(default=None, min_length=1, max_length=2048)
    webhook_events: list[WebhookEvent] | None = Field(default=None, min_length=1)

    @field_validator("webhook_events", mode="before")
    @classmethod
    def _events_from_form(cls, value: object) -> object:
        return _event_list(value)


class WebhookTarget(BaseModel):
    """Where a job's events go, and which (kept in the job's record; the secret never is)."""

    url: str
    events: list[WebhookEvent]

"""What the service reports about itself: health, and its webhook inbox."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select, text

from pairloop.usecases.context import Context
from store.models import WebhookEvent


class Health(BaseModel):
    status: Literal["ok"] = "ok"


def health(ctx: Context) -> Health:
    """"ok" once the database has answered a query."""
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health()


class InboxCounts(BaseModel):
    """The webhook inbox: deliveries' events stored, and how far their processing is."""

    stored: int = Field(description="Events stored.")
    processed: int = Field(description="Events turned into labels (or found to carry none).")
    waiting: int = Field(description="Events not processed yet.")
    failed: int = Field(description="Waiting events whose processing failed (retried on restart and sync).")


def inbox_counts(ctx: Context) -> InboxCounts:
    with ctx.engine.connect() as conn:
        total, processed, failed = conn.execute(select(
            func.count(),
            func.count(WebhookEvent.processed_at),
            func.count(WebhookEvent.error).filter(WebhookEvent.processed_at.is_(None)),
        ).select_from(WebhookEvent)).one()
    return InboxCounts(stored=total, processed=processed, waiting=total - processed, failed=failed)


class Received(BaseModel):
    """The answer to a webhook delivery."""

    received: int = Field(description="Inbox events the delivery carried (0: an action pairloop ignores).")

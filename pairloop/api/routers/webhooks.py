"""``POST /webhooks/label-studio``: store the delivery durably, answer, then process it.

Label Studio waits one second and never retries, so the response only waits for the
inbox insert; the inbox worker writes the labels after the response (or, if the process
dies first, the next service start or ``round sync`` does).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, func, select

from annotator.webhooks import BadEvent, events_from_webhook, store_events, writing
from pairloop.api.dependencies import EngineDep, require_api_token, require_webhook_secret
from pairloop.service import WEBHOOK_PATH
from store.models import WebhookEvent

router = APIRouter(tags=["webhooks"])


def _store(engine: Engine, body: Any) -> int:
    events = events_from_webhook(body)
    if events:
        with writing(engine) as conn:
            store_events(conn, events)
    return len(events)


@router.post(WEBHOOK_PATH, dependencies=[Depends(require_webhook_secret)])
async def label_studio_webhook(request: Request, engine: EngineDep) -> dict[str, int]:
    """Receive ANNOTATION_CREATED / ANNOTATION_UPDATED / ANNOTATIONS_DELETED (others are ignored)."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not JSON") from None
    try:
        received = await run_in_threadpool(_store, engine, body)
    except BadEvent as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if received:
        request.app.state.inbox.notify()
    return {"received": received}


@router.get(WEBHOOK_PATH + "/inbox", dependencies=[Depends(require_api_token)])
def inbox(engine: EngineDep) -> dict[str, int]:
    """Webhook inbox counts: stored, processed, waiting, failed (waiting with an error)."""
    with engine.connect() as conn:
        total, processed, failed = conn.execute(select(
            func.count(),
            func.count(WebhookEvent.processed_at),
            func.count(WebhookEvent.error).filter(WebhookEvent.processed_at.is_(None)),
        ).select_from(WebhookEvent)).one()
    return {"stored": total, "processed": processed, "waiting": total - processed, "failed": failed}

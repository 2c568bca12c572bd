"""``POST /webhooks/label-studio``: store the delivery durably, answer, then process it.

Label Studio waits one second and never retries, so the response waits only for what makes
the delivery durable: its events in the inbox, one ``INSERT … ON CONFLICT DO NOTHING``
committed on a pooled connection. The request changes threads once: the secret check and
reading the body are ``async`` (on the event loop), the endpoint is a plain ``def`` that parses
and stores in the threadpool, and answers with bytes orjson wrote (``response_model`` only
documents them). The inbox worker writes the labels after the response (or, if the process
dies first, the next service start or ``round sync`` does). ``python -m benchmarks.webhooks``
measures the latency under load. A body over 1 MiB is refused (413) before it is read: a
delivery carries one task's data and one annotation.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request, Response

from annotator.label_studio import ADJUDICATED_PAIR
from annotator.webhooks import CREATED, DELETED, UPDATED, BadEvent, events_from_webhook, store_delivery
from pairloop.api.dependencies import (
    ContextDep,
    EngineDep,
    WebhookRoute,
    require_api_token,
    require_webhook_secret,
)
from pairloop.api.errors import responses
from pairloop.service import WEBHOOK_PATH
from pairloop.usecases.service import InboxCounts, Received, inbox_counts
from store.models import MAX_ID

router = APIRouter(tags=["webhooks"], route_class=WebhookRoute, responses=responses(401, 503))
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# What the endpoint reads of a delivery (Label Studio sends more; the rest is ignored). Only
# documented: the endpoint parses the body itself (events_from_webhook), answering 400 on a mismatch.
DELIVERY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["action"],
    "properties": {
        "action": {"type": "string", "description": f"{CREATED}, {UPDATED} or {DELETED}; others are ignored."},
        "annotation": {"type": "object", "required": ["id", "updated_at"], "description": f"{CREATED}, {UPDATED}.",
                       "properties": {"id": _ID, "task": _ID, "updated_at": {"type": "string", "format": "date-time"},
                                      "completed_by": {}, "result": {"type": "array"}}},
        "task": {"type": "object", "properties": {"id": _ID, "data": {"type": "object", "properties": {
            "pair_id": _ID, ADJUDICATED_PAIR: _ID, "round_id": _ID}}}},
        "annotations": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {"id": _ID}},
                        "description": f"{DELETED}."},
    },
}}}}


async def _body(request: Request) -> bytes:
    return await request.body()


@router.post(WEBHOOK_PATH, dependencies=[Depends(require_webhook_secret)], response_model=Received,
             responses=responses(400, 413), openapi_extra={"requestBody": DELIVERY})
def label_studio_webhook(request: Request, engine: EngineDep, body: Annotated[bytes, Depends(_body)]) -> Response:
    """Receive ANNOTATION_CREATED / ANNOTATION_UPDATED / ANNOTATIONS_DELETED from verification and
    adjudication projects (other actions are ignored); answers ``{"received": <events>}``.
    A body that is not a Label Studio webhook is a 400 (:class:`~annotator.webhooks.BadEvent`)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadEvent("body is not JSON") from None
    events = events_from_webhook(payload)
    if events:
        store_delivery(engine, events)
        request.app.state.inbox.notify()
    return Response(orjson.dumps({"received": len(events)}), media_type="application/json")


@router.get(WEBHOOK_PATH + "/inbox", dependencies=[Depends(require_api_token)], response_model=InboxCounts)
def inbox(ctx: ContextDep) -> InboxCounts:
    """Webhook inbox counts: stored, processed, waiting, failed (waiting with an error)."""
    return inbox_counts(ctx)

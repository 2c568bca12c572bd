"""Metrics: what the store holds, and the figures of recent rounds."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from pairloop.api.dependencies import ContextDep, GuardedRoute, require_api_token
from pairloop.api.errors import responses
from pairloop.usecases import store
from pairloop.usecases.store import Metrics

router = APIRouter(prefix="/metrics", tags=["metrics"], dependencies=[Depends(require_api_token)],
                   route_class=GuardedRoute, responses=responses(401, 503))


@router.get("", response_model=Metrics)
async def metrics(ctx: ContextDep) -> Metrics:
    """Store counts, each closed round's metrics (the learning curve), and LLM agreement reports."""
    return await run_in_threadpool(store.metrics, ctx)

"""Labels: a pair's full history, and verified labels page by page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from pairloop.api.dependencies import ContextDep, GuardedRoute, id_path, require_api_token
from pairloop.api.errors import responses
from pairloop.usecases import store
from pairloop.usecases.store import PairHistory, VerifiedPage
from store.models import MAX_ID
from store.verified import MajorityRule

router = APIRouter(prefix="/labels", tags=["labels"], dependencies=[Depends(require_api_token)],
                   route_class=GuardedRoute, responses=responses(401, 422, 503))


@router.get("/pairs/{pair_id}", response_model=PairHistory, responses=responses(404))
async def pair_history(pair_id: Annotated[int, id_path("pair")], ctx: ContextDep) -> PairHistory:
    """Every label event on one pair, oldest first, and the verified label derived from them."""
    return await run_in_threadpool(store.pair_history, ctx, pair_id)


@router.get("/verified", response_model=VerifiedPage)
async def verified(
    ctx: ContextDep,
    rule: MajorityRule | None = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Return pairs with an id above this (paging).")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> VerifiedPage:
    """Verified labels under the majority rule, by pair id. A page looks at ``limit`` labelled
    pairs (those without a majority are left out, so a page may be shorter); pass its
    ``next_after`` as ``after`` for the next page; ``null`` means the end."""
    return await run_in_threadpool(store.verified_labels_page, ctx, rule, after, limit)

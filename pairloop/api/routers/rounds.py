"""Rounds for ML engineers: list, start, status, sync, adjudicate, close — the CLI's operations over HTTP.

Errors are the use cases' own (404 an unknown round, 409 a step the round's state does not
allow or a close with undecided pairs, 422 a round that cannot be selected, 503 Label Studio
or the LLM unavailable: the round keeps its state, retry to resume).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from active_learning.strategies import DEFAULT_STRATEGY, STRATEGIES
from annotator.llm.factory import BACKENDS
from pairloop.api.dependencies import ContextDep, GuardedRoute, id_path, require_api_token
from pairloop.api.errors import responses
from pairloop.usecases import rounds
from store.models import MAX_ID

router = APIRouter(prefix="/rounds", tags=["rounds"], dependencies=[Depends(require_api_token)],
                   route_class=GuardedRoute, responses=responses(401, 503))
ACTION_RESPONSES = responses(404, 409, 422, 502)
RoundId = Annotated[int, id_path("round")]


class RoundRequest(BaseModel):
    strategy: Literal[tuple(STRATEGIES)] = Field(DEFAULT_STRATEGY, description="Query strategy.")  # type: ignore[valid-type]
    size: int = Field(30, ge=1, le=10_000, description="Pairs to select.")
    seed: int | None = Field(None, ge=0, le=MAX_ID, description="Random seed (default: the round number).")
    llm: Literal[(*BACKENDS, "none")] | None = Field(  # type: ignore[valid-type]
        None, description="The LLM backend, or none (default: PAIRLOOP_LLM_BACKEND).")


@router.get("", response_model=list[rounds.RoundSummary])
async def list_rounds(ctx: ContextDep) -> list[rounds.RoundSummary]:
    """Every round, oldest first, with its state and recorded metrics."""
    return await run_in_threadpool(rounds.list_rounds, ctx)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=rounds.RoundStart,
             responses=responses(400, 409, 413, 422, 502))
async def start(request: RoundRequest, ctx: ContextDep) -> rounds.RoundStart:
    """Select, propose and push a round (or resume the unfinished one). With the local LLM this
    takes as long as the proposals do."""
    return await run_in_threadpool(rounds.start_round, ctx, request.strategy,
                                   request.size, request.seed, request.llm)


@router.get("/{round_id}", response_model=rounds.RoundStatus, responses=responses(404, 422))
async def round_status(round_id: RoundId, ctx: ContextDep) -> rounds.RoundStatus:
    """Where the round stands: counts, annotators, agreement, recorded metrics."""
    return await run_in_threadpool(rounds.round_status, ctx, round_id)


@router.post("/{round_id}/sync", response_model=rounds.RoundSync, responses=ACTION_RESPONSES)
async def sync(round_id: RoundId, ctx: ContextDep) -> rounds.RoundSync:
    """Reconcile with Label Studio (the safety net behind the webhook); read adjudicators' rulings
    and send newly disputed pairs to adjudication."""
    return await run_in_threadpool(rounds.sync_round, ctx, round_id)


@router.post("/{round_id}/adjudicate", response_model=rounds.AdjudicationReport, responses=ACTION_RESPONSES)
async def adjudicate(round_id: RoundId, ctx: ContextDep) -> rounds.AdjudicationReport:
    """Send disputed pairs to the round's adjudication project; store the rulings made there."""
    return await run_in_threadpool(rounds.adjudicate_round, ctx, round_id)


@router.post("/{round_id}/close", response_model=rounds.RoundClosed, responses=ACTION_RESPONSES)
async def close(round_id: RoundId, ctx: ContextDep, force: Annotated[bool, Query(
        description="Close even with pairs unanswered, partly answered, disputed or in adjudication "
                    "(otherwise 409 naming them); recorded as forced.")] = False) -> rounds.RoundClosed:
    """Close a round whose pairs are all decided: retrain the classifier (unless no label changed since the
    newest version), score it on PAIRLOOP_TEST_SET, record and return the round's metrics. Answers that
    arrive afterwards are stored as late and never counted."""
    return await run_in_threadpool(rounds.close_round, ctx, round_id, force=force)

"""What the dashboard shows, as JSON: rounds with their progress, the learning curve and its
stopping hint, a round's annotators, the LLM's agreement and disagreements, the queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from pairloop.api.dependencies import ContextDep, GuardedRoute, require_api_token
from pairloop.api.errors import responses
from pairloop.usecases import annotators, curve, llm_review, queue, round_progress
from store.models import MAX_ID

router = APIRouter(prefix="/reports", tags=["reports"], dependencies=[Depends(require_api_token)],
                   route_class=GuardedRoute, responses=responses(401, 503))
RoundQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="The round (default: the newest).")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Entries to skip.")]


@router.get("/rounds", response_model=round_progress.RoundsBoard)
async def rounds(ctx: ContextDep, count_open: Annotated[bool, Query(
        description="Count open rounds now (reads their labels); false: their figures are null.")] = True
                 ) -> round_progress.RoundsBoard:
    """Every round, newest first, with its progress: open rounds counted now, closed ones as they closed."""
    return await run_in_threadpool(round_progress.rounds_progress, ctx, count_open)


@router.get("/curve", response_model=curve.LearningCurve)
async def learning_curve(ctx: ContextDep) -> curve.LearningCurve:
    """Held-out macro-F1 and per-class F1 against labels acquired, one point per closed round."""
    return await run_in_threadpool(curve.learning_curve, ctx)


@router.get("/stopping", response_model=curve.StoppingHint)
async def stopping_hint(ctx: ContextDep) -> curve.StoppingHint:
    """KappaAverage on the newest closed rounds' classifiers (loads them the first time)."""
    return await run_in_threadpool(curve.stopping_hint, ctx)


@router.get("/annotators", response_model=annotators.RoundAnnotators, responses=responses(404, 422))
async def round_annotators(ctx: ContextDep, round: RoundQuery = None) -> annotators.RoundAnnotators:
    """A round's annotators: answers, accuracy against verified and adjudicated labels, confusion matrices."""
    return await run_in_threadpool(annotators.round_annotators, ctx, round)


@router.get("/llm", response_model=llm_review.LlmAgreementReports)
async def llm_agreement(ctx: ContextDep) -> llm_review.LlmAgreementReports:
    """Each model + prompt version's newest agreement report and its trust gate."""
    return await run_in_threadpool(llm_review.llm_agreement_reports, ctx)


@router.get("/disagreements", response_model=llm_review.RoundDisagreements, responses=responses(404, 422))
async def disagreements(ctx: ContextDep, round: RoundQuery = None, offset: Offset = 0,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> llm_review.RoundDisagreements:
    """A round's pairs where the LLM's proposal and the humans' verified label differ."""
    return await run_in_threadpool(llm_review.llm_disagreements, ctx, round, offset, limit)


@router.get("/queue", response_model=queue.AnnotationQueue, responses=responses(422))
async def annotation_queue(ctx: ContextDep, offset: Offset = 0,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> queue.AnnotationQueue:
    """Pairs waiting for annotators (pending or partly answered), oldest round first."""
    return await run_in_threadpool(queue.annotation_queue, ctx, offset, limit)

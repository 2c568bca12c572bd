"""Rounds for ML engineers: list, start, status, sync, adjudicate, close — the CLI's operations over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from active_learning.strategies import DEFAULT_STRATEGY
from annotator.label_studio import LabelStudioError, LabelStudioUnavailable
from annotator.llm import LlmError
from pairloop import studio
from pairloop.usecases import round_steps as rounds
from pairloop.usecases import rounds as acquisition
from pairloop.api.dependencies import EngineDep, SettingsDep, require_api_token
from store.errors import BadInput
from store.models import Round

router = APIRouter(prefix="/rounds", tags=["rounds"], dependencies=[Depends(require_api_token)])
T = TypeVar("T")


class RoundRequest(BaseModel):
    strategy: str = Field(DEFAULT_STRATEGY, description="Query strategy.")
    size: int = Field(30, ge=1, description="Pairs to select.")
    seed: int | None = Field(None, description="Random seed (default: the round number).")
    llm: str | None = Field(None, description="local, openai or none (default: PAIRLOOP_LLM_BACKEND).")


async def _call(work: Callable[[], T]) -> T:
    """Run blocking round work off the event loop; map its failures to HTTP statuses."""
    try:
        return await run_in_threadpool(work)
    except rounds.RoundError as exc:
        code = status.HTTP_404_NOT_FOUND if str(exc).startswith("no round") else status.HTTP_409_CONFLICT
        raise HTTPException(code, str(exc)) from None
    except BadInput as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except (LabelStudioUnavailable, LabelStudioError, studio.StudioError, LlmError) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"{exc} — the round keeps its state; retry to resume") from None


@router.get("")
async def list_rounds(engine: EngineDep) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            rows = Session(bind=conn).scalars(select(Round).order_by(Round.id)).all()
        return [{"id": r.id, "state": r.state, "strategy": r.strategy, "seed": r.seed,
                 "classifier_version": r.classifier_version, "label_studio_project": r.ls_project_id,
                 "created_at": r.created_at, "closed_at": r.closed_at, "metrics": r.metrics} for r in rows]

    return await _call(read)


@router.post("", status_code=status.HTTP_201_CREATED)
async def start(request: RoundRequest, settings: SettingsDep) -> dict[str, Any]:
    """Select, propose and push a round (or resume the unfinished one). With the local LLM this
    takes as long as the proposals do."""
    return await _call(lambda: acquisition.start_round(settings, request.strategy, request.size, request.seed,
                                                       request.llm))


@router.get("/{round_id}")
async def round_status(round_id: int, engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    return await _call(lambda: acquisition.round_status(engine, settings, round_id))


@router.post("/{round_id}/sync")
async def sync(round_id: int, engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """Reconcile with Label Studio (the safety net behind the webhook); read adjudicators' rulings
    and send newly disputed pairs to adjudication."""
    return await _call(lambda: acquisition.sync_round(engine, settings, round_id))


@router.post("/{round_id}/adjudicate")
async def adjudicate(round_id: int, engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """Send disputed pairs to the round's adjudication project; store the rulings made there."""
    return await _call(lambda: acquisition.adjudicate_round(engine, settings, round_id))


@router.post("/{round_id}/close")
async def close(round_id: int, engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """Derive verified labels, retrain the classifier, record and return the round's metrics."""
    return await _call(lambda: acquisition.close_round(engine, settings, round_id))

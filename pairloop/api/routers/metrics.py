"""Metrics: what the store holds, and the figures of recent rounds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from pairloop.api.dependencies import EngineDep, SettingsDep, require_api_token
from store.models import AgreementReport, Round
from store.stats import store_stats

router = APIRouter(prefix="/metrics", tags=["metrics"], dependencies=[Depends(require_api_token)])


@router.get("")
async def metrics(engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """Store counts, each closed round's metrics (the learning curve), and LLM agreement reports."""

    def read() -> dict[str, Any]:
        with engine.connect() as conn:
            stats = store_stats(conn, settings.majority_rule, settings.min_agreeing)
            rounds = conn.execute(select(Round.id, Round.state, Round.strategy, Round.metrics)
                                  .order_by(Round.id)).all()
            reports = conn.execute(select(AgreementReport.model, AgreementReport.prompt_version,
                                          AgreementReport.n_pairs, AgreementReport.metrics,
                                          AgreementReport.created_at).order_by(AgreementReport.id)).all()
        return {
            "store": stats,
            "rounds": [{"id": r.id, "state": r.state, "strategy": r.strategy, "metrics": r.metrics}
                       for r in rounds],
            "llm_agreement": [
                {"model": r.model, "prompt_version": r.prompt_version, "pairs": r.n_pairs,
                 "accuracy": r.metrics.get("accuracy"), "kappa": r.metrics.get("kappa"),
                 "created_at": r.created_at} for r in reports],
        }

    return await run_in_threadpool(read)

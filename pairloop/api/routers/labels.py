"""Labels: a pair's full history, and verified labels page by page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from pairloop.api.dependencies import EngineDep, SettingsDep, require_api_token
from store.models import Label, Pair
from store.verified import MajorityRule, verified_labels

router = APIRouter(prefix="/labels", tags=["labels"], dependencies=[Depends(require_api_token)])

LABEL_FIELDS = ("id", "verdict", "relation", "fine_code", "source", "actor", "prompt_version", "confidence",
                "rationale", "auto_accepted", "adjudication", "presented_reversed", "round_id",
                "ls_task_id", "ls_annotation_id", "created_at")


@router.get("/pairs/{pair_id}")
async def pair_history(pair_id: int, engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """Every label event on one pair, oldest first, and the verified label derived from them."""

    def read() -> dict[str, Any]:
        with engine.connect() as conn:
            pair = conn.execute(select(Pair).where(Pair.id == pair_id)).first()
            if pair is None:
                raise HTTPException(404, f"no pair {pair_id}")
            rows = conn.execute(select(*(getattr(Label, f) for f in LABEL_FIELDS))
                                .where(Label.pair_id == pair_id).order_by(Label.id)).mappings().all()
            verified, _ = verified_labels(conn, settings.majority_rule, [pair_id], settings.min_agreeing)
        label = verified.get(pair_id)
        return {
            "pair_id": pair_id,
            "item_a_id": pair.item_a_id,
            "item_b_id": pair.item_b_id,
            "history": [dict(row) for row in rows],
            "verified": None if label is None else {
                "relation": label.relation.value, "fine_code": label.fine_code,
                "votes": label.n_votes, "basis": label.basis},
        }

    return await run_in_threadpool(read)


@router.get("/verified")
async def verified(
    engine: EngineDep,
    settings: SettingsDep,
    rule: MajorityRule | None = None,
    after: Annotated[int, Query(description="Return pairs with an id above this (paging).")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Verified labels under the majority rule, by pair id. A page looks at ``limit`` labelled
    pairs (those without a majority are left out, so a page may be shorter); pass its
    ``next_after`` as ``after`` for the next page; ``null`` means the end."""

    def read() -> dict[str, Any]:
        with engine.connect() as conn:
            ids = conn.execute(select(Label.pair_id).where(Label.pair_id > after).distinct()
                               .order_by(Label.pair_id).limit(limit)).scalars().all()
            labels, _ = verified_labels(conn, rule or settings.majority_rule, ids, settings.min_agreeing)
        return {
            "labels": [{"pair_id": v.pair_id, "relation": v.relation.value, "fine_code": v.fine_code,
                        "votes": v.n_votes, "basis": v.basis} for v in (labels[p] for p in sorted(labels))],
            "next_after": ids[-1] if len(ids) == limit else None,
        }

    return await run_in_threadpool(read)

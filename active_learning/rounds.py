"""Acquisition rounds in the store: select a batch with a strategy and persist it.

:func:`select_round` is what ``pairloop round start`` builds on. It writes a ``rounds`` row
(strategy, parameters, seed, classifier version) and one ``round_pairs`` row per selected
pair (rank from 1, the strategy's score), and moves the round from ``selecting`` to
``labelling``. The pool is every stored pair without a verified label that no open round
holds. Given the same store, model and seed, it selects the same pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, select, update

from active_learning.distributed import IN_PROCESS, Shortlister
from active_learning.pools import store_pool
from active_learning.selection import Constraints, select_batch
from active_learning.strategies import get_strategy
from classifier.data import PairSet, store_labelled_pairs
from classifier.model import RelationModel, check_vocabulary
from store.errors import BadInput
from store.models import Round, RoundPair
from store.states import RoundPairStatus, RoundState
from store.verified import DEFAULT_MIN_AGREEING, MajorityRule

# Pools larger than this are shortlisted (chunked scoring) before the strategy looks at them.
MAX_CANDIDATES = 20_000
# At most this many labelled pairs stand for the training set in diversity and shift measures.
MAX_CONTEXT = 20_000


def select_round(
    engine: Engine,
    model: RelationModel,
    strategy_name: str,
    size: int,
    seed: int,
    *,
    classifier_version: str | None = None,
    strategy_params: dict[str, Any] | None = None,
    constraints: Constraints | None = None,
    rule: MajorityRule = MajorityRule.COARSE,
    min_agreeing: int = DEFAULT_MIN_AGREEING,
    max_candidates: int = MAX_CANDIDATES,
    progress: Callable[[int], None] | None = None,
    shortlister: Shortlister | None = None,
) -> int:
    """Select ``size`` pairs from the store's pool and record them as a new round; its id.

    A pool larger than ``max_candidates`` is first cut to its ``max_candidates`` least certain
    pairs by ``shortlister`` (default: in this process; on Ray: the same pairs); the strategy then runs
    here on that shortlist, so every strategy selects as in one process. The round's metrics
    record where the pool was scored (``scored_on``).

    Raises :class:`BadInput` for an empty pool, a batch larger than the pool, or a pool the
    model's featuriser cannot represent; then nothing is written.
    """
    constraints = constraints or Constraints()
    strategy = get_strategy(strategy_name, **(strategy_params or {}))
    with engine.connect() as conn:
        pool = store_pool(conn, rule, min_agreeing)
        labelled = store_labelled_pairs(conn, rule, min_agreeing)
    if len(pool) == 0:
        raise BadInput("the pool is empty: every stored pair is labelled or held by an open round "
                       "(add candidates with `pairloop pool build` or `pairloop import`)")
    if size > len(pool):
        raise BadInput(f"a batch of {size} pairs is larger than the pool ({len(pool)} pairs)")
    coverage = check_vocabulary(model.featuriser, pool, "the pool")

    rng = np.random.default_rng(seed)
    vectors = model.featuriser.encode(pool.items)
    candidates, scored_on = _shortlist(model, strategy.shortlist, pool, vectors, max_candidates, rng, progress,
                                       shortlister or Shortlister())
    X_pool = model.featuriser.features(vectors, candidates.ia, candidates.ib)
    context = labelled.subset(np.sort(rng.permutation(len(labelled))[:MAX_CONTEXT]))
    X_labelled = model.featuriser.features(model.featuriser.encode(context.items), context.ia, context.ib)
    batch, notes = select_batch(strategy, model.committee, X_pool, X_labelled, candidates, size,
                                constraints, rng)

    params = {
        "size": size,
        "strategy": strategy.params(),
        "constraints": {"max_per_item": constraints.max_per_item, "per_category": constraints.per_category},
        "rule": rule.value,
        "min_agreeing": min_agreeing,
        "max_candidates": max_candidates,
    }
    metrics = {"pool": len(pool), "candidates": len(candidates), "selected": len(batch.index),
               "pool_coverage": round(coverage, 4), "scored_on": scored_on, **notes}
    return _record(engine, strategy.name, seed, classifier_version, params, metrics,
                   [candidates.keys[i] for i in batch.index], batch.score.tolist())


def _shortlist(model: RelationModel, how: str, pool: PairSet, vectors, limit: int, rng: np.random.Generator,
               progress, shortlister: Shortlister) -> tuple[PairSet, str]:
    """The whole pool when it is small; else its ``limit`` least certain (or random) pairs. With
    where the pool was scored."""
    if len(pool) <= limit:
        return pool, IN_PROCESS
    if how == "random":
        return pool.subset(np.sort(rng.choice(len(pool), limit, replace=False))), IN_PROCESS
    return pool.subset(shortlister.top(model, vectors, pool.ia, pool.ib, limit, progress)), shortlister.where


def _record(engine: Engine, strategy: str, seed: int, classifier_version: str | None,
            params: dict[str, Any], metrics: dict[str, Any], pair_ids: list[int], scores: list[float]) -> int:
    """The round row and its pairs in one transaction: a round is never half-written."""
    with engine.begin() as conn:
        round_id = conn.execute(
            insert(Round).values(state=RoundState.SELECTING, strategy=strategy, params=params, seed=seed,
                                 classifier_version=classifier_version, metrics=metrics)
            .returning(Round.id)
        ).scalar_one()
        conn.execute(insert(RoundPair), [
            {"round_id": round_id, "pair_id": pid, "rank": rank, "score": float(score),
             "status": RoundPairStatus.SELECTED}
            for rank, (pid, score) in enumerate(zip(pair_ids, scores, strict=True), start=1)
        ])
        conn.execute(update(Round).where(Round.id == round_id)
                     .values(state=RoundState.LABELLING, updated_at=datetime.now(UTC)))
    return round_id


def acquired_pair_ids(engine: Engine) -> set[int]:
    """Pairs that some round selected: their labels were bought by active learning."""
    with engine.connect() as conn:
        return set(conn.execute(select(RoundPair.pair_id).distinct()).scalars())

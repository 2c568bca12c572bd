"""Turn a strategy's ranking into a batch: per-item caps and per-category quotas.

KARL takes the hardest pair per fine category per round (``per_category=1``); a cap on the
pairs one item may appear in keeps a batch from spending its labels on one popular item.
A pair's category is the lexicographically first category path of its two items (pairs
built by ``active_learning.pools.stratified_pairs`` share a major category), none when
neither item has one — such pairs are under no quota.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from active_learning.strategies import QueryContext, Ranking, Strategy
from classifier.committee import RelationCommittee
from classifier.data import PairSet
from classifier.encoders import Matrix
from store.errors import BadInput

OVERSAMPLE = 4


@dataclass(frozen=True)
class Constraints:
    max_per_item: int | None = 2
    per_category: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.max_per_item or self.per_category)

    def ranking_length(self, n: int, pool_size: int) -> int:
        """How much of the pool a strategy should rank so that ``n`` pairs survive the constraints."""
        return min(pool_size, n * OVERSAMPLE if self.active else n)


def pair_category(pool: PairSet, i: int) -> str | None:
    paths = [p for p in (pool.items[pool.ia[i]].category_path, pool.items[pool.ib[i]].category_path) if p]
    return min(paths) if paths else None


def pick(ranking: Ranking, pool: PairSet, n: int, constraints: Constraints) -> Ranking:
    """The first ``n`` ranked pairs that respect the constraints, in ranking order."""
    per_item: Counter[int] = Counter()
    per_category: Counter[str] = Counter()
    chosen: list[int] = []
    for position, index in enumerate(ranking.index):
        a, b = int(pool.ia[index]), int(pool.ib[index])
        cap = constraints.max_per_item
        if cap and (per_item[a] >= cap or per_item[b] >= cap):
            continue
        category = pair_category(pool, int(index)) if constraints.per_category else None
        if category is not None and per_category[category] >= constraints.per_category:
            continue
        per_item[a] += 1
        per_item[b] += 1
        if category is not None:
            per_category[category] += 1
        chosen.append(position)
        if len(chosen) == n:
            break
    chosen_positions = np.asarray(chosen, dtype=np.int64)
    return Ranking(ranking.index[chosen_positions], ranking.score[chosen_positions])


def select_batch(strategy: Strategy, committee: RelationCommittee, X_pool: Matrix, X_labelled: Matrix,
                 pool: PairSet, n: int, constraints: Constraints,
                 rng: np.random.Generator) -> tuple[Ranking, dict[str, Any]]:
    """The strategy's ``n`` best pairs of ``pool`` under the constraints, and what it noted.

    Fewer than ``n`` come back only when the constraints leave no more eligible pairs.
    """
    if n < 1:
        raise BadInput(f"the batch size must be at least 1, got {n}")
    if n > len(pool):
        raise BadInput(f"a batch of {n} pairs is larger than the pool ({len(pool)} pairs left)", pool.source)
    context = QueryContext(committee, X_pool, X_labelled, rng, notes={})
    length = constraints.ranking_length(n, len(pool))
    batch = pick(strategy.query(context, length), pool, n, constraints)
    if len(batch.index) < n and length < len(pool):
        batch = pick(strategy.query(context, len(pool)), pool, n, constraints)
    return batch, context.notes or {}

"""Batches from rankings: per-item caps, per-category quotas, batch size checks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from active_learning.selection import Constraints, pair_category, pick, select_batch
from active_learning.strategies import Ranking, get_strategy
from classifier.data import PairSet
from store.errors import BadInput
from store.formats.records import CatalogueItem


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _star_pool() -> PairSet:
    """Item 0 is in every pair; items 1–9 alternate between two categories."""
    items = [CatalogueItem(0, "hub", "A > x")]
    items += [CatalogueItem(i, f"item {i}", "A > x" if i % 2 else "A > y") for i in range(1, 10)]
    return PairSet(items, np.zeros(9, dtype=np.int64), np.arange(1, 10), list(range(9)))


def _ranking(n: int) -> Ranking:
    return Ranking(np.arange(n), np.linspace(1, 0, n))


def test_no_item_appears_in_more_pairs_than_the_cap():
    pool = _star_pool()
    assert pick(_ranking(9), pool, 5, Constraints(max_per_item=2)).index.tolist() == [0, 1]
    assert pick(_ranking(9), pool, 5, Constraints(max_per_item=None)).index.tolist() == [0, 1, 2, 3, 4]


def test_per_category_quota_takes_the_best_pair_of_each_category():
    pool = _star_pool()
    assert pair_category(pool, 0) == "A > x" and pair_category(pool, 1) == "A > x"
    assert pair_category(pool, 1) == min("A > x", "A > y")
    chosen = pick(_ranking(9), pool, 9, Constraints(max_per_item=None, per_category=1))
    assert chosen.index.tolist() == [0]  # every pair contains the hub's category 'A > x'
    pool.items[0] = CatalogueItem(0, "hub", None)
    chosen = pick(_ranking(9), pool, 9, Constraints(max_per_item=None, per_category=1))
    assert chosen.index.tolist() == [0, 1]


def test_a_batch_larger_than_the_pool_or_empty_is_refused(sample_model, pool_context):
    pool, X_pool, X_labelled = pool_context
    with pytest.raises(BadInput, match=f"larger than the pool \\({len(pool)} pairs left\\)"):
        select_batch(get_strategy("margin"), sample_model.committee, X_pool, X_labelled, pool, len(pool) + 1,
                     Constraints(), rng())
    with pytest.raises(BadInput, match="at least 1"):
        select_batch(get_strategy("margin"), sample_model.committee, X_pool, X_labelled, pool, 0,
                     Constraints(), rng())


@pytest.mark.parametrize("name", ["margin", "dynamic", "random"])
def test_selected_batches_respect_the_cap(name, sample_model, pool_context):
    pool, X_pool, X_labelled = pool_context
    batch, _notes = select_batch(get_strategy(name), sample_model.committee, X_pool, X_labelled, pool, 60,
                                 Constraints(max_per_item=1), rng())
    assert len(batch.index) == 60
    uses = Counter(pool.ia[batch.index].tolist() + pool.ib[batch.index].tolist())
    assert max(uses.values()) == 1

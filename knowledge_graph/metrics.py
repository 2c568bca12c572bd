"""Ranking metrics with binary relevance, averaged over queries."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant)


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, key in enumerate(ranked[:k]) if key in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal


def evaluate(
    recommend: Callable[[str, int], Sequence[str]],
    queries: Mapping[str, set[str]],
    k: int = 10,
) -> dict[str, float]:
    """Mean recall@k and NDCG@k of ``recommend(item, k)`` over ``{item: relevant items}``."""
    recalls, ndcgs = [], []
    for item, relevant in queries.items():
        ranked = recommend(item, k)
        recalls.append(recall_at(ranked, relevant, k))
        ndcgs.append(ndcg_at(ranked, relevant, k))
    n = len(recalls)
    return {
        f"recall@{k}": round(sum(recalls) / n, 4) if n else 0.0,
        f"ndcg@{k}": round(sum(ndcgs) / n, 4) if n else 0.0,
        "queries": n,
    }

"""Ranking metrics with binary relevance, averaged over queries."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant)


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, key in enumerate(ranked[:k]) if key in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal


def score_rankings(rankings: Mapping[str, Sequence[str]], queries: Mapping[str, set[str]],
                   ks: Sequence[int]) -> dict[str, float]:
    """Mean recall@k and NDCG@k for each k, of rankings made once per trigger, over ``queries``."""
    n = len(queries)
    figures: dict[str, float] = {}
    for k in ks:
        for name, metric in (("recall", recall_at), ("ndcg", ndcg_at)):
            total = sum(metric(rankings[t], relevant, k) for t, relevant in queries.items())
            figures[f"{name}@{k}"] = round(total / n, 4) if n else 0.0
    figures["queries"] = n
    return figures

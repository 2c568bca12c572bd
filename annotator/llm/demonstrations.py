"""Retrieved demonstrations: the k human-verified pairs most like the pair asked about, shown
with their answers before it (nearest-neighbour in-context examples, Liu et al. 2022, "What
makes good in-context examples for GPT-3?").

The caller supplies the vectors (pair features it already computes) and the pool; the pool may
hold only human-verified labels and never a pair that is being asked about: :func:`retrieve`
refuses a pool that does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator.llm.base import PairText
from store.taxonomy import Relation, relation_of_fine

# A verified label without a fine code (a coarse majority, or an FBL2024 file) is shown with
# its relation's plainest statement.
PLAIN_CODE = {Relation.SUBSTITUTE: 1, Relation.COMPLEMENTARY: 7, Relation.UNRELATED: 8}


@dataclass(frozen=True)
class Demonstration:
    """A human-verified pair and its answer, ``fine_code`` reading item a → item b of ``pair``."""

    pair: PairText
    fine_code: int

    @classmethod
    def of(cls, pair: PairText, relation: Relation, fine_code: int | None) -> Demonstration:
        return cls(pair, fine_code or PLAIN_CODE[relation])


class LeakedDemonstration(ValueError):
    """A demonstration would show a pair that is being asked about (its human label)."""


def retrieve(
    queries: Sequence[str],
    query_vectors: Any,
    pool: Sequence[Demonstration],
    pool_vectors: Any,
    k: int,
) -> dict[str, list[Demonstration]]:
    """For each query key, the ``k`` pool demonstrations whose vectors have the highest cosine
    similarity to its own, most similar first. Rows of the vector matrices (dense or sparse)
    follow ``queries`` and ``pool``."""
    leaked = set(queries) & {d.pair.key for d in pool}
    if leaked:
        raise LeakedDemonstration(f"the demonstration pool holds {len(leaked)} of the pairs being asked "
                                  f"about, e.g. {sorted(leaked)[:5]}")
    if k < 1 or not pool or not queries:
        return {key: [] for key in queries}
    similarity = _rows_normalised(query_vectors) @ _rows_normalised(pool_vectors).T
    similarity = similarity.toarray() if hasattr(similarity, "toarray") else np.asarray(similarity)
    k = min(k, len(pool))
    top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    chosen: dict[str, list[Demonstration]] = {}
    for row, key in enumerate(queries):
        best = top[row][np.argsort(-similarity[row, top[row]], kind="stable")]
        chosen[key] = [pool[i] for i in best]
    return chosen


def _rows_normalised(matrix: Any) -> Any:
    from sklearn.preprocessing import normalize

    return normalize(matrix, norm="l2", axis=1)


def neighbours_vote(shown: Sequence[Demonstration]) -> Relation:
    """The relation most of ``shown`` carry, a tie going to the most similar one's: what the
    demonstrations answer by themselves, the baseline a proposer that reads them must beat."""
    relations = [relation_of_fine(d.fine_code) for d in shown]
    return max(relations, key=lambda r: (relations.count(r), -relations.index(r)))

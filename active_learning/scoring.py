"""Score a pool too large to featurise at once: chunk by chunk, keeping only the best ``k``.

The best ``k`` are the smallest committee margins, ties broken by pool position (the smaller
first), at every step: so a pool cut into blocks anywhere — chunks here, Ray blocks in
:mod:`active_learning.distributed` — gives the same ``k`` once the blocks' bests are merged
with :func:`merge_top`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from classifier.features import CHUNK, ItemVectors
from classifier.model import RelationModel


@dataclass(frozen=True)
class TopCandidates:
    """Pool positions and margins, smallest margin first (ties: smaller position first)."""

    position: np.ndarray
    margin: np.ndarray

    @classmethod
    def empty(cls) -> TopCandidates:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.position)


def margins(proba: np.ndarray) -> np.ndarray:
    """Gap between the two likeliest classes per row (small: uncertain)."""
    top_two = np.partition(proba, proba.shape[1] - 2, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def merge_top(parts: Iterable[TopCandidates], k: int) -> TopCandidates:
    """The ``k`` best of several parts' candidates (positions are unique across parts)."""
    parts = list(parts)
    position = np.concatenate([p.position for p in parts] or [TopCandidates.empty().position])
    margin = np.concatenate([p.margin for p in parts] or [TopCandidates.empty().margin])
    if len(margin) > k > 0:  # sort only what can make the cut: margins up to the k-th smallest, ties included
        keep = margin <= np.partition(margin, k - 1)[k - 1]
        position, margin = position[keep], margin[keep]
    order = np.lexsort((position, margin))[:k]
    return TopCandidates(position[order].astype(np.int64), margin[order].astype(np.float32))


def top_by_margin(model: RelationModel, vectors: ItemVectors, ia: np.ndarray, ib: np.ndarray, k: int,
                  chunk: int = CHUNK, progress: Callable[[int], None] | None = None,
                  offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positions and margins of the ``k`` pairs with the smallest committee margin, smallest first.

    Positions count from ``offset`` (a block's first position in its pool). Memory stays at one
    chunk of features plus ``k`` candidates, whatever the pool size.
    """
    best = TopCandidates.empty()
    for start, member_proba in model.member_proba_chunks(vectors, ia, ib, chunk):
        margin = margins(member_proba.mean(axis=0)).astype(np.float32)
        block = TopCandidates(np.arange(offset + start, offset + start + len(margin), dtype=np.int64), margin)
        best = merge_top([best, block], k)
        if progress:
            progress(len(margin))
    return best.position, best.margin

"""Score a pool too large to featurise at once: chunk by chunk, keeping only the best ``k``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from classifier.features import CHUNK, ItemVectors
from classifier.model import RelationModel


def margins(proba: np.ndarray) -> np.ndarray:
    """Gap between the two likeliest classes per row (small: uncertain)."""
    top_two = np.partition(proba, proba.shape[1] - 2, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def top_by_margin(model: RelationModel, vectors: ItemVectors, ia: np.ndarray, ib: np.ndarray, k: int,
                  chunk: int = CHUNK, progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions and margins of the ``k`` pairs with the smallest committee margin, smallest first.

    Memory stays at one chunk of features plus ``k`` candidates, whatever the pool size.
    """
    best = np.empty(0, dtype=np.int64)
    best_margin = np.empty(0, dtype=np.float32)
    for start, member_proba in model.member_proba_chunks(vectors, ia, ib, chunk):
        margin = margins(member_proba.mean(axis=0))
        best = np.concatenate([best, np.arange(start, start + len(margin))])
        best_margin = np.concatenate([best_margin, margin.astype(np.float32)])
        if len(best) > k:
            keep = np.argpartition(best_margin, k - 1)[:k]
            best, best_margin = best[keep], best_margin[keep]
        if progress:
            progress(len(margin))
    order = np.lexsort((best, best_margin))
    return best[order], best_margin[order]

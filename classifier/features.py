"""Pair features that do not depend on the order of the two items.

Items are encoded once (:meth:`PairFeaturiser.encode`); a chunk of pairs then costs two row
gathers and a few element-wise operations (:mod:`classifier.scoring` scores pairs without
even assembling these features). The default parts are ``|a-b|`` and ``a*b``
(what the items do not share, and what they share); ``a+b`` (which kinds of items these are)
is optional: it raises in-distribution scores a little and generalises worse to a new
catalogue. Three category columns are added: same category path, same major category,
both categories known (all zero for items without categories).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from classifier.encoders import ItemEncoder, Matrix
from store.formats.records import CatalogueItem

PARTS = ("sum", "diff", "prod")
DEFAULT_PARTS = ("diff", "prod")
CHUNK = 10_000  # pairs per chunk: small enough to stay in cache, large enough for numpy


@dataclass
class ItemVectors:
    """Encoded items: one vector row per item, and integer category codes (-1: none)."""

    matrix: Matrix
    category: np.ndarray
    major: np.ndarray

    def __len__(self) -> int:
        return self.matrix.shape[0]


def _codes(values: Sequence[str | None]) -> np.ndarray:
    table: dict[str, int] = {}
    return np.array([-1 if v is None else table.setdefault(v, len(table)) for v in values], dtype=np.int64)


class PairFeaturiser:
    def __init__(self, encoder: ItemEncoder, parts: Sequence[str] = DEFAULT_PARTS, categories: bool = True):
        unknown = set(parts) - set(PARTS)
        if unknown or not parts:
            raise ValueError(f"pair feature parts must be among {PARTS}, got {list(parts)}")
        self.encoder = encoder
        self.parts = tuple(parts)
        self.categories = categories

    def fit(self, items: Sequence[CatalogueItem]) -> PairFeaturiser:
        self.encoder.fit([item.text for item in items])
        return self

    def encode(self, items: Sequence[CatalogueItem], progress=None) -> ItemVectors:
        matrix = self.encoder.transform([item.text for item in items], progress)
        return ItemVectors(matrix, _codes([i.category_path for i in items]), _codes([i.major_category for i in items]))

    def coverage(self, items: Sequence[CatalogueItem]) -> np.ndarray:
        return self.encoder.coverage([item.text for item in items])

    def features(self, vectors: ItemVectors, ia: np.ndarray, ib: np.ndarray) -> Matrix:
        """Features of the pairs ``(ia[i], ib[i])``; call it on chunks of a large pool."""
        a, b = vectors.matrix[ia], vectors.matrix[ib]
        sparse = sp.issparse(a)
        blocks: list[Matrix] = []
        for part in self.parts:
            if part == "sum":
                blocks.append(a + b)
            elif part == "diff":
                blocks.append(abs(a - b))
            else:
                blocks.append(a.multiply(b) if sparse else a * b)
        if self.categories:
            blocks.append(self.category_columns(vectors, ia, ib))
        return sp.hstack(blocks, format="csr") if sparse else np.hstack(blocks)

    @staticmethod
    def category_columns(vectors: ItemVectors, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        ca, cb, ma, mb = vectors.category[ia], vectors.category[ib], vectors.major[ia], vectors.major[ib]
        known = (ca >= 0) & (cb >= 0)
        columns = np.column_stack([known & (ca == cb), (ma >= 0) & (mb >= 0) & (ma == mb), known])
        return columns.astype(np.float32)

    def settings(self) -> dict[str, Any]:
        return {**self.encoder.settings(), "parts": list(self.parts), "categories": self.categories}

"""Committee logits for item pairs without building the pair feature matrix (exact).

For non-negative sparse item vectors (TF-IDF) every part of the pair features is linear in
per-item terms plus one term on the n-grams both items share:

    |a − b| = a + b − 2·min(a, b)        a + b = a + b        a ∘ b (shared only)

so ``X @ W`` = ``U[a] + U[b] + (a ∘ b) @ W_prod − 2·min(a, b) @ W_diff`` with
``U = items @ (W_sum + W_diff)`` computed once per item. A chunk of pairs then costs two row
gathers and two element-wise products over the (few) shared n-grams, instead of assembling
a wide sparse matrix. Dense encoders take the plain path (features, then one product).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from classifier.committee import RelationCommittee
from classifier.features import ItemVectors, PairFeaturiser


class PairScorer:
    def __init__(self, featuriser: PairFeaturiser, committee: RelationCommittee, vectors: ItemVectors):
        self.featuriser, self.committee, self.vectors = featuriser, committee, vectors
        matrix = vectors.matrix
        self.linear = sp.issparse(matrix) and (matrix.nnz == 0 or matrix.data.min() >= 0)
        if not self.linear:
            return
        W = committee.coef_stack_
        width = matrix.shape[1]
        block = {part: W[k * width : (k + 1) * width] for k, part in enumerate(featuriser.parts)}
        zero = np.zeros((width, W.shape[1]), dtype=np.float32)
        self.per_item = np.asarray(matrix @ (block.get("sum", zero) + block.get("diff", zero)), dtype=np.float32)
        self.w_prod = block.get("prod")
        self.w_min = -2.0 * block["diff"] if "diff" in block else None
        self.w_category = W[len(featuriser.parts) * width :]

    def logits(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """(pairs, members·classes) logits, as ``committee`` computes them on the pair features."""
        if not self.linear:
            X = self.featuriser.features(self.vectors, ia, ib)
            return np.asarray(X @ self.committee.coef_stack_) + self.committee.intercept_stack_
        out = self.per_item[ia] + self.per_item[ib] + self.committee.intercept_stack_
        a, b = self.vectors.matrix[ia], self.vectors.matrix[ib]
        if self.w_prod is not None:
            out += a.multiply(b) @ self.w_prod
        if self.w_min is not None:
            out += a.minimum(b) @ self.w_min
        if self.featuriser.categories:
            out += PairFeaturiser.category_columns(self.vectors, ia, ib) @ self.w_category
        return out

    def member_proba(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        return self.committee.proba_from_logits(self.logits(ia, ib))

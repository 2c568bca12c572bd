"""Committee logits for item pairs without building the pair feature matrix (exact).

For non-negative sparse item vectors (TF-IDF) every part of the pair features is linear in
per-item terms plus one term on the n-grams both items share:

    |a − b| = a + b − 2·min(a, b)        a + b = a + b        a ∘ b (shared only)

so ``X @ W`` = ``U[a] + U[b] + (a ∘ b) @ W_prod − 2·min(a, b) @ W_diff`` with
``U = items @ (W_sum + W_diff)`` computed once per item. A pair then costs two row reads and
one merge of the two items' sorted n-gram lists (:func:`_pair_logits`, compiled by numba and
run in parallel over the pairs), instead of assembling a wide sparse matrix. Dense encoders
take the plain path (features, then one product).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from classifier.committee import RelationCommittee
from classifier.features import ItemVectors, PairFeaturiser


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _pair_logits(indptr, indices, data, per_item, w_shared, bias, category, major, w_category, ia, ib, out,
                 blocks):  # pragma: no cover - compiled
    """``out[p] = bias + U[a] + U[b] + Σ_shared [a·b, min(a, b)] · W_shared + categories · W_category``.

    ``w_shared[t]`` holds n-gram t's product and min weights side by side, so a shared n-gram
    costs one contiguous row read. Rows are merged in n-gram order (sorted CSR indices). Each
    of ``blocks`` threads takes a contiguous run of pairs and one accumulator.
    """
    n, width = len(ia), out.shape[1]
    for block in numba.prange(blocks):
        acc = np.empty(width, dtype=np.float32)
        for p in range(block * n // blocks, (block + 1) * n // blocks):
            i, j = ia[p], ib[p]
            for c in range(width):
                acc[c] = bias[c] + per_item[i, c] + per_item[j, c]
            if category[i] >= 0 and category[j] >= 0:  # same path, same major category, both known
                same_path = 1.0 if category[i] == category[j] else 0.0
                for c in range(width):
                    acc[c] += same_path * w_category[0, c] + w_category[2, c]
            if major[i] >= 0 and major[i] == major[j]:
                for c in range(width):
                    acc[c] += w_category[1, c]
            ka, end_a, kb, end_b = indptr[i], indptr[i + 1], indptr[j], indptr[j + 1]
            while ka < end_a and kb < end_b:
                ta, tb = indices[ka], indices[kb]
                if ta == tb:
                    va, vb = data[ka], data[kb]
                    product, low = va * vb, min(va, vb)
                    for c in range(width):
                        acc[c] += product * w_shared[ta, 0, c] + low * w_shared[ta, 1, c]
                    ka += 1
                    kb += 1
                elif ta < tb:
                    ka += 1
                else:
                    kb += 1
            for c in range(width):
                out[p, c] = acc[c]


class PairScorer:
    def __init__(self, featuriser: PairFeaturiser, committee: RelationCommittee, vectors: ItemVectors):
        self.featuriser, self.committee, self.vectors = featuriser, committee, vectors
        matrix = vectors.matrix
        self.linear = sp.issparse(matrix) and (matrix.nnz == 0 or matrix.data.min() >= 0)
        if not self.linear:
            return
        matrix = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        matrix.sum_duplicates()  # sorted, one entry per n-gram: _pair_logits merges rows in n-gram order
        self.csr = matrix
        W = committee.coef_stack_
        width = matrix.shape[1]
        block = {part: W[k * width : (k + 1) * width] for k, part in enumerate(featuriser.parts)}
        zero = np.zeros((width, W.shape[1]), dtype=np.float32)
        self.per_item = np.ascontiguousarray(matrix @ (block.get("sum", zero) + block.get("diff", zero)),
                                             dtype=np.float32)
        w_min = -2.0 * block.get("diff", zero)
        self.w_shared = np.ascontiguousarray(np.stack([block.get("prod", zero), w_min], axis=1), dtype=np.float32)
        w_category = W[len(featuriser.parts) * width :]
        self.w_category = np.ascontiguousarray(w_category if featuriser.categories else np.zeros((3, W.shape[1])),
                                               dtype=np.float32)

    def logits(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """(pairs, members·classes) logits, as ``committee`` computes them on the pair features."""
        if not self.linear:
            X = self.featuriser.features(self.vectors, ia, ib)
            return np.asarray(X @ self.committee.coef_stack_) + self.committee.intercept_stack_
        out = np.empty((len(ia), self.per_item.shape[1]), dtype=np.float32)
        _pair_logits(self.csr.indptr, self.csr.indices, self.csr.data, self.per_item, self.w_shared,
                     self.committee.intercept_stack_, self.vectors.category, self.vectors.major, self.w_category,
                     np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64), out, numba.get_num_threads())
        return out

    def member_proba(self, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        return self.committee.proba_from_logits(self.logits(ia, ib))

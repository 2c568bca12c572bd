"""KARL's relation model: a committee of logistic regressions on class-balanced downsamples.

Each member sees every class equally often (each class randomly downsampled to the size of
the rarest), so no member is swamped by "unrelated"; averaging the members smooths the
variance the downsampling adds, and their disagreement is what query-by-committee measures.

``fit(..., priority=mask)`` marks samples every member keeps (the labels bought in
active-learning rounds): a member's share of a class is the class's priority samples first,
topped up with a random draw of the rest. Downsampling then drops only plentiful seed labels,
never the scarce new ones — on FBL's out-of-distribution pool this is what lets 300 new
labels move a model trained on thousands of seed labels (README, "Active learning results").

The members' weights are also kept stacked in one matrix, so scoring a chunk of a pool is
one matrix product for the whole committee (:meth:`RelationCommittee.member_proba`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data


class RelationCommittee(ClassifierMixin, BaseEstimator):
    """N logistic regressions, each fitted on a class-balanced random downsample; mean probabilities.

    ``solver="newton-cg"``: on these wide sparse pair features it converges in a handful of
    iterations where lbfgs needs tens of slow ones (same optimum).
    """

    def __init__(self, n_members: int = 10, C: float = 10.0, max_iter: int = 500, tol: float = 1e-4,
                 solver: str = "newton-cg", random_state: int | None = 0):
        self.n_members = n_members
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, priority=None) -> RelationCommittee:
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32])
        priority = np.zeros(len(y), dtype=bool) if priority is None else np.asarray(priority, dtype=bool)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"the committee needs at least two classes, got {self.classes_.tolist()}")
        if self.n_members < 1:
            raise ValueError("n_members must be at least 1")
        rng = np.random.default_rng(self.random_state)
        by_class = [np.flatnonzero(encoded == k) for k in range(len(self.classes_))]
        size = min(len(members) for members in by_class)
        self.estimators_ = []
        for _ in range(self.n_members):
            sample = np.sort(np.concatenate([_draw(m, priority[m], size, rng) for m in by_class]))
            weights = None if sample_weight is None else np.asarray(sample_weight)[sample]
            member = LogisticRegression(C=self.C, max_iter=self.max_iter, tol=self.tol, solver=self.solver)
            self.estimators_.append(member.fit(X[sample], encoded[sample], sample_weight=weights))
        self._stack()
        return self

    def _stack(self) -> None:
        """All members' weights as one (features × members·classes) matrix and one bias row."""
        coefs, biases = [], []
        for member in self.estimators_:
            coef, bias = member.coef_, member.intercept_
            if coef.shape[0] == 1:  # binary: sigmoid(z) == softmax([-z/2, z/2])
                coef, bias = np.vstack([-coef / 2, coef / 2]), np.array([-bias[0] / 2, bias[0] / 2])
            coefs.append(coef)
            biases.append(bias)
        self.coef_stack_ = np.vstack(coefs).T.astype(np.float32)
        self.intercept_stack_ = np.concatenate(biases).astype(np.float32)

    def member_proba(self, X) -> np.ndarray:
        """Each member's class probabilities, shape (n_members, n_samples, n_classes)."""
        check_is_fitted(self, "coef_stack_")
        if not sp.issparse(X):
            X = np.asarray(X, dtype=np.float32)
        if X.shape[1] != self.coef_stack_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features, the committee was fitted with "
                             f"{self.coef_stack_.shape[0]}")
        return self.proba_from_logits(np.asarray(X @ self.coef_stack_) + self.intercept_stack_)

    def proba_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """Stacked logits (samples, members·classes) → probabilities (members, samples, classes).

        A softmax per member; the reductions loop over the (few) classes, which numpy does
        several times faster than reducing a length-3 last axis.
        """
        z = logits.reshape(logits.shape[0], len(self.estimators_), len(self.classes_))
        top = z[:, :, 0].copy()
        for k in range(1, z.shape[2]):
            np.maximum(top, z[:, :, k], out=top)
        e = np.exp(z - top[:, :, None])
        total = e[:, :, 0].copy()
        for k in range(1, z.shape[2]):
            total += e[:, :, k]
        e /= total[:, :, None]
        return e.transpose(1, 0, 2)

    def predict_proba(self, X) -> np.ndarray:
        return self.member_proba(X).mean(axis=0)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _draw(members: np.ndarray, kept: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` of a class's sample indices: its priority samples first, then a random draw."""
    first = members[kept]
    if len(first) >= size:
        return rng.choice(first, size, replace=False)
    return np.concatenate([first, rng.choice(members[~kept], size - len(first), replace=False)])

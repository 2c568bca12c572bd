"""KARL's relation model: a committee of logistic regressions on class-balanced downsamples.

Each member sees every class equally often (each class randomly downsampled to the size of
the rarest), so no member is swamped by "unrelated"; averaging the members smooths the
variance the downsampling adds, and their disagreement is what query-by-committee measures.

``fit(..., priority=mask)`` marks samples every member keeps (the labels bought in
active-learning rounds): a member's share of a class is the class's priority samples first,
topped up with a random draw of the rest. Downsampling then drops only plentiful seed labels,
never the scarce new ones — on FBL's out-of-distribution pool this is what lets 300 new
labels move a model trained on thousands of seed labels (docs/results/fbl-ood/README.md).

``fit(..., domain=gate)`` adds a learned domain gate (Daumé III's "frustratingly easy"
feature augmentation, with a soft domain): a :class:`DomainGate` tells pairs of the target
domain (the pool being labelled) from the source (labels from elsewhere) by their features
alone, and every member is fitted on ``[x, g(x)·x]``. A pair's logits are then
``x·W + g(x)·x·V``: what the target labels teach that contradicts the source labels can go
into ``V``, which source pairs (``g`` near 0) hardly see, so new labels from another
catalogue move the in-distribution boundary far less (docs/results/fbl-ood/README.md).

The members' weights are also kept stacked in one matrix, so scoring a chunk of a pool is
one matrix product for the whole committee (:meth:`RelationCommittee.member_proba`); with a
gate, the matrix holds ``W``, ``V`` and the gate's weights side by side, and
:meth:`RelationCommittee.proba_from_logits` combines them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted, validate_data


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class DomainGate:
    """P(target domain | pair features): a logistic regression telling target rows from source rows.

    Source: labelled pairs from elsewhere (the seed labels); target: the pairs of the pool
    being labelled, answered or not. ``fit`` also keeps cross-fitted (out-of-fold) gate values
    for its own rows, so that the committee trains on gates like those of pairs it never saw
    (in-sample gates would sit nearer 0 and 1). ``C=10`` was chosen among 0.1, 1 and 10 by the
    cross-validated AUC of FBL2023 seed pairs against the FBL2024-dev pool (no test set).
    """

    def __init__(self, C: float = 10.0, folds: int = 5, max_iter: int = 1000, random_state: int = 0):
        self.C, self.folds, self.max_iter, self.random_state = C, folds, max_iter, random_state

    def _model(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight="balanced")

    def fit(self, X_source, X_target) -> DomainGate:
        n_source, n_target = X_source.shape[0], X_target.shape[0]
        if min(n_source, n_target) < self.folds:
            raise ValueError(f"a domain gate needs at least {self.folds} source and target rows, "
                             f"got {n_source} and {n_target}")
        X = sp.vstack([X_source, X_target], format="csr") if sp.issparse(X_source) else np.vstack([X_source, X_target])
        d = np.r_[np.zeros(n_source, dtype=np.int64), np.ones(n_target, dtype=np.int64)]
        oof = np.empty(len(d))
        for train, held in StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state).split(X, d):
            oof[held] = self._model().fit(X[train], d[train]).decision_function(X[held])
        final = self._model().fit(X, d)
        self.coef_ = final.coef_[0].astype(np.float32)
        self.intercept_ = float(final.intercept_[0])
        self.source_gate_, self.target_gate_ = _sigmoid(oof[:n_source]), _sigmoid(oof[n_source:])
        return self

    def gate(self, X) -> np.ndarray:
        return _sigmoid(np.asarray(X @ self.coef_, dtype=np.float64).ravel() + self.intercept_)


def learn_domain_gate(X_source, X_target) -> DomainGate | None:
    """A fitted :class:`DomainGate`, or None when a side has fewer rows than its folds."""
    gate = DomainGate()
    if min(X_source.shape[0], X_target.shape[0]) < gate.folds:
        return None
    return gate.fit(X_source, X_target)

def _augment(X, gate: np.ndarray):
    """``[x, g·x]`` per row."""
    if sp.issparse(X):
        return sp.hstack([X, sp.diags(gate) @ X], format="csr")
    return np.hstack([X, X * gate[:, None]])


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

    def fit(self, X, y, sample_weight=None, priority=None, domain: DomainGate | None = None,
            gate=None) -> RelationCommittee:
        """``domain``: a fitted :class:`DomainGate`; ``gate``: its values for the rows of ``X``
        (its cross-fitted ones where the rows were its own; default ``domain.gate(X)``)."""
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32])
        priority = np.zeros(len(y), dtype=bool) if priority is None else np.asarray(priority, dtype=bool)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"the committee needs at least two classes, got {self.classes_.tolist()}")
        if self.n_members < 1:
            raise ValueError("n_members must be at least 1")
        self.domain_ = domain
        if domain is not None:
            gate = domain.gate(X) if gate is None else np.asarray(gate, dtype=np.float64)
            if gate.shape != (len(y),):
                raise ValueError(f"gate has shape {gate.shape}, expected ({len(y)},)")
            X = _augment(X, gate)
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
        """All members' weights as one (features × members·classes) matrix and one bias row.

        With a domain gate: ``[W | V | gate]``, (features × 2·members·classes + 1), and the
        biases ``[b | 0 | gate bias]``.
        """
        coefs, biases = [], []
        for member in self.estimators_:
            coef, bias = member.coef_, member.intercept_
            if coef.shape[0] == 1:  # binary: sigmoid(z) == softmax([-z/2, z/2])
                coef, bias = np.vstack([-coef / 2, coef / 2]), np.array([-bias[0] / 2, bias[0] / 2])
            coefs.append(coef)
            biases.append(bias)
        stacked, bias = np.vstack(coefs).T, np.concatenate(biases)
        if self.domain_ is not None:
            width = stacked.shape[0] // 2
            stacked = np.hstack([stacked[:width], stacked[width:], self.domain_.coef_[:, None]])
            bias = np.r_[bias, np.zeros(len(bias)), self.domain_.intercept_]
        self.coef_stack_ = stacked.astype(np.float32)
        self.intercept_stack_ = bias.astype(np.float32)

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
        several times faster than reducing a length-3 last axis. With a domain gate the logits
        are ``[x·W | x·V | gate logit]`` and combine to ``x·W + g·x·V``.
        """
        width = len(self.estimators_) * len(self.classes_)
        if getattr(self, "domain_", None) is not None:
            gate = _sigmoid(logits[:, 2 * width]).astype(logits.dtype)
            logits = logits[:, :width] + gate[:, None] * logits[:, width : 2 * width]
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

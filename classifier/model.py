"""A trained relation model: the pair featuriser and the committee, used together.

Scoring a pool never builds its whole feature matrix: items are encoded once, then pairs
are featurised and scored ``chunk`` at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from classifier.committee import RelationCommittee, learn_domain_gate
from classifier.data import PairSet
from classifier.encoders import make_encoder
from classifier.features import CHUNK, DEFAULT_PARTS, ItemVectors, PairFeaturiser
from classifier.scoring import PairScorer
from store.errors import BadInput

# An item "shares the vocabulary" when at least this share of its tokens is known.
MIN_ITEM_COVERAGE = 0.5
# At most this many unlabelled pool pairs stand for the target domain of the domain gate.
DOMAIN_SAMPLE = 20_000


def make_featuriser(features: str = "tfidf", parts=DEFAULT_PARTS, **encoder_params: Any) -> PairFeaturiser:
    return PairFeaturiser(make_encoder(features, **encoder_params), parts)


@dataclass
class RelationModel:
    featuriser: PairFeaturiser
    committee: RelationCommittee

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.committee.classes_]

    @classmethod
    def train(cls, labelled: PairSet, featuriser: PairFeaturiser, committee: RelationCommittee | None = None,
              priority: np.ndarray | None = None, pool: PairSet | None = None, seed: int = 0) -> RelationModel:
        """Fit the featuriser on the labelled items' texts, then the committee.

        ``priority`` marks labels every committee member keeps (see :class:`RelationCommittee`):
        the labels bought in rounds. ``pool``: the unlabelled pairs rounds select from; with it
        and priority labels the committee learns a domain gate whose target is the pool (up
        to ``DOMAIN_SAMPLE`` of its pairs, drawn with ``seed``) and the priority labels, and
        whose source is the other labels — as the simulator does with its seed and pool.
        Without priority labels there is nothing for the gate to keep apart: no gate.
        """
        featuriser.fit(labelled.items)
        model = cls(featuriser, committee or RelationCommittee())
        X = featuriser.features(featuriser.encode(labelled.items), labelled.ia, labelled.ib)
        y = labelled.labels.astype(str)
        acquired = np.zeros(len(labelled), dtype=bool) if priority is None else np.asarray(priority, dtype=bool)
        domain = None
        if pool is not None and acquired.any():
            if len(pool) > DOMAIN_SAMPLE:
                pool = pool.subset(np.sort(np.random.default_rng(seed).choice(len(pool), DOMAIN_SAMPLE, replace=False)))
            target = [X[acquired]]
            if len(pool):
                target.append(featuriser.features(featuriser.encode(pool.items), pool.ia, pool.ib))
            X_target = sp.vstack(target, format="csr") if sp.issparse(X) else np.vstack(target)
            domain = learn_domain_gate(X[~acquired], X_target)
        if domain is None:
            model.committee.fit(X, y, priority=priority)
            return model
        gate = np.empty(len(y))
        gate[~acquired], gate[acquired] = domain.source_gate_, domain.target_gate_[: int(acquired.sum())]
        model.committee.fit(X, y, priority=acquired, domain=domain, gate=gate)
        return model

    def member_proba_chunks(self, vectors: ItemVectors, ia: np.ndarray, ib: np.ndarray,
                            chunk: int = CHUNK) -> Iterator[tuple[int, np.ndarray]]:
        """(start, member probabilities) per chunk of pairs: shape (members, chunk, classes)."""
        scorer = PairScorer(self.featuriser, self.committee, vectors)
        for start in range(0, len(ia), chunk):
            yield start, scorer.member_proba(ia[start : start + chunk], ib[start : start + chunk])

    def member_proba(self, vectors: ItemVectors, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        parts = [p for _start, p in self.member_proba_chunks(vectors, ia, ib)]
        if not parts:
            return np.zeros((self.committee.n_members, 0, len(self.classes)), dtype=np.float32)
        return np.concatenate(parts, axis=1)

    def predict_proba(self, pairs: PairSet, vectors: ItemVectors | None = None) -> np.ndarray:
        vectors = vectors if vectors is not None else self.featuriser.encode(pairs.items)
        return self.member_proba(vectors, pairs.ia, pairs.ib).mean(axis=0)

    def predict(self, pairs: PairSet, vectors: ItemVectors | None = None) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[self.predict_proba(pairs, vectors).argmax(axis=1)]

    def settings(self) -> dict[str, Any]:
        return self.featuriser.settings()


def check_vocabulary(featuriser: PairFeaturiser, pairs: PairSet, what: str) -> float:
    """The share of the pairs' items the featuriser can represent; a clear error when it is none.

    A pool or test file in a language or catalogue the featuriser never saw would otherwise be
    scored from all-zero vectors, silently.
    """
    if len(pairs.items) == 0:
        raise BadInput(f"{what} is empty: no item pairs to score", pairs.source)
    coverage = featuriser.coverage(pairs.items)
    covered = float((coverage >= MIN_ITEM_COVERAGE).mean())
    if covered == 0.0:
        raise BadInput(
            f"{what} shares no items with the featuriser's vocabulary (best item: "
            f"{coverage.max():.0%} of its tokens known, {MIN_ITEM_COVERAGE:.0%} needed): "
            "is it another language or catalogue than the labels the model was trained on?",
            pairs.source,
        )
    return covered

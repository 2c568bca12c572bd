"""The offline simulator: seed labels, a pool whose answers an oracle reveals, a test set.

Every round the committee is retrained on the seed plus the answers so far, the strategy
picks a batch from what is left of the pool, and macro-F1 on the test set (and, if given,
on an in-distribution test set) is recorded. The featuriser is fitted once, on the seed's
items, and every item is encoded once: a round costs one committee fit and one query.

With ``domain_gate`` (the default) a :class:`~classifier.committee.DomainGate` learns, once,
to tell the pool's pairs (target) from the seed's (source); every committee fitted on
acquired labels uses it (see :class:`~classifier.committee.RelationCommittee`), as
``pairloop train`` does with the store's pool and round labels.

A pool left larger than ``max_candidates`` is cut, each round, to its least certain pairs
before the strategy looks at it, as a round in the store is (:func:`active_learning.rounds.select_round`):
by a :class:`~active_learning.distributed.Shortlister`, in this process or on Ray, with the
same result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from active_learning.distributed import Shortlister
from active_learning.oracle import Oracle
from active_learning.pools import without_keys
from active_learning.rounds import MAX_CANDIDATES
from active_learning.selection import Constraints, select_batch
from active_learning.stopping import STOPPING_SET, KappaAverage, MaxRounds
from active_learning.strategies import get_strategy
from classifier.committee import RelationCommittee, learn_domain_gate
from classifier.data import PairSet
from classifier.encoders import Matrix
from classifier.evaluation import macro_f1
from classifier.model import RelationModel, check_vocabulary, make_featuriser
from store.errors import BadInput


@dataclass
class SimulationData:
    seed: PairSet  # labelled pairs the first model is trained on
    pool: PairSet  # candidate pairs; their answers come from the oracle only
    test: PairSet  # labelled pairs macro-F1 is measured on
    id_test: PairSet | None = None  # optional in-distribution test set


@dataclass
class SimulationConfig:
    rounds: int = 10
    batch_size: int = 30
    features: str = "tfidf"
    constraints: Constraints = field(default_factory=Constraints)
    committee: dict[str, Any] = field(default_factory=dict)
    kappa: float = 0.99
    kappa_window: int = 3
    # Every committee member keeps all acquired labels (see RelationCommittee.fit's priority).
    keep_acquired: bool = True
    # The committee learns a domain gate (seed: source, pool: target); see RelationCommittee.fit.
    domain_gate: bool = True
    # A pool left larger than this is shortlisted by committee margin before the strategy queries it.
    max_candidates: int = MAX_CANDIDATES


def _stack(blocks: Sequence[Matrix]) -> Matrix:
    return sp.vstack(blocks, format="csr") if sp.issparse(blocks[0]) else np.vstack(blocks)


class Simulator:
    """Holds the fitted featuriser and every pair's features; runs (strategy, seed) simulations."""

    def __init__(self, data: SimulationData, config: SimulationConfig, shortlister: Shortlister | None = None):
        # A pool pair that is also a seed or test pair (or its mirror) is never a candidate.
        known = set(data.seed.keys) | set(data.test.keys) | set(data.id_test.keys if data.id_test else ())
        pool = without_keys(data.pool, known)
        self.excluded = len(data.pool) - len(pool)
        data = SimulationData(data.seed, pool, data.test, data.id_test)
        self.data, self.config, self.shortlister = data, config, shortlister or Shortlister()
        self.shortlisted = 0  # rounds whose pool was shortlisted (by self.shortlister)
        if len(data.pool) == 0:
            raise BadInput("the pool is empty: no candidate pairs to select from"
                           + (f" ({self.excluded} are seed or test pairs)" if self.excluded else ""), data.pool.source)
        if config.batch_size > len(data.pool):
            raise BadInput(f"a batch of {config.batch_size} pairs is larger than the pool "
                           f"({len(data.pool)} pairs)", data.pool.source)
        self.featuriser = make_featuriser(config.features).fit(data.seed.items)
        self.pool_coverage = check_vocabulary(self.featuriser, data.pool, "the pool")
        check_vocabulary(self.featuriser, data.test, "the test file")
        self.X_seed = self._features(data.seed)
        self.pool_vectors = self.featuriser.encode(data.pool.items)
        self.X_pool = self.featuriser.features(self.pool_vectors, data.pool.ia, data.pool.ib)
        self.X_test = self._features(data.test)
        self.X_id = self._features(data.id_test) if data.id_test is not None else None
        self.domain = learn_domain_gate(self.X_seed, self.X_pool) if config.domain_gate else None

    def _features(self, pairs: PairSet) -> Matrix:
        return self.featuriser.features(self.featuriser.encode(pairs.items), pairs.ia, pairs.ib)

    def run(self, strategy_name: str, seed: int, oracle: Oracle,
            on_round: Callable[[], None] | None = None) -> dict[str, Any]:
        """One learning curve: round 0 (seed only) and ``rounds`` acquisition rounds."""
        config, data = self.config, self.data
        strategy = get_strategy(strategy_name)
        rng = np.random.default_rng(seed)
        rounds, stopping = MaxRounds(config.rounds), KappaAverage(config.kappa, config.kappa_window)
        stopping_set = np.sort(np.random.default_rng(seed).permutation(len(data.pool))[:STOPPING_SET])
        remaining = np.arange(len(data.pool))
        acquired: list[int] = []
        answers: list[str] = []
        asked, stop_round, notes = 0, None, {}
        points: list[dict[str, Any]] = []
        for round_number in range(config.rounds + 1):
            X_labelled, committee = self._fit(acquired, answers, seed * 1000 + round_number)
            kappa = stopping.update(committee.predict(self.X_pool[stopping_set]))
            if stop_round is None and stopping.stop():
                stop_round = round_number
            points.append({**self._measure(committee), "round": round_number, "labels": len(acquired),
                           "asked": asked, "kappa": None if kappa is None else round(kappa, 4), **notes})
            if on_round:
                on_round()
            if rounds.stop(round_number) or len(remaining) == 0:
                break
            n = min(config.batch_size, len(remaining))
            candidates = self._candidates(strategy.shortlist, committee, remaining)
            batch, notes = select_batch(strategy, committee, self.X_pool[candidates], X_labelled,
                                        data.pool.subset(candidates), n, config.constraints, rng)
            chosen = candidates[batch.index]
            replies = oracle(_unlabelled(data.pool.subset(chosen)))
            asked += len(chosen)
            for index, reply in zip(chosen.tolist(), replies, strict=True):
                if reply is not None:
                    acquired.append(index)
                    answers.append(reply)
            remaining = np.setdiff1d(remaining, chosen, assume_unique=True)
        counts = dict(zip(*np.unique(np.asarray(answers, dtype=str), return_counts=True), strict=True))
        return {"seed": seed, "points": points, "stop_round": stop_round,
                "acquired": {str(k): int(v) for k, v in counts.items()}}

    def _candidates(self, how: str, committee: RelationCommittee, remaining: np.ndarray) -> np.ndarray:
        """What is left of the pool; beyond ``max_candidates``, its least certain pairs (strategies
        that shortlist at random, as random sampling, query it all: its features are at hand)."""
        limit = self.config.max_candidates
        if how != "uncertainty" or len(remaining) <= limit:
            return remaining
        self.shortlisted += 1
        pool = self.data.pool
        return remaining[self.shortlister.top(RelationModel(self.featuriser, committee), self.pool_vectors,
                                              pool.ia[remaining], pool.ib[remaining], limit)]

    def _fit(self, acquired: list[int], answers: list[str], random_state: int) -> tuple[Matrix, RelationCommittee]:
        """The committee on the seed plus the answers so far (every member keeps the answers)."""
        X = _stack([self.X_seed, self.X_pool[np.asarray(acquired, dtype=np.int64)]])
        y = np.concatenate([self.data.seed.labels.astype(str), np.asarray(answers, dtype=str)])
        priority = np.r_[np.zeros(len(self.data.seed), bool), np.full(len(acquired), self.config.keep_acquired)]
        committee = RelationCommittee(**{**self.config.committee, "random_state": random_state})
        if self.domain is None or not acquired or not self.config.keep_acquired:
            return X, committee.fit(X, y, priority=priority)
        gate = np.r_[self.domain.source_gate_, self.domain.target_gate_[np.asarray(acquired, dtype=np.int64)]]
        return X, committee.fit(X, y, priority=priority, domain=self.domain, gate=gate)

    def _measure(self, committee: RelationCommittee) -> dict[str, float]:
        measured = {"macro_f1": round(macro_f1(self.data.test.labels.astype(str), committee.predict(self.X_test)), 4)}
        if self.X_id is not None:
            truth = self.data.id_test.labels.astype(str)
            measured["id_macro_f1"] = round(macro_f1(truth, committee.predict(self.X_id)), 4)
        return measured


def _unlabelled(pairs: PairSet) -> PairSet:
    """The queried pairs as an oracle sees them: no answers attached."""
    return PairSet(pairs.items, pairs.ia, pairs.ib, pairs.keys, lines=pairs.lines, source=pairs.source)


def aggregate(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean curve over repeated runs (same rounds), with the spread of macro-F1."""
    points = []
    for round_points in zip(*(run["points"] for run in runs), strict=False):
        point: dict[str, Any] = {
            "round": round_points[0]["round"],
            "labels": round(float(np.mean([p["labels"] for p in round_points])), 1),
        }
        for metric in ("macro_f1", "id_macro_f1"):
            values = [p[metric] for p in round_points if metric in p]
            if values:
                point[metric] = round(float(np.mean(values)), 4)
                point[f"{metric}_std"] = round(float(np.std(values)), 4)
                point[f"{metric}_min"] = round(float(np.min(values)), 4)
                point[f"{metric}_max"] = round(float(np.max(values)), 4)
        if len(round_points) == 1:
            point["labels"] = round_points[0]["labels"]
        points.append(point)
    return points


def summarise(curves: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per strategy: macro-F1 at the start, half way and the end, its mean over the
    acquisition rounds, the rounds where it is below ``random`` (when random ran), and the
    change of in-distribution macro-F1 from round 0 to the end."""
    random_curve = curves.get("random")
    rows = []
    for name, points in curves.items():
        middle = points[len(points) // 2]
        row: dict[str, Any] = {
            "strategy": name,
            "start": points[0]["macro_f1"],
            "middle_labels": middle["labels"],
            "middle": middle["macro_f1"],
            "end_labels": points[-1]["labels"],
            "end": points[-1]["macro_f1"],
            "end_std": points[-1].get("macro_f1_std", 0.0),
            "mean_over_rounds": round(float(np.mean([p["macro_f1"] for p in points[1:]] or [np.nan])), 4),
        }
        if random_curve is not None and name != "random":
            row["rounds_below_random"] = sum(
                p["macro_f1"] < r["macro_f1"] for p, r in zip(points[1:], random_curve[1:], strict=False)
            )
        if "id_macro_f1" in points[0]:
            row["id_start"], row["id_end"] = points[0]["id_macro_f1"], points[-1]["id_macro_f1"]
            row["id_change"] = round(row["id_end"] - row["id_start"], 4)
        rows.append(row)
    return rows

"""The routes a recommender has, and a hybrid ranker that blends them with learned weights.

:class:`RouteSet` holds every route fitted on the same evidence (an evaluation's training
sessions, or a store's labels and behaviour pair counts): popularity, co-occurrence, title
similarity, the complementary graph and the graph ranked by E-E-I. :meth:`RouteSet.score`
asks each of them once per trigger, so an evaluation ranks every method — and the hybrid —
from one set of route scores.

:class:`HybridRanker` pools each route's top ``depth`` items (and the most popular ones) as
candidates and ranks them with a gradient-boosted classifier (scikit-learn's
``HistGradientBoostingClassifier``) over the routes' scores and ranks, the items'
popularity and whether trigger and candidate share a category leaf. Counts enter as shares
of all item occurrences (popularity, co-occurrence smoothed towards popularity, lift), never
raw: the blend is learnt on routes fitted on fewer sessions than the routes it is applied to,
and raw counts would shift between the two (chosen on Instacart's validation split, measured
2026-12-06: docs/results/recall/README.md). Boosted trees rather
than one logistic weight per route because the right blend depends on the trigger: a
trigger without history has no co-occurrence, and the model must lean on the other routes.
It is fitted on queries the routes did not see (the evaluation cuts sessions from the training
sessions; ``pairloop hybrid train`` holds out pairs), so it learns how far each route's score
generalises.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from knowledge_graph.recall import (
    CooccurrenceRecall,
    GraphRecall,
    PopularityRecall,
    Ranked,
    TitleSimilarity,
    top_scored,
)
from store.errors import BadInput

SINGLE_ROUTES = ("popularity", "cooccurrence", "title-similarity", "graph", "graph+eei")
FEATURES = (
    "title_cosine", "cooccurrence_share", "graph", "eei", "in_route", "same_leaf",
    "rank_title", "rank_cooccurrence", "rank_graph", "rank_eei",
    "candidate_popularity", "trigger_popularity", "cooccurrence_smoothed", "lift",
)
SMOOTHING = 20.0  # pseudo-counts of popularity in cooccurrence_smoothed (sessions, or pair counts in a store)


@dataclass
class RouteScores:
    """What every route says about one trigger."""

    item: str
    title: np.ndarray  # cosine with every item, in the title route's key order
    cooccurrence: Counter[str]
    graph: dict[str, float]
    eei: dict[str, float]


@dataclass
class RouteSet:
    popularity: Counter[str]
    cooccurrence: CooccurrenceRecall
    title: TitleSimilarity
    graph: GraphRecall
    eei: GraphRecall
    leaves: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._popular = PopularityRecall(self.popularity)
        self.total = sum(self.popularity.values()) or 1  # popularity and counts are read as shares of it

    def score(self, item: str) -> RouteScores:
        return RouteScores(item, self.title.similarities(item), self.cooccurrence.together.get(item, Counter()),
                           self.graph.scores(item), self.eei.scores(item))

    def rank(self, scored: RouteScores, k: int) -> dict[str, list[str]]:
        """Each single route's top ``k`` for the trigger."""
        item = scored.item
        sims = scored.title.copy()
        sims[self.title.index[item]] = -np.inf
        return {
            "popularity": [key for key, _s in self._popular.recommend(item, k)],
            "cooccurrence": [key for key, _s in self.cooccurrence.recommend(item, k)],
            "title-similarity": _top_array(self.title.keys, sims, k),
            "graph": [key for key, _s in top_scored(scored.graph, k, self.popularity)],
            "graph+eei": [key for key, _s in top_scored(scored.eei, k, self.popularity)],
        }


def _top_array(keys: Sequence[str], scores: np.ndarray, k: int) -> list[str]:
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k] if k else []
    return [keys[i] for i in sorted(top, key=lambda i: (-scores[i], i)) if np.isfinite(scores[i])]


def _reciprocal_ranks(ranked: Sequence[str]) -> dict[str, float]:
    return {key: 1.0 / (rank + 1) for rank, key in enumerate(ranked)}


@dataclass
class HybridRanker:
    routes: RouteSet
    depth: int = 100  # candidates taken from each route
    popular: int = 100  # and the most popular items
    seed: int = 0
    model: HistGradientBoostingClassifier | None = None
    report: dict = field(default_factory=dict)

    def features(self, scored: RouteScores) -> tuple[list[str], np.ndarray]:
        """The candidate items for the trigger and their feature rows (columns: :data:`FEATURES`)."""
        routes, item = self.routes, scored.item
        ranked = routes.rank(scored, self.depth)
        candidates = dict.fromkeys(
            [*ranked["title-similarity"], *ranked["cooccurrence"][: len(scored.cooccurrence)],
             *ranked["graph"], *ranked["graph+eei"], *ranked["popularity"][: self.popular]])
        candidates.pop(item, None)
        keys = list(candidates)
        ranks = {name: _reciprocal_ranks(ranked[name])
                 for name in ("title-similarity", "cooccurrence", "graph", "graph+eei")}
        trigger_popularity = routes.popularity.get(item, 0)
        leaf = routes.leaves.get(item)
        rows = np.zeros((len(keys), len(FEATURES)), dtype=np.float32)
        index, total = routes.title.index, routes.total
        for row, key in enumerate(keys):
            together = scored.cooccurrence.get(key, 0)
            popularity = routes.popularity.get(key, 0)
            rows[row] = (
                scored.title[index[key]], together / max(trigger_popularity, 1),
                scored.graph.get(key, 0.0), scored.eei.get(key, 0.0), key in scored.eei,
                leaf is not None and routes.leaves.get(key) == leaf,
                ranks["title-similarity"].get(key, 0.0), ranks["cooccurrence"].get(key, 0.0) if together else 0.0,
                ranks["graph"].get(key, 0.0), ranks["graph+eei"].get(key, 0.0),
                math.log(popularity / total + 1e-9), math.log(trigger_popularity / total + 1e-9),
                (together + SMOOTHING * popularity / total) / (trigger_popularity + SMOOTHING),
                math.log((together + 1) * total / ((trigger_popularity + 1) * (popularity + 1))),
            )
        return keys, rows

    def fit(self, queries: Mapping[str, set[str]]) -> HybridRanker:
        """Learn the blend on ``queries`` (trigger → items taken with it), unseen by the routes."""
        blocks, labels, found, wanted = [], [], 0, 0
        for trigger, targets in queries.items():
            keys, rows = self.features(self.routes.score(trigger))
            hits = np.array([key in targets for key in keys], dtype=np.int8)
            blocks.append(rows)
            labels.append(hits)
            found += int(hits.sum())
            wanted += len(targets)
        X, y = np.concatenate(blocks), np.concatenate(labels)
        if not 0 < y.sum() < len(y):
            raise BadInput(f"the hybrid's blend cannot be learnt: {int(y.sum())} of its {len(y)} candidates for "
                           f"{len(queries)} triggers are partners; it needs both (hold out more pairs or sessions)")
        self.model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=self.seed)
        self.model.fit(X, y)
        self.report = {"queries": len(queries), "rows": int(len(y)), "positives": int(y.sum()),
                       "candidate_recall": round(found / wanted, 4) if wanted else 0.0}
        return self

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """P(taken) of feature rows: many triggers' rows in one call (a call has a fixed cost)."""
        if self.model is None:
            raise RuntimeError("the hybrid ranker is not fitted")
        return self.model.predict_proba(rows)[:, 1] if len(rows) else np.zeros(0)

    def recommend(self, item: str, k: int = 10) -> Ranked:
        keys, rows = self.features(self.routes.score(item))
        return self.order(keys, self.probabilities(rows), k)

    def save(self, path: Path) -> None:
        """The fitted blend (not its routes: :meth:`load` is given the routes to blend)."""
        if self.model is None:
            raise RuntimeError("the hybrid ranker is not fitted")
        joblib.dump({"features": FEATURES, "depth": self.depth, "popular": self.popular, "seed": self.seed,
                     "model": self.model, "report": self.report}, path)

    @classmethod
    def load(cls, path: Path, routes: RouteSet) -> HybridRanker:
        """A blend saved by :meth:`save`, over ``routes`` (a file this project wrote: joblib unpickles)."""
        data = joblib.load(path)
        if tuple(data["features"]) != FEATURES:
            raise BadInput("the hybrid blend was learnt on other features: learn it again "
                           "(`pairloop hybrid train`), or ask for another --route", path)
        return cls(routes, data["depth"], data["popular"], data["seed"], data["model"], data["report"])

    def order(self, keys: Sequence[str], p: np.ndarray, k: int) -> Ranked:
        """The top ``k`` of ``keys`` by probability, popularity, then key."""
        order = sorted(range(len(keys)), key=lambda i: (-p[i], -self.routes.popularity.get(keys[i], 0), keys[i]))
        return [(keys[i], round(float(p[i]), 6)) for i in order[:k]]

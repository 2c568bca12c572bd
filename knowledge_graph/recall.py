"""Complementary recall: which items to show next to an item.

* :class:`PopularityRecall` — the most bought items, whatever the trigger.
* :class:`CooccurrenceRecall` — the behaviour baseline: items bought in the same sessions,
  most often first, then the most popular items.
* :class:`TitleSimilarity` — no graph: the nearest titles by text-embedding cosine.
* :class:`GraphRecall` — LLM-KERec's complementary route: the item's entities, their
  complementary entities ``e'`` with ``P(e' | e)`` from the edge weights, and the items of
  those entities. Without an item scorer each item of ``e'`` gets an equal share of
  ``P(e' | e)``; with the E-E-I model (:mod:`knowledge_graph.eei`) an item scores
  ``P(e' | e) ** route_power · P(taken | e, e', item)``, summed over its entity pairs.
  ``route_power`` 0.5 was chosen on a validation split carved from BundleRec's training
  sessions, the test sessions unread (measured 2026-11-28): the E-E-I score carries most of the ranking,
  the graph's prior still separates entities. ``max_items`` keeps the most popular items of
  each complementary entity (a grocery entity such as "yogurt" has a thousand items; the
  route cannot score them all for every trigger).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Protocol

import numpy as np

from knowledge_graph.graph import COMPLEMENTARY, EntityGraph
from store.errors import BadInput

Ranked = list[tuple[str, float]]

# Why the complementary route offers nothing for an item.
NO_ENTITY = "no_entity"  # its title and category gave no entity
NO_EDGE = "no_complementary_edge"  # none of its entities has a complementary edge
NO_CANDIDATES = "no_candidate_items"  # the complementary entities have no item but the item itself


class Recommender(Protocol):
    def recommend(self, item: str, k: int = 10) -> Ranked: ...


class ItemScorer(Protocol):
    """Scores (trigger entity, candidate entity, candidate item) shown next to ``query``: the E-E-I role."""

    def score(self, query: str, triples: Sequence[tuple[str, str, str]]) -> Sequence[float]: ...


def top_scored(scores: dict[str, float], k: int, tie: dict[str, float] | Counter) -> Ranked:
    """The ``k`` best-scored items; equal scores go to the higher ``tie`` (popularity), then by key."""
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], -tie.get(kv[0], 0), kv[0]))
    return [(key, round(score, 6)) for key, score in ranked[:k]]


def _most_popular(popularity: Counter) -> list[str]:
    return [key for key, _n in sorted(popularity.items(), key=lambda kv: (-kv[1], kv[0]))]


class PopularityRecall:
    """The most popular items (the trigger itself left out)."""

    def __init__(self, popularity: Counter):
        self.popularity = popularity
        self._popular = _most_popular(popularity)

    def recommend(self, item: str, k: int = 10) -> Ranked:
        return [(key, float(self.popularity[key])) for key in self._popular[: k + 1] if key != item][:k]


class TitleSimilarity:
    """Nearest titles by cosine of unit-length text embeddings."""

    def __init__(self, keys: list[str], vectors: np.ndarray):
        self.keys, self.vectors = keys, vectors
        self.index = {key: i for i, key in enumerate(keys)}

    def similarities(self, item: str) -> np.ndarray:
        """Cosine of ``item`` with every item, in ``keys`` order."""
        return self.vectors @ self.vectors[self.index[item]]

    def recommend(self, item: str, k: int = 10) -> Ranked:
        scores = self.similarities(item)
        scores[self.index[item]] = -np.inf
        top = np.argpartition(-scores, min(k, len(scores) - 1))[: k + 1]
        top = sorted(top, key=lambda i: (-scores[i], i))[:k]
        return [(self.keys[i], float(scores[i])) for i in top if np.isfinite(scores[i])]


class CooccurrenceRecall:
    """Co-occurrence counts, filled up with the most popular items. From sessions, an item's
    popularity is the number of sessions holding it; from pair counts (:meth:`from_pair_counts`)
    it is the sum of its pair counts, which grows with basket size."""

    def __init__(self, sessions: Iterable[Sequence[str]] = ()):
        self.together: dict[str, Counter[str]] = defaultdict(Counter)
        self.popularity: Counter[str] = Counter()
        for members in sessions:
            unique = sorted(set(members))
            self.popularity.update(unique)
            for a, b in combinations(unique, 2):
                self.together[a][b] += 1
                self.together[b][a] += 1
        self._popular = _most_popular(self.popularity)

    @classmethod
    def from_pair_counts(cls, counts: Mapping[tuple[str, str], int]) -> CooccurrenceRecall:
        """From how often each pair was seen together (the store keeps counts, not sessions).
        An item's popularity is then the sum of its pair counts, not a count of sessions."""
        recall = cls()
        for (a, b), n in counts.items():
            recall.together[a][b] += n
            recall.together[b][a] += n
            recall.popularity[a] += n
            recall.popularity[b] += n
        recall._popular = _most_popular(recall.popularity)
        return recall

    def recommend(self, item: str, k: int = 10) -> Ranked:
        scores = {key: float(n) for key, n in self.together.get(item, {}).items()}
        ranked = top_scored(scores, k, self.popularity)
        for key in self._popular:
            if len(ranked) >= k:
                break
            if key != item and key not in scores:
                ranked.append((key, 0.0))
        return ranked


@dataclass
class GraphRecall:
    graph: EntityGraph
    scorer: ItemScorer | None = None
    max_entities: int = 100  # complementary entities kept per trigger entity
    popularity: Counter | None = None  # tie-break between equal scores
    route_power: float = 0.5  # with a scorer: the item's score is P(e' | e) ** route_power * P(taken)
    max_items: int | None = None  # items kept per complementary entity, most popular first

    def __post_init__(self) -> None:
        self._kept: dict[str, list[str]] = {}

    def candidates_of(self, entity: str) -> list[str]:
        """The items of ``entity`` the route offers: all, or the ``max_items`` most popular."""
        members = self.graph.members.get(entity, [])
        if self.max_items is None or len(members) <= self.max_items:
            return members
        if entity not in self._kept:
            popularity = self.popularity or Counter()
            self._kept[entity] = sorted(members, key=lambda key: (-popularity.get(key, 0), key))[: self.max_items]
        return self._kept[entity]

    def entity_route(self, item: str) -> dict[tuple[str, str], float]:
        """``P(e' | e)`` for the item's entities ``e``, each trigger entity counted equally."""
        entities = self.graph.item_entities.get(item)
        if entities is None:
            raise BadInput(f"unknown item {item!r}: it is not in the graph's catalogue")
        route: dict[tuple[str, str], float] = {}
        for entity in entities:
            neighbours = self.graph.neighbours(entity, COMPLEMENTARY)[: self.max_entities]
            total = sum(weight for _e, weight in neighbours)
            for other, weight in neighbours:
                route[entity, other] = weight / total / len(entities)
        return route

    def empty_reason(self, item: str) -> str | None:
        """Why the route offers no item for ``item`` (:data:`NO_ENTITY`, :data:`NO_EDGE`,
        :data:`NO_CANDIDATES`), or None when it offers some."""
        route = self.entity_route(item)
        if not self.graph.item_entities[item]:
            return NO_ENTITY
        if not route:
            return NO_EDGE
        return None if self._offered(item, route) else NO_CANDIDATES

    def route_items(self, item: str) -> list[str]:
        """Every item the complementary route can offer for ``item``."""
        return sorted(self._offered(item, self.entity_route(item)))

    def _offered(self, item: str, route: dict[tuple[str, str], float]) -> set[str]:
        return {c for (_t, other) in route for c in self.candidates_of(other)} - {item}

    def scores(self, item: str) -> dict[str, float]:
        """Every item the route offers for ``item``, with its score."""
        route = self.entity_route(item)
        triples = [
            (trigger, other, candidate)
            for (trigger, other) in sorted(route)
            for candidate in self.candidates_of(other)
            if candidate != item
        ]
        if self.scorer is None:
            weights = [1.0 / len(self.candidates_of(other)) for _t, other, _c in triples]
        else:
            weights = list(self.scorer.score(item, triples)) if triples else []
        power = 1.0 if self.scorer is None else self.route_power
        scores: dict[str, float] = defaultdict(float)
        for (trigger, other, candidate), weight in zip(triples, weights, strict=True):
            scores[candidate] += route[trigger, other] ** power * weight
        return dict(scores)

    def recommend(self, item: str, k: int = 10) -> Ranked:
        return top_scored(self.scores(item), k, self.popularity or Counter())

"""Complementary recall: which items to show next to an item.

* :class:`CooccurrenceRecall` — the behaviour baseline: items bought in the same sessions,
  most often first, then the most popular items.
* :class:`GraphRecall` — LLM-KERec's complementary route: the item's entities, their
  complementary entities ``e'`` with ``P(e' | e)`` from the edge weights, and the items of
  those entities. Without an item scorer each item of ``e'`` gets an equal share of
  ``P(e' | e)``; with the E-E-I model (:mod:`knowledge_graph.eei`) an item scores
  ``P(e' | e) ** route_power · P(taken | e, e', item)``, summed over its entity pairs.
  ``route_power`` 0.5 was chosen on a validation split carved from BundleRec's training
  sessions, the test sessions unread (``pairloop evaluate-recall --validation
  --route-power 0 --route-power 0.25 --route-power 1 --route-power 2``; see
  docs/results/recall-bundlerec/README.md): the E-E-I score carries most of the ranking,
  the graph's prior still separates entities.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Protocol

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


def _top(scores: dict[str, float], k: int, tie: dict[str, float] | Counter) -> Ranked:
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], -tie.get(kv[0], 0), kv[0]))
    return [(key, round(score, 6)) for key, score in ranked[:k]]


class CooccurrenceRecall:
    """Session co-occurrence counts, filled up with the most popular items."""

    def __init__(self, sessions: Iterable[Sequence[str]]):
        self.together: dict[str, Counter[str]] = defaultdict(Counter)
        self.popularity: Counter[str] = Counter()
        for members in sessions:
            unique = sorted(set(members))
            self.popularity.update(unique)
            for a, b in combinations(unique, 2):
                self.together[a][b] += 1
                self.together[b][a] += 1
        self._popular = [key for key, _n in sorted(self.popularity.items(), key=lambda kv: (-kv[1], kv[0]))]

    def recommend(self, item: str, k: int = 10) -> Ranked:
        scores = {key: float(n) for key, n in self.together.get(item, {}).items()}
        ranked = _top(scores, k, self.popularity)
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
        return {c for (_t, other) in route for c in self.graph.members.get(other, ())} - {item}

    def recommend(self, item: str, k: int = 10) -> Ranked:
        route = self.entity_route(item)
        triples = [
            (trigger, other, candidate)
            for (trigger, other) in sorted(route)
            for candidate in self.graph.members.get(other, ())
            if candidate != item
        ]
        if self.scorer is None:
            weights = [1.0 / len(self.graph.members[other]) for _t, other, _c in triples]
        else:
            weights = list(self.scorer.score(item, triples)) if triples else []
        power = 1.0 if self.scorer is None else self.route_power
        scores: dict[str, float] = defaultdict(float)
        for (trigger, other, candidate), weight in zip(triples, weights, strict=True):
            scores[candidate] += route[trigger, other] ** power * weight
        return _top(scores, k, self.popularity or Counter())

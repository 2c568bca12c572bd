"""Fit every route of a :class:`~knowledge_graph.hybrid.RouteSet` on one body of evidence.

The recall evaluation fits routes on session splits; the store's hybrid blend
(``pairloop hybrid train``) fits them on its labels and behaviour pair counts with some pairs
held out. Both hand this module the same things — a graph, co-occurrence (from sessions or
from pair counts), the pairs shown together and those taken — and get the same routes: the
GNN's entity embeddings, an E-E-I model over (trigger entity, complementary entity, candidate
item) whose item features are the text embedding and the log popularity, and the graph route
ranked by it.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_graph.eei import EeiModel, Exposure, route_negatives, train_eei
from knowledge_graph.embeddings import embed_cached
from knowledge_graph.gnn import train_gnn
from knowledge_graph.graph import EntityGraph
from knowledge_graph.hybrid import RouteSet
from knowledge_graph.recall import CooccurrenceRecall, GraphRecall, TitleSimilarity

Step = Callable[[str], None]


@dataclass(frozen=True)
class RouteRecipe:
    """How the graph routes are fitted and how far they reach."""

    seed: int = 0
    gnn_epochs: int = 40
    eei_epochs: int = 8
    negatives: int = 3  # route items not taken, per taken exposure
    max_entities: int = 30  # complementary entities kept per trigger entity
    max_items: int = 50  # items kept per complementary entity, most popular first
    max_exposures: int = 60_000  # exposures the E-E-I model is trained on (a seeded sample)
    route_power: float = 0.5


def item_features(keys: Sequence[str], text: np.ndarray, popularity: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Each item's text embedding with its log popularity (scaled to [0, 1]) appended."""
    scale = math.log1p(max(popularity.values(), default=0)) or 1.0
    column = np.array([[math.log1p(popularity.get(key, 0)) / scale] for key in keys], dtype=np.float32)
    return dict(zip(keys, np.hstack([text, column]), strict=True))


def sampled_pairs(pairs: Iterable[tuple[str, str]], limit: int, seed: int) -> list[tuple[str, str]]:
    """At most ``limit`` of ``pairs``, a seeded sample: E-E-I learns on a sample of a store's
    behaviour, whose millions of basket pairs stay counts."""
    ordered = sorted(pairs)
    return random.Random(seed).sample(ordered, limit) if len(ordered) > limit else ordered


def eei_exposures(shown: list[Exposure], route: GraphRecall, taken: set[frozenset[str]],
                  recipe: RouteRecipe, unknown: Set[frozenset[str]] = frozenset()) -> list[Exposure]:
    """What the E-E-I model learns from: a seeded sample of ``shown`` and the route's items not
    taken (never an ``unknown`` pair), at most ``recipe.max_exposures`` in all."""
    rng = random.Random(recipe.seed)
    if len(shown) > recipe.max_exposures:
        shown = rng.sample(shown, recipe.max_exposures)
    exposures = shown + route_negatives(shown, route.route_items, taken | unknown, recipe.negatives, recipe.seed)
    if len(exposures) > recipe.max_exposures:  # baskets: every exposure is taken, and each adds negatives
        exposures = rng.sample(exposures, recipe.max_exposures)
    return exposures


def route_set(graph: EntityGraph, keys: Sequence[str], item_matrix: np.ndarray, leaves: Mapping[str, str | None],
              cooccurrence: CooccurrenceRecall, scorer: EeiModel, recipe: RouteRecipe) -> RouteSet:
    """The routes over the catalogue ``keys``, the graph's ranked by ``scorer`` (E-E-I)."""
    popularity = cooccurrence.popularity
    route = GraphRecall(graph, max_entities=recipe.max_entities, popularity=popularity, max_items=recipe.max_items)
    ranked = GraphRecall(graph, scorer=scorer, max_entities=recipe.max_entities, popularity=popularity,
                         route_power=recipe.route_power, max_items=recipe.max_items)
    return RouteSet(Counter(popularity), cooccurrence, TitleSimilarity(list(keys), item_matrix), route, ranked,
                    dict(leaves))


@dataclass
class FittedRoutes:
    routes: RouteSet
    eei: EeiModel
    report: dict[str, Any]


def fit_route_set(graph: EntityGraph, keys: Sequence[str], item_matrix: np.ndarray,
                  leaves: Mapping[str, str | None], cooccurrence: CooccurrenceRecall, shown: list[Exposure],
                  taken: set[frozenset[str]], recipe: RouteRecipe, cache_dir: Path | None,
                  step: Step | None = None, unknown: Set[frozenset[str]] = frozenset()) -> FittedRoutes:
    """Every route over the catalogue ``keys`` (text embeddings ``item_matrix``, in that order):
    popularity and co-occurrence from ``cooccurrence``, title similarity, the graph, and the graph
    ranked by an E-E-I model trained on ``shown`` (labelled by ``taken``) with route negatives,
    none of them an ``unknown`` pair (held out: its outcome is what the routes are measured on)."""
    step = step or (lambda _what: None)
    popularity = cooccurrence.popularity

    step("GNN")
    names = embed_cached([node.entity for node in graph.nodes], cache_dir)
    gnn = train_gnn(graph, names, epochs=recipe.gnn_epochs, seed=recipe.seed)

    step("E-E-I")
    route = GraphRecall(graph, max_entities=recipe.max_entities, popularity=popularity, max_items=recipe.max_items)
    exposures = eei_exposures(shown, route, taken, recipe, unknown)
    model = train_eei(exposures, graph, gnn.table(), item_features(keys, item_matrix, popularity),
                      epochs=recipe.eei_epochs, batch=4096, lr=3e-3, seed=recipe.seed)
    routes = route_set(graph, keys, item_matrix, leaves, cooccurrence, model, recipe)
    return FittedRoutes(routes, model, {
        "gnn": {"first_loss": round(gnn.losses[0], 4), "last_loss": round(gnn.losses[-1], 4),
                "epoch_seconds": round(float(np.mean(gnn.epoch_seconds)), 4)},
        "eei": {"exposures": len(exposures), "taken": sum(e.taken for e in exposures), **model.history},
    })

"""Recall evaluation: held-out partners, every method on every slice, recall@k and NDCG@k, in one run.

A source is a :class:`~knowledge_graph.bundles.BundleDomain`: a BundleRec domain (bundles cut
from purchase sessions) or Instacart baskets (:mod:`knowledge_graph.baskets`). Sessions are
split whole; the graph, the GNN and the E-E-I model see only the training sessions. Every
catalogue item is a candidate; entity extraction reads only the catalogue. Methods:

* ``popularity`` — the most bought items;
* ``cooccurrence`` — session co-occurrence in the training sessions, then popularity;
* ``title-similarity`` — nearest titles by MiniLM cosine, no graph;
* ``graph`` — the complementary route, each item of an entity weighted equally;
* ``graph+eei`` — the route ranked by the E-E-I model (entity embeddings from the GNN, the
  candidate's text embedding and popularity);
* ``hybrid`` — all of the above blended by :class:`~knowledge_graph.hybrid.HybridRanker`.

The hybrid's blend is learnt on a split cut from the training sessions (routes fitted on
the rest), then applied to routes fitted on all training sessions. Queries are scored on
the slices of :mod:`knowledge_graph.slices`. With ``validation`` the test sessions are
dropped before anything is read and the same split is cut again from the training
sessions: settings are chosen there, and the test split is read once, at the end.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_graph.bundles import BundleDomain, Split
from knowledge_graph.eei import route_negatives, session_exposures, train_eei
from knowledge_graph.embeddings import embed_cached
from knowledge_graph.entities import Extraction, build_dictionary, extract
from knowledge_graph.gnn import train_gnn
from knowledge_graph.graph import build_graph
from knowledge_graph.hybrid import SINGLE_ROUTES, HybridRanker, RouteSet
from knowledge_graph.metrics import score_rankings
from knowledge_graph.recall import CooccurrenceRecall, GraphRecall, TitleSimilarity
from knowledge_graph.slices import SLICES, category_leaf, slice_queries
from store.errors import BadInput

Step = Callable[[str], None]
METHODS = (*SINGLE_ROUTES, "hybrid")


@dataclass(frozen=True)
class RecallConfig:
    ks: tuple[int, ...] = (10, 50)
    test_share: float = 0.2
    seed: int = 0
    min_count: int = 3
    gnn_epochs: int = 40
    eei_epochs: int = 8
    negatives: int = 3
    max_entities: int = 30  # complementary entities kept per trigger entity
    max_items: int = 50  # items kept per complementary entity, most popular first
    max_exposures: int = 60_000  # exposures the E-E-I model is trained on (a seeded sample)
    max_queries: int = 2_000  # held-out triggers evaluated (a seeded sample); the blend learns on as many
    route_power: float = 0.5
    validation: bool = False  # evaluate on a validation split of the training sessions


@dataclass(frozen=True)
class Source:
    """A domain to evaluate and how its kinds are told apart (see :mod:`knowledge_graph.slices`)."""

    domain: BundleDomain
    kind: str  # bundles | baskets
    kind_by_entity: bool


def _sample(queries: Mapping[str, set[str]], limit: int, seed: int) -> dict[str, set[str]]:
    if len(queries) <= limit:
        return dict(queries)
    chosen = sorted(random.Random(seed).sample(sorted(queries), limit))
    return {trigger: queries[trigger] for trigger in chosen}


def _item_features(keys: list[str], text: np.ndarray, popularity: Counter) -> dict[str, np.ndarray]:
    """Each item's text embedding with its log popularity (scaled to [0, 1]) appended."""
    scale = math.log1p(max(popularity.values(), default=0)) or 1.0
    column = np.array([[math.log1p(popularity.get(key, 0)) / scale] for key in keys], dtype=np.float32)
    return dict(zip(keys, np.hstack([text, column]), strict=True))


@dataclass
class FittedRoutes:
    routes: RouteSet
    report: dict[str, Any]


def fit_routes(domain: BundleDomain, split: Split, extraction: Extraction, item_matrix: np.ndarray,
               config: RecallConfig, cache_dir: Path | None, step: Step) -> FittedRoutes:
    """Every route fitted on ``split``'s training sessions and bundles only."""
    keys = [item.key for item in domain.items]
    cooccurrence = CooccurrenceRecall(split.train_sessions.values())
    popularity = cooccurrence.popularity
    graph, build = build_graph(extraction, split.train_evidence())
    route = GraphRecall(graph, max_entities=config.max_entities, popularity=popularity, max_items=config.max_items)

    step("GNN")
    names = embed_cached([node.entity for node in graph.nodes], cache_dir)
    gnn = train_gnn(graph, names, epochs=config.gnn_epochs, seed=config.seed)

    step("E-E-I")
    taken = {frozenset((a, b)) for members in split.train_bundles.values()
             for a in members for b in members if a != b}
    rng = random.Random(config.seed)
    shown = session_exposures(split.train_sessions.values(), taken)
    if len(shown) > config.max_exposures:
        shown = rng.sample(shown, config.max_exposures)
    exposures = shown + route_negatives(shown, route.route_items, taken, config.negatives, config.seed)
    if len(exposures) > config.max_exposures:  # baskets: every exposure is taken, and each adds negatives
        exposures = rng.sample(exposures, config.max_exposures)
    model = train_eei(exposures, graph, gnn.table(), _item_features(keys, item_matrix, popularity),
                      epochs=config.eei_epochs, batch=4096, lr=3e-3, seed=config.seed)
    ranked = GraphRecall(graph, scorer=model, max_entities=config.max_entities, popularity=popularity,
                         route_power=config.route_power, max_items=config.max_items)
    routes = RouteSet(popularity, cooccurrence, TitleSimilarity(keys, item_matrix), route, ranked,
                      {item.key: category_leaf(item) for item in domain.items})
    return FittedRoutes(routes, {
        "train_sessions": len(split.train_sessions),
        "graph": {**graph.counts(), "evidence_used": build.used, "evidence_without_entity": build.skipped_no_entity},
        "gnn": {"first_loss": round(gnn.losses[0], 4), "last_loss": round(gnn.losses[-1], 4),
                "epoch_seconds": round(float(np.mean(gnn.epoch_seconds)), 4)},
        "eei": {"exposures": len(exposures), "taken": sum(e.taken for e in exposures), **model.history},
    })


def _rankings(routes: RouteSet, hybrid: HybridRanker, triggers: list[str], k: int,
              step: Step) -> dict[str, dict[str, list[str]]]:
    rankings: dict[str, dict[str, list[str]]] = {method: {} for method in METHODS}
    candidates = []
    for done, trigger in enumerate(triggers):
        if done % 100 == 0:
            step(f"ranking {done}/{len(triggers)} triggers")
        scored = routes.score(trigger)
        for method, ranked in routes.rank(scored, k).items():
            rankings[method][trigger] = ranked
        candidates.append(hybrid.features(scored))
    p = hybrid.probabilities(np.concatenate([rows for _keys, rows in candidates]))
    start = 0
    for trigger, (keys, _rows) in zip(triggers, candidates, strict=True):
        rankings["hybrid"][trigger] = [key for key, _p in hybrid.order(keys, p[start : start + len(keys)], k)]
        start += len(keys)
    return rankings


def evaluate_source(source: Source, config: RecallConfig, cache_dir: Path | None = None,
                    step: Step | None = None) -> dict[str, Any]:
    """Every method on every slice of one source's held-out queries."""
    step = step or (lambda _what: None)
    started = time.perf_counter()
    domain = source.domain
    if config.validation:
        domain = domain.training_part(config.test_share, config.seed)
    split = domain.split(config.test_share, config.seed)
    if not split.test_queries():
        raise BadInput(f"{domain.name}: no held-out item has a partner; hold out more sessions (--test-share)")

    step("embeddings")
    item_matrix = embed_cached([item.title for item in domain.items], cache_dir)
    extraction = extract(domain.items, build_dictionary(domain.items, config.min_count))

    step("blend: routes on part of the training sessions")
    inner_domain = domain.training_part(config.test_share, config.seed)
    inner = inner_domain.split(config.test_share, config.seed)
    inner_routes = fit_routes(inner_domain, inner, extraction, item_matrix, config, cache_dir, step)
    step("blend: learning the weights")
    blend_queries = _sample(inner.test_queries(), config.max_queries, config.seed)
    if not blend_queries:
        raise BadInput(f"{domain.name}: too few sessions to learn the hybrid's blend on a split of the training "
                       "sessions (no held-out partners there)")
    blend = HybridRanker(inner_routes.routes, seed=config.seed).fit(blend_queries)

    step("routes on the training sessions")
    fitted = fit_routes(domain, split, extraction, item_matrix, config, cache_dir, step)
    hybrid = replace(blend, routes=fitted.routes)

    queries = _sample(split.test_queries(), config.max_queries, config.seed)
    trained = {key for members in split.train_sessions.values() for key in members}
    entities = {key: extraction.entities_of(key) for key in extraction.mentions}
    slices = slice_queries(queries, domain.items, entities, trained, by_entity=source.kind_by_entity)
    rankings = _rankings(fitted.routes, hybrid, sorted(queries), max(config.ks), step)
    results = {
        name: {"queries": len(slices[name]),
               "methods": {method: score_rankings(rankings[method], slices[name], config.ks) for method in METHODS}}
        for name in SLICES
    }
    return {
        "source": domain.name,
        "kind": source.kind,
        "evaluated_on": "validation" if config.validation else "test",
        "items": len(domain.items),
        "test_sessions": len(domain.sessions) - len(split.train_sessions),
        "held_out_triggers": len(split.test_queries()),
        "entities": extraction.report(),
        **fitted.report,
        "blend": blend.report,
        "slices": results,
        "seconds": round(time.perf_counter() - started, 1),
    }


def evaluate_sources(sources: list[Source], config: RecallConfig, cache_dir: Path | None = None,
                     step: Step | None = None) -> dict[str, Any]:
    """Evaluate each source; ``mean`` averages each slice's figures over the sources."""
    evaluated = [evaluate_source(source, config, cache_dir, step) for source in sources]
    metrics = [f"{metric}@{k}" for k in config.ks for metric in ("recall", "ndcg")]
    mean = {}
    for name in SLICES:  # a slice without queries in a source says nothing about it: left out
        having = [s["slices"][name]["methods"] for s in evaluated if s["slices"][name]["queries"]]
        mean[name] = {method: {metric: round(float(np.mean([m[method][metric] for m in having])), 4) if having
                               else 0.0 for metric in metrics} for method in METHODS}
    return {"config": asdict(config), "sources": evaluated, "mean": mean}

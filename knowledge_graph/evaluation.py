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

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_graph.bundles import BundleDomain, Split
from knowledge_graph.eei import session_exposures
from knowledge_graph.embeddings import embed_cached
from knowledge_graph.entities import Extraction, build_dictionary, extract
from knowledge_graph.graph import build_graph
from knowledge_graph.hybrid import SINGLE_ROUTES, HybridRanker, RouteSet
from knowledge_graph.metrics import score_rankings
from knowledge_graph.recall import CooccurrenceRecall
from knowledge_graph.route_fitting import FittedRoutes, RouteRecipe, fit_route_set
from knowledge_graph.slices import SLICES, category_leaf, slice_queries
from store.errors import BadInput

Step = Callable[[str], None]
METHODS = (*SINGLE_ROUTES, "hybrid")


@dataclass(frozen=True)
class RecallConfig(RouteRecipe):
    ks: tuple[int, ...] = (10, 50)
    test_share: float = 0.2
    min_count: int = 3
    max_queries: int = 2_000  # held-out triggers evaluated (a seeded sample); the blend learns on as many
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


def fit_routes(domain: BundleDomain, split: Split, extraction: Extraction, item_matrix: np.ndarray,
               config: RecallConfig, cache_dir: Path | None, step: Step) -> FittedRoutes:
    """Every route fitted on ``split``'s training sessions and bundles only."""
    graph, build = build_graph(extraction, split.train_evidence())
    taken = {frozenset((a, b)) for members in split.train_bundles.values()
             for a in members for b in members if a != b}
    fitted = fit_route_set(graph, [item.key for item in domain.items], item_matrix,
                           {item.key: category_leaf(item) for item in domain.items},
                           CooccurrenceRecall(split.train_sessions.values()),
                           session_exposures(split.train_sessions.values(), taken), taken, config, cache_dir, step)
    fitted.report = {"train_sessions": len(split.train_sessions),
                     "graph": {**graph.counts(), "evidence_used": build.used,
                               "evidence_without_entity": build.skipped_no_entity},
                     **fitted.report}
    return fitted


def rank_every_method(routes: RouteSet, hybrid: HybridRanker, triggers: list[str], k: int,
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
    rankings = rank_every_method(fitted.routes, hybrid, sorted(queries), max(config.ks), step)
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

"""Recall evaluation on BundleRec: held-out bundle partners, recall@k and NDCG@k, all methods in one run.

Per domain: sessions are split (:mod:`knowledge_graph.bundles`); the graph is built from the
training bundles only, the GNN on that graph, the E-E-I model on the training sessions'
exposures. Every catalogue item is a candidate (entity extraction reads only the
catalogue, never labels). Methods:

* ``cooccurrence`` — session co-occurrence in the training sessions, then popularity;
* ``graph`` — the complementary route, each item of an entity weighted equally;
* ``graph+eei`` — the route ranked by the E-E-I model (the paper's inputs);
* ``graph+eei+context`` — the same with the trigger item's text as an extra input;
* ``title-similarity`` — a reference without any graph: nearest titles by MiniLM cosine.

With ``validation`` the test sessions are dropped before anything is read and the same
split is cut again from the training sessions: settings (``route_powers`` lists extra
``route_power`` values for ``graph+eei``, scored by the same model) are chosen there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_graph.bundles import BundleDomain, Split, load_domain
from knowledge_graph.eei import route_negatives, session_exposures, train_eei
from knowledge_graph.embeddings import embed_cached
from knowledge_graph.entities import build_dictionary, extract
from knowledge_graph.gnn import train_gnn
from knowledge_graph.graph import build_graph
from knowledge_graph.metrics import evaluate
from knowledge_graph.recall import CooccurrenceRecall, GraphRecall, ItemScorer

Step = Callable[[str], None]


@dataclass(frozen=True)
class RecallConfig:
    k: int = 10
    test_share: float = 0.2
    seed: int = 0
    min_count: int = 3
    gnn_epochs: int = 40
    eei_epochs: int = 8
    negatives: int = 3
    max_entities: int = 100
    route_power: float = 0.5
    route_powers: tuple[float, ...] = ()  # more route powers to report for graph+eei
    validation: bool = False  # evaluate on a validation split of the training sessions


class MemoScorer:
    """An item scorer that remembers each query's scores, so several route powers share them."""

    def __init__(self, scorer: ItemScorer):
        self.scorer = scorer
        self.memo: dict[str, Sequence[float]] = {}

    def score(self, query: str, triples: Sequence[tuple[str, str, str]]) -> Sequence[float]:
        if query not in self.memo:
            self.memo[query] = self.scorer.score(query, triples)
        return self.memo[query]


class TitleSimilarity:
    def __init__(self, keys: list[str], vectors: np.ndarray):
        self.keys, self.vectors = keys, vectors
        self.index = {key: i for i, key in enumerate(keys)}

    def recommend(self, item: str, k: int = 10) -> list[tuple[str, float]]:
        scores = self.vectors @ self.vectors[self.index[item]]
        scores[self.index[item]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.keys[i], float(scores[i])) for i in top]


def _ranked(recommender) -> Callable[[str, int], list[str]]:
    return lambda item, k: [key for key, _score in recommender.recommend(item, k)]


def evaluate_domain(domain: BundleDomain, config: RecallConfig, cache_dir: Path | None = None,
                    step: Step | None = None) -> dict[str, Any]:
    step = step or (lambda _what: None)
    started = time.perf_counter()
    if config.validation:
        domain = domain.training_part(config.test_share, config.seed)
    split: Split = domain.split(config.test_share, config.seed)
    queries = split.test_queries()
    results: dict[str, dict[str, float]] = {}

    step("co-occurrence")
    cooccurrence = CooccurrenceRecall(split.train_sessions.values())
    results["cooccurrence"] = evaluate(_ranked(cooccurrence), queries, config.k)

    step("graph")
    extraction = extract(domain.items, build_dictionary(domain.items, config.min_count))
    graph, build = build_graph(extraction, split.train_evidence())
    route = GraphRecall(graph, max_entities=config.max_entities, popularity=cooccurrence.popularity)
    results["graph"] = evaluate(_ranked(route), queries, config.k)

    step("embeddings")
    keys = [item.key for item in domain.items]
    item_matrix = embed_cached([item.title for item in domain.items], cache_dir)
    item_vectors = dict(zip(keys, item_matrix, strict=True))
    names = embed_cached([node.entity for node in graph.nodes], cache_dir)

    step("GNN")
    gnn = train_gnn(graph, names, epochs=config.gnn_epochs, seed=config.seed)

    taken = {frozenset((a, b)) for members in split.train_bundles.values()
             for a in members for b in members if a != b}
    exposures = session_exposures(split.train_sessions.values(), taken)
    exposures += route_negatives(exposures, route.route_items, taken, config.negatives, config.seed)
    eei_report = {}
    for method, context in (("graph+eei", False), ("graph+eei+context", True)):
        step(f"E-E-I{' with context' if context else ''}")
        model = train_eei(exposures, graph, gnn.table(), item_vectors, context=context,
                          epochs=config.eei_epochs, seed=config.seed)
        eei_report[method] = model.history
        scorer = MemoScorer(model)
        extra = () if context else config.route_powers
        for power in dict.fromkeys((config.route_power, *extra)):  # the default first, each once
            ranked = GraphRecall(graph, scorer=scorer, max_entities=config.max_entities,
                                 popularity=cooccurrence.popularity, route_power=power)
            name = method if power == config.route_power else f"{method}@route_power={power:g}"
            results[name] = evaluate(_ranked(ranked), queries, config.k)

    results["title-similarity"] = evaluate(_ranked(TitleSimilarity(keys, item_matrix)), queries, config.k)
    return {
        "domain": domain.name,
        "evaluated_on": "validation" if config.validation else "test",
        "items": len(domain.items),
        "train_sessions": len(split.train_sessions),
        "train_bundles": len(split.train_bundles),
        "test_bundles": len(split.test_bundles),
        "queries": len(queries),
        "entities": extraction.report(),
        "graph": {**graph.counts(), "evidence_used": build.used, "evidence_without_entity": build.skipped_no_entity},
        "gnn": {"first_loss": round(gnn.losses[0], 4), "last_loss": round(gnn.losses[-1], 4),
                "epoch_seconds": round(float(np.mean(gnn.epoch_seconds)), 4)},
        "eei": {"exposures": len(exposures), "taken": sum(e.taken for e in exposures), **eei_report},
        "methods": results,
        "seconds": round(time.perf_counter() - started, 1),
    }


def evaluate_bundles(directories: list[Path], config: RecallConfig, cache_dir: Path | None = None,
                     step: Step | None = None) -> dict[str, Any]:
    """Evaluate each BundleRec domain folder; ``mean`` averages the domains."""
    domains = [evaluate_domain(load_domain(d), config, cache_dir, step) for d in directories]
    mean = {
        method: {metric: round(float(np.mean([d["methods"][method][metric] for d in domains])), 4)
                 for metric in (f"recall@{config.k}", f"ndcg@{config.k}")}
        for method in domains[0]["methods"]
    }
    return {"config": asdict(config), "domains": domains, "mean": mean}

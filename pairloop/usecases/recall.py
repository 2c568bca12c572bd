"""Complementary recall: items for an item from a snapshot, and recall measured on held-out bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from knowledge_graph import store_io
from pairloop.usecases.context import Context
from pairloop.usecases.graph import open_snapshot
from pairloop.usecases.hybrid import load_hybrid
from pairloop.usecases.kg_models import load_scorer
from store.errors import BadInput, NotFound
from store.files import write_text_atomic

if TYPE_CHECKING:
    from knowledge_graph.evaluation import RecallConfig
    from knowledge_graph.graph import EntityGraph


class RecommendedItem(BaseModel):
    item: str
    title: str | None
    score: float
    entities: list[str]


EmptyReason = Literal["no_entity", "no_complementary_edge", "no_candidate_items"]
ROUTES = ("hybrid", "graph+eei", "graph", "title-similarity")


class Recommendation(BaseModel):
    """Complementary items for one item, from one snapshot; when there are none, why."""

    item: str = Field(description="The trigger item: SOURCE:EXTERNAL_ID.")
    title: str | None
    entities: list[str] = Field(description="The trigger item's entities.")
    snapshot: str = Field(description="The snapshot's version.")
    ranked_by: str = Field(description="The route that ranked the items: hybrid (every route blended, "
                           "`pairloop hybrid train`), graph+eei (the snapshot's E-E-I model), graph (edge "
                           "weights) or title-similarity (MiniLM title cosine, no graph).")
    items: list[RecommendedItem]
    reason: EmptyReason | None = Field(
        None, description="Only when items is empty: no_entity (the item has no entity), no_complementary_edge "
        "(none of its entities has a complementary edge), no_candidate_items (the complementary entities have "
        "no other item).")
    explanation: str | None = Field(None, description="The reason in a sentence, with what to do about it.")


def recommend(ctx: Context, item: str, k: int = 10, snapshot: str | None = None,
              route: str | None = None) -> Recommendation:
    """Items to show next to ``item`` from one snapshot, by ``route``: ``hybrid`` (every route
    blended by the weights ``pairloop hybrid train`` learnt; the default when it has run),
    ``graph+eei`` (the item's entities → complementary entities → their items, ranked by the
    snapshot's E-E-I model; the default next), ``graph`` (the same route ranked by edge weight;
    the default otherwise) or ``title-similarity`` (the nearest titles, no graph). ``item`` is
    SOURCE:EXTERNAL_ID or an external id unique in the snapshot's catalogue; an item the snapshot
    does not know is :class:`NotFound`. No items is an answer, with its ``reason``."""
    from knowledge_graph.recall import GraphRecall, TitleSimilarity

    loaded = open_snapshot(ctx, snapshot)
    version = loaded.manifest.version
    with ctx.engine.connect() as conn:
        items, _ids = store_io.read_catalogue(conn)
    titles = {i.key: i.title for i in items}
    key = _resolve_item(loaded.graph, item, version, titles)
    if route is not None and route not in ROUTES:
        raise BadInput(f"unknown route {route!r}: choose one of {', '.join(ROUTES)}")
    hybrid = load_hybrid(ctx, loaded) if route in (None, "hybrid") else None
    scorer = load_scorer(ctx, loaded) if route in (None, "graph+eei") and hybrid is None else None
    route = route or ("hybrid" if hybrid else "graph+eei" if scorer else "graph")
    if route == "hybrid" and hybrid is None:
        raise BadInput(f"snapshot {version} has no hybrid blend").with_hint(
            "Run `pairloop hybrid train`, or ask for another --route.")
    if route == "graph+eei" and scorer is None:
        raise BadInput(f"snapshot {version} has no E-E-I model").with_hint(
            "Run `pairloop eei train` (after `pairloop gnn train`), or ask for --route graph.")
    entities = loaded.graph.item_entities
    reason = None
    if route == "hybrid":
        ranked = hybrid.recommend(key, k)
    elif route == "title-similarity":
        from knowledge_graph.embeddings import embed_cached

        keys = sorted(entities)
        vectors = embed_cached([titles.get(k_, "") for k_ in keys], ctx.settings.data_path / "cache" / "embeddings")
        ranked = TitleSimilarity(keys, vectors).recommend(key, k)
    else:
        recall = GraphRecall(loaded.graph, scorer=scorer if route == "graph+eei" else None)
        ranked = recall.recommend(key, k)
        reason = None if ranked else recall.empty_reason(key)
    return Recommendation(
        item=key, title=titles.get(key), entities=list(entities[key]), snapshot=version, ranked_by=route,
        items=[RecommendedItem(item=c, title=titles.get(c), score=s, entities=list(entities.get(c, ())))
               for c, s in ranked],
        reason=reason, explanation=_explain(reason, loaded.graph, key, version))


def _explain(reason: str | None, graph: EntityGraph, key: str, version: str) -> str | None:
    from knowledge_graph.graph import COMPLEMENTARY
    from knowledge_graph.recall import NO_EDGE, NO_ENTITY

    if reason is None:
        return None
    entities = ", ".join(graph.item_entities[key])
    if reason == NO_ENTITY:
        return (f"the item has no entity in snapshot {version}: its title gave none the dictionary knows "
                "(`pairloop graph entities --report` lists such items)")
    if reason == NO_EDGE:
        return (f"no complementary edge from its entities ({entities}) in snapshot {version}: no verified "
                "complementary label joins them to another entity yet")
    others = sorted({other for entity in graph.item_entities[key]
                     for other, _w in graph.neighbours(entity, COMPLEMENTARY)})
    return (f"its entities ({entities}) are complementary to {', '.join(others[:5])} in snapshot {version}, "
            "but those have no item other than this one")


def _resolve_item(graph: EntityGraph, ref: str, version: str, catalogue: dict[str, str]) -> str:
    if ref in graph.item_entities:
        return ref
    matches = [key for key in graph.item_entities if key.split(":", 1)[-1] == ref]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise BadInput(f"item id {ref!r} is ambiguous ({', '.join(matches[:3])}): use SOURCE:EXTERNAL_ID")
    missing = NotFound(f"unknown item {ref!r}: not in snapshot {version}'s catalogue")
    if ref in catalogue or any(key.split(":", 1)[-1] == ref for key in catalogue):
        raise missing.with_hint("It was imported after the snapshot: run `pairloop graph entities` and "
                                "`pairloop graph snapshot`, then ask again.")
    raise missing


class SliceRecall(BaseModel):
    queries: int = Field(description="Triggers in the slice.")
    methods: dict[str, dict[str, float | int]] = Field(description="recall@k, ndcg@k and queries by method.")


class SourceRecall(BaseModel):
    """One source (a BundleRec domain or Instacart baskets): its split, what each model learnt,
    and every method's figures on every slice."""

    source: str
    kind: str = Field(description="bundles (BundleRec) or baskets (Instacart).")
    evaluated_on: str = Field(description="test, or validation (a split of the training sessions).")
    items: int
    test_sessions: int
    held_out_triggers: int = Field(description="Held-out items with partners, before sampling max_queries.")
    entities: dict[str, Any] = Field(description="The extraction's report (coverage, largest entities).")
    train_sessions: int
    graph: dict[str, Any]
    gnn: dict[str, Any]
    eei: dict[str, Any]
    blend: dict[str, Any] = Field(description="What the hybrid's blend was learnt on, and its candidate recall.")
    slices: dict[str, SliceRecall] = Field(description="all, complementary, same-kind, cold.")
    seconds: float


class RecallEvaluation(BaseModel):
    """Recall@k and NDCG@k of held-out partners, per source and slice, and averaged over sources."""

    config: dict[str, Any]
    sources: list[SourceRecall]
    mean: dict[str, dict[str, dict[str, float]]] = Field(
        description="slice → method → figures, averaged over the sources.")


def evaluate_recall(ctx: Context, config: RecallConfig, *, bundles: Path | None = None,
                    baskets: Path | None = None, out: Path | None = None) -> RecallEvaluation:
    """Every method on every slice of held-out partners, in one run: BundleRec domains
    (``bundles``: a domain folder or a folder of them) and/or Instacart baskets (``baskets``:
    the Instacart folder). Sessions are split; the models see only the training part.
    ``out`` (a new file) also receives the result as JSON, and its figure as PNG beside it."""
    from knowledge_graph.baskets import load_baskets
    from knowledge_graph.bundles import find_domains, load_domain
    from knowledge_graph.evaluation import Source, evaluate_sources
    from knowledge_graph.plots import plot_recall

    if bundles is None and baskets is None:
        raise BadInput("nothing to evaluate: give --bundles, --baskets or both")
    if out is not None and out.exists():
        raise BadInput("the output file exists; choose a new one", out)
    sources = [Source(load_domain(d), "bundles", kind_by_entity=True) for d in find_domains(bundles)] if bundles else []
    if baskets is not None:
        sources.append(Source(load_baskets(baskets), "baskets", kind_by_entity=False))
    cache = ctx.settings.data_path / "cache" / "embeddings"
    with ctx.progress.status("evaluating") as update:
        raw = evaluate_sources(sources, config, cache, lambda what: update(f"evaluating: {what}"))
    result = RecallEvaluation(**raw)
    if out is not None:
        write_text_atomic(out, json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
        plot_recall(raw, out.with_suffix(".png"))
    return result

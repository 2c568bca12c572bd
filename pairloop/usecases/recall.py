"""Complementary recall: items for an item from a snapshot, and recall measured on held-out bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from knowledge_graph import store_io
from pairloop.usecases.context import Context
from pairloop.usecases.graph import open_snapshot
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


class Recommendation(BaseModel):
    """Complementary items for one item, from one snapshot; when there are none, why."""

    item: str = Field(description="The trigger item: SOURCE:EXTERNAL_ID.")
    title: str | None
    entities: list[str] = Field(description="The trigger item's entities.")
    snapshot: str = Field(description="The snapshot's version.")
    ranked_by: str = Field(description="eei (the snapshot's E-E-I model) or graph (edge weights).")
    items: list[RecommendedItem]
    reason: EmptyReason | None = Field(
        None, description="Only when items is empty: no_entity (the item has no entity), no_complementary_edge "
        "(none of its entities has a complementary edge), no_candidate_items (the complementary entities have "
        "no other item).")
    explanation: str | None = Field(None, description="The reason in a sentence, with what to do about it.")


def recommend(ctx: Context, item: str, k: int = 10, snapshot: str | None = None) -> Recommendation:
    """The item's entities → complementary entities → their items, ranked by the snapshot's
    E-E-I model when it has one (else by edge weight). ``item`` is SOURCE:EXTERNAL_ID or an
    external id unique in the snapshot's catalogue; an item the snapshot does not know is
    :class:`NotFound`. No items is an answer, with its ``reason``."""
    from knowledge_graph.recall import GraphRecall

    loaded = open_snapshot(ctx, snapshot)
    version = loaded.manifest.version
    with ctx.engine.connect() as conn:
        items, _ids = store_io.read_catalogue(conn)
    titles = {i.key: i.title for i in items}
    key = _resolve_item(loaded.graph, item, version, titles)
    scorer = load_scorer(ctx, loaded)
    recall = GraphRecall(loaded.graph, scorer=scorer)
    ranked = recall.recommend(key, k)
    entities = loaded.graph.item_entities
    reason = None if ranked else recall.empty_reason(key)
    return Recommendation(
        item=key, title=titles.get(key), entities=list(entities[key]), snapshot=version,
        ranked_by="eei" if scorer else "graph",
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


class DomainRecall(BaseModel):
    """One BundleRec domain: its split, what each model learnt, and every method's figures."""

    domain: str
    evaluated_on: str = Field(description="test, or validation (a split of the training sessions).")
    items: int
    train_sessions: int
    train_bundles: int
    test_bundles: int
    queries: int = Field(description="Held-out items with bundle partners.")
    entities: dict[str, Any] = Field(description="The extraction's report.")
    graph: dict[str, Any]
    gnn: dict[str, Any]
    eei: dict[str, Any]
    methods: dict[str, dict[str, float | int]] = Field(description="recall@k, ndcg@k and queries by method.")
    seconds: float


class RecallEvaluation(BaseModel):
    """Recall@k and NDCG@k of held-out bundle partners, per domain and averaged."""

    config: dict[str, Any]
    domains: list[DomainRecall]
    mean: dict[str, dict[str, float]] = Field(description="Each method's figures averaged over the domains.")


def evaluate_recall(ctx: Context, bundles: Path, config: RecallConfig, out: Path | None = None) -> RecallEvaluation:
    """Co-occurrence, graph, graph + E-E-I (and references) on held-out BundleRec bundles, in one
    run; sessions are split and the models see only the training part. ``bundles`` is a domain
    folder or a folder of them; ``out`` (a new file) also receives the result as JSON."""
    from knowledge_graph.bundles import find_domains
    from knowledge_graph.evaluation import evaluate_bundles

    if out is not None and out.exists():
        raise BadInput("the output file exists; choose a new one", out)
    directories = list(find_domains(bundles))
    cache = ctx.settings.data_path / "cache" / "embeddings"
    with ctx.progress.status("evaluating") as update:
        result = RecallEvaluation(**evaluate_bundles(directories, config, cache,
                                                     lambda what: update(f"evaluating: {what}")))
    if out is not None:
        write_text_atomic(out, json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    return result

"""The hybrid route that ``pairloop graph recommend`` serves: a blend of every route, learnt on the store.

``pairloop evaluate-recall`` learns the blend on sessions the routes never saw. The store
keeps pair counts, not sessions, so :func:`train_hybrid` holds out *pairs*: a seeded share of
the target pairs (verified complementary item pairs, or behaviour pairs) leaves the graph's
evidence and what E-E-I learns as taken — and, for behaviour targets, the co-occurrence
counts — and every route is fitted on the rest. Half of the held-out pairs' triggers teach
the blend; the other half measure it beside each route alone. The routes are then fitted
again on everything, and the served hybrid is the learnt blend over those.

Everything lives in DATA_DIR/models/kg/VERSION/hybrid/, beside the snapshot's GNN and E-E-I.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from knowledge_graph import store_io
from pairloop.usecases.context import Context
from pairloop.usecases.graph import open_snapshot
from pairloop.usecases.kg_models import model_dir
from store.errors import BadInput
from store.files import write_together
from store.verified import MajorityRule

if TYPE_CHECKING:
    import numpy as np

    from knowledge_graph.entities import Extraction
    from knowledge_graph.graph import EntityGraph
    from knowledge_graph.hybrid import HybridRanker
    from knowledge_graph.records import CatalogueItem, Evidence
    from knowledge_graph.route_fitting import RouteRecipe
    from knowledge_graph.snapshots import LoadedSnapshot

HYBRID_DIR = "hybrid"
BLEND_FILE, EEI_FILE, ITEMS_FILE, REPORT_FILE = "blend.joblib", "eei.pt", "items.npz", "report.json"
Target = Literal["verified", "behaviour"]
MIN_TRIGGERS = 10  # held-out triggers each half needs: fewer teach and measure nothing


class HybridTrained(BaseModel):
    """The blend learnt on a snapshot, and how it did on held-out pairs beside each route alone."""

    snapshot: str = Field(description="The snapshot's version.")
    target: str = Field(description="verified (verified complementary item pairs) or behaviour (pairs seen "
                        "together in sessions or baskets): what the blend learns to find.")
    target_pairs: int = Field(description="Target pairs among the snapshot's items.")
    held_out_pairs: int = Field(description="Target pairs the routes were fitted without.")
    blend_triggers: int = Field(description="Held-out triggers the blend learnt on.")
    measured_triggers: int = Field(description="The other held-out triggers, which measured it.")
    candidate_recall: float = Field(description="Share of the blend's held-out partners among its candidates.")
    measured: dict[str, dict[str, float]] = Field(
        description="Method → recall@10 and ndcg@10 on the measured triggers' held-out partners.")
    recipe: dict = Field(description="How the routes were fitted.")
    seconds: float
    path: str


@dataclass
class StoreRoutesData:
    """What the routes are fitted on: the snapshot's items, its graph's evidence, the behaviour counts."""

    items: list[CatalogueItem]
    evidence: list[Evidence]
    behaviour: Counter[tuple[str, str]]

    @property
    def keys(self) -> list[str]:
        return [item.key for item in self.items]

    @property
    def leaves(self) -> dict[str, str | None]:
        from knowledge_graph.slices import category_leaf

        return {item.key: category_leaf(item) for item in self.items}

    def complementary(self) -> set[frozenset[str]]:
        from knowledge_graph.graph import COMPLEMENTARY

        return {frozenset((e.a, e.b)) for e in self.evidence
                if e.kind == "item" and e.verified and e.relation == COMPLEMENTARY}


def _snapshot_items(items: list[CatalogueItem], behaviour: Counter[tuple[str, str]], loaded: LoadedSnapshot,
                    evidence: list[Evidence]) -> StoreRoutesData:
    """The snapshot's items, and the behaviour between them."""
    known = loaded.graph.item_entities
    return StoreRoutesData([item for item in items if item.key in known], evidence,
                           Counter({pair: n for pair, n in behaviour.items() if pair[0] in known and pair[1] in known}))


def _read(ctx: Context, loaded: LoadedSnapshot, rule: MajorityRule | None,
          min_agreeing: int | None) -> tuple[StoreRoutesData, EntityGraph, Extraction]:
    """The snapshot's items and evidence, checked to give the snapshot's graph again."""
    from knowledge_graph.entities import Extraction
    from knowledge_graph.graph import build_graph

    settings = ctx.settings
    unverified = not loaded.manifest.data.get("verified_only", True)
    with ctx.engine.connect() as conn:
        items, _ids = store_io.read_catalogue(conn)
        extraction = store_io.read_extraction(conn)
        evidence = store_io.read_evidence(conn, rule or settings.majority_rule,
                                          min_agreeing or settings.min_agreeing, unverified)
        behaviour = store_io.behaviour_counts(conn)
    known = loaded.graph.item_entities  # items imported after the snapshot are not its business
    extraction = Extraction({key: found for key, found in extraction.mentions.items() if key in known})
    graph, _report = build_graph(extraction, evidence, include_unverified=unverified)
    version = loaded.manifest.version
    if graph.label_set_hash != loaded.manifest.data["label_set_hash"] or \
            graph.item_entities != loaded.graph.item_entities:
        raise BadInput(f"the store's labels and entities no longer give snapshot {version}").with_hint(
            "Learn the blend on a new snapshot (`pairloop graph snapshot`), or give the rule the snapshot "
            "was taken with (--rule, --min-agreeing).")
    return _snapshot_items(items, behaviour, loaded, evidence), graph, extraction


def _hold_out(pairs: set[frozenset[str]], share: float, seed: int) -> set[frozenset[str]]:
    ordered = sorted(tuple(sorted(pair)) for pair in pairs if len(pair) == 2)
    random.Random(seed).shuffle(ordered)
    return {frozenset(pair) for pair in ordered[: round(len(ordered) * share)]}


def _halves(held: set[frozenset[str]], seed: int, limit: int) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The held-out pairs cut in two, each half as partners by trigger: one teaches, the other
    measures. Pairs are cut, not triggers, so no pair is seen by both (a trigger may be, with
    other partners); at most ``limit`` triggers a half, a seeded sample."""
    ordered = sorted(tuple(sorted(pair)) for pair in held)
    rng = random.Random(seed)
    rng.shuffle(ordered)
    middle = len(ordered) // 2
    halves = []
    for part in (ordered[:middle], ordered[middle:]):
        partners: dict[str, set[str]] = {}
        for a, b in part:
            partners.setdefault(a, set()).add(b)
            partners.setdefault(b, set()).add(a)
        triggers = sorted(partners)
        if len(triggers) > limit:
            triggers = sorted(rng.sample(triggers, limit))
        halves.append({trigger: partners[trigger] for trigger in triggers})
    return halves[0], halves[1]


def _fit(ctx: Context, data: StoreRoutesData, graph: EntityGraph, behaviour: Counter[tuple[str, str]],
         taken: set[frozenset[str]], held: set[frozenset[str]], matrix: np.ndarray, recipe: RouteRecipe,
         say: Callable[[str], None]):
    """Every route on ``behaviour`` and ``graph``; E-E-I learns nothing of the ``held`` pairs (they
    are neither shown nor drawn as negatives: their outcome is what the blend is measured on)."""
    from knowledge_graph.eei import pair_exposures
    from knowledge_graph.recall import CooccurrenceRecall
    from knowledge_graph.route_fitting import fit_route_set, sampled_pairs

    shown = sampled_pairs((pair for pair in behaviour if frozenset(pair) not in held), recipe.max_exposures,
                          recipe.seed)
    return fit_route_set(graph, data.keys, matrix, data.leaves, CooccurrenceRecall.from_pair_counts(behaviour),
                         pair_exposures(shown, taken), taken, recipe, _embedding_cache(ctx), say, unknown=held)


def _embedding_cache(ctx: Context) -> Path:
    return ctx.settings.data_path / "cache" / "embeddings"


def train_hybrid(ctx: Context, snapshot: str | None = None, *, target: Target = "verified", holdout: float = 0.2,
                 recipe: RouteRecipe | None = None, max_queries: int = 2000, rule: MajorityRule | None = None,
                 min_agreeing: int | None = None) -> HybridTrained:
    """Learn the hybrid blend for a snapshot (default: the newest) and fit the routes it blends."""
    import numpy as np

    from knowledge_graph.embeddings import embed_cached
    from knowledge_graph.evaluation import METHODS, rank_every_method
    from knowledge_graph.graph import build_graph
    from knowledge_graph.hybrid import HybridRanker
    from knowledge_graph.metrics import score_rankings
    from knowledge_graph.route_fitting import RouteRecipe

    started = time.perf_counter()
    recipe = recipe or RouteRecipe()
    loaded = open_snapshot(ctx, snapshot)
    version = loaded.manifest.version
    data, graph, extraction = _read(ctx, loaded, rule, min_agreeing)
    complementary = data.complementary()
    targets = complementary if target == "verified" else {frozenset(pair) for pair in data.behaviour}
    held = _hold_out(targets, holdout, recipe.seed)
    teach, measure = _halves(held, recipe.seed, max_queries)
    if min(len(teach), len(measure)) < MIN_TRIGGERS:
        what = "verified complementary item pairs" if target == "verified" else "behaviour pairs"
        raise BadInput(f"too few {what} to learn the blend: {len(targets)} among snapshot {version}'s items, "
                       f"{len(held)} held out, {len(teach)} + {len(measure)} triggers (each half needs "
                       f"{MIN_TRIGGERS})").with_hint(
            "Verify more labels, hold out more (--holdout)" + (", or learn on behaviour (--target behaviour)"
                                                                if target == "verified" else "") + ".")

    with ctx.progress.status("hybrid") as update:
        def say(what: str) -> None:
            update(f"hybrid: {what}")

        say("embedding item titles")
        matrix = embed_cached([item.title for item in data.items], _embedding_cache(ctx))
        say("routes without the held-out pairs")
        kept_evidence = [e for e in data.evidence if not (e.kind == "item" and frozenset((e.a, e.b)) in held)]
        inner_graph, _report = build_graph(extraction, kept_evidence,
                                           include_unverified=not loaded.manifest.data.get("verified_only", True))
        inner_behaviour = data.behaviour if target == "verified" else \
            Counter({pair: n for pair, n in data.behaviour.items() if frozenset(pair) not in held})
        inner = _fit(ctx, data, inner_graph, inner_behaviour, complementary - held, held, matrix, recipe, say)
        say("learning the blend")
        blend = HybridRanker(inner.routes, seed=recipe.seed).fit(teach)
        say("measuring it")
        rankings = rank_every_method(inner.routes, blend, sorted(measure), 10, say)
        measured = {method: {name: round(value, 4) for name, value in
                             score_rankings(rankings[method], measure, (10,)).items() if name != "queries"}
                    for method in METHODS}
        say("routes on every pair")
        outer = _fit(ctx, data, graph, data.behaviour, complementary, set(), matrix, recipe, say)

    folder = _folder(ctx, version)
    result = HybridTrained(
        snapshot=version, target=target, target_pairs=len(targets), held_out_pairs=len(held),
        blend_triggers=len(teach), measured_triggers=len(measure), candidate_recall=blend.report["candidate_recall"],
        measured=measured, recipe={**asdict(recipe), "holdout": holdout},
        seconds=round(time.perf_counter() - started, 1), path=str(folder))
    vectors = np.stack([outer.eei.item_vectors[key] for key in data.keys])
    write_together({
        folder / BLEND_FILE: blend.save,
        folder / EEI_FILE: outer.eei.save,
        folder / ITEMS_FILE: lambda path: np.savez(path, keys=np.array(data.keys), vectors=vectors),
        folder / REPORT_FILE: lambda path: path.write_text(result.model_dump_json(indent=2) + "\n"),
    })
    return result


def _folder(ctx: Context, version: str) -> Path:
    return model_dir(ctx, version) / HYBRID_DIR


def load_hybrid(ctx: Context, loaded: LoadedSnapshot) -> HybridRanker | None:
    """The hybrid learnt on this snapshot, over routes fitted on the store as it is now; None if none."""
    import numpy as np

    from knowledge_graph.eei import EeiModel
    from knowledge_graph.embeddings import embed_cached
    from knowledge_graph.hybrid import HybridRanker
    from knowledge_graph.recall import CooccurrenceRecall
    from knowledge_graph.route_fitting import RouteRecipe, route_set

    folder = _folder(ctx, loaded.manifest.version)
    if not (folder / BLEND_FILE).is_file():
        return None
    report = json.loads((folder / REPORT_FILE).read_text())
    recipe = RouteRecipe(**{k: v for k, v in report["recipe"].items() if k in RouteRecipe.__dataclass_fields__})
    with ctx.engine.connect() as conn:
        items, _ids = store_io.read_catalogue(conn)
        data = _snapshot_items(items, store_io.behaviour_counts(conn), loaded, [])
    saved = np.load(folder / ITEMS_FILE)
    scorer = EeiModel.load(folder / EEI_FILE).with_items(dict(zip(saved["keys"].tolist(), saved["vectors"],
                                                                  strict=True)))
    matrix = embed_cached([item.title for item in data.items], _embedding_cache(ctx))
    routes = route_set(loaded.graph, data.keys, matrix, data.leaves,
                       CooccurrenceRecall.from_pair_counts(data.behaviour), scorer, recipe)
    return HybridRanker.load(folder / BLEND_FILE, routes)

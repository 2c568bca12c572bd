"""The models trained on a graph snapshot: the dual-view entity GNN and the E-E-I weight model.

Both live in DATA_DIR/models/kg/VERSION, beside nothing else: a snapshot's models are found
by its version. The GNN's entity embeddings feed E-E-I; E-E-I ranks the items a snapshot's
complementary route offers (:func:`load_scorer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from knowledge_graph import store_io
from pairloop.usecases.context import Context
from pairloop.usecases.graph import open_snapshot
from store.errors import BadInput
from store.files import atomic_path, write_together
from store.verified import MajorityRule

if TYPE_CHECKING:
    from knowledge_graph.eei import EeiModel
    from knowledge_graph.snapshots import LoadedSnapshot

GNN_FILE, EEI_FILE, ITEMS_FILE = "gnn.pt", "eei.pt", "items.npz"


def model_dir(ctx: Context, version: str) -> Path:
    """Where the GNN and E-E-I models trained on one snapshot live."""
    return ctx.settings.data_path / "models" / "kg" / version


def _embedding_cache(ctx: Context) -> Path:
    return ctx.settings.data_path / "cache" / "embeddings"


def load_scorer(ctx: Context, loaded: LoadedSnapshot) -> EeiModel | None:
    """The E-E-I model trained on this snapshot, ready to score its items; None if there is none."""
    import numpy as np

    from knowledge_graph.eei import EeiModel

    folder = model_dir(ctx, loaded.manifest.version)
    if not (folder / EEI_FILE).is_file():
        return None
    items = np.load(folder / ITEMS_FILE)
    return EeiModel.load(folder / EEI_FILE).with_items(dict(zip(items["keys"].tolist(), items["vectors"],
                                                                strict=True)))


class GnnTrained(BaseModel):
    """Entity embeddings trained on a snapshot (InfoNCE between the GNN's two views)."""

    snapshot: str = Field(description="The snapshot's version.")
    entities: int
    epochs: int
    first_loss: float
    last_loss: float
    chance_loss: float = Field(description="InfoNCE of embeddings that tell nothing apart: log(batch).")
    epoch_seconds: float = Field(description="Mean seconds per epoch.")
    path: str


def train_gnn(ctx: Context, snapshot: str | None = None, *, epochs: int = 50, hidden: int = 128,
              out_dim: int = 64, temperature: float = 0.5, seed: int = 0) -> GnnTrained:
    """Train the dual-view entity encoder on a snapshot (default: the newest); its embeddings
    feed the E-E-I model (:func:`train_eei`)."""
    import numpy as np

    from knowledge_graph.embeddings import embed_cached
    from knowledge_graph.gnn import train_gnn as fit_gnn

    loaded = open_snapshot(ctx, snapshot)
    graph = loaded.graph
    with ctx.progress.task("embedding entity names", len(graph.nodes)) as advance:
        features = embed_cached([node.entity for node in graph.nodes], _embedding_cache(ctx), advance)
    with ctx.progress.task("training the GNN", epochs) as advance:
        result = fit_gnn(graph, features, epochs=epochs, hidden=hidden, out_dim=out_dim,
                         temperature=temperature, seed=seed, progress=advance)
    path = model_dir(ctx, loaded.manifest.version) / GNN_FILE
    with atomic_path(path) as staging:
        result.save(staging)
    return GnnTrained(snapshot=loaded.manifest.version, entities=len(result.entities), epochs=epochs,
                      first_loss=round(result.losses[0], 4), last_loss=round(result.losses[-1], 4),
                      chance_loss=round(result.config["chance_loss"], 4),
                      epoch_seconds=round(float(np.mean(result.epoch_seconds)), 4), path=str(path))


class EeiTrained(BaseModel):
    """The E-E-I model trained on a snapshot and the store's exposures."""

    snapshot: str = Field(description="The snapshot's version.")
    exposures: int = Field(description="Trigger → candidate items shown, route negatives included.")
    taken: int = Field(description="Exposures whose pair is a verified complementary pair.")
    loss: list[float] = Field(description="Training loss per epoch.")
    train_rows: int
    validation_rows: int
    positive_share: float
    validation_auc: float | None = Field(None, description="On held-out triggers, when both outcomes occur.")
    path: str


def train_eei(ctx: Context, snapshot: str | None = None, *, epochs: int = 8, negatives: int = 3,
              context: bool = False, rule: MajorityRule | None = None, min_agreeing: int | None = None,
              max_exposures: int = 60_000, seed: int = 0) -> EeiTrained:
    """Train E-E-I on the store's behaviour pairs (exposures; a seeded sample of ``max_exposures``
    pairs beyond it): verified complementary pairs are "taken"; ``negatives`` route items not
    taken are added per taken exposure. An item's features
    are its title embedding and its log popularity in the behaviour data. ``context`` also gives
    the model the trigger item's text (not in the paper's E-E-I)."""
    import numpy as np

    from knowledge_graph.eei import pair_exposures, route_negatives
    from knowledge_graph.eei import train_eei as fit_eei
    from knowledge_graph.embeddings import embed_cached
    from knowledge_graph.gnn import GnnResult
    from knowledge_graph.recall import CooccurrenceRecall, GraphRecall
    from knowledge_graph.route_fitting import item_features, sampled_pairs

    settings = ctx.settings
    loaded = open_snapshot(ctx, snapshot)
    folder = model_dir(ctx, loaded.manifest.version)
    if not (folder / GNN_FILE).is_file():
        raise BadInput(f"no GNN for snapshot {loaded.manifest.version}: run `pairloop gnn train` first")
    with ctx.engine.connect() as conn:
        items, _ids = store_io.read_catalogue(conn)
        behaviour = store_io.behaviour_counts(conn)
        evidence = store_io.read_evidence(conn, rule or settings.majority_rule,
                                          min_agreeing or settings.min_agreeing)
    taken = {frozenset((e.a, e.b)) for e in evidence if e.kind == "item" and e.relation == "complementary"}
    exposures = pair_exposures(sampled_pairs(behaviour, max_exposures, seed), taken)
    if not any(e.taken for e in exposures):
        raise BadInput("no verified complementary item pairs to learn from: import or verify labels first")
    graph = loaded.graph
    exposures += route_negatives(exposures, GraphRecall(graph).route_items, taken, negatives, seed)
    catalogue = [item for item in items if item.key in graph.item_entities]
    with ctx.progress.task("embedding item titles", len(catalogue)) as advance:
        text = embed_cached([item.title for item in catalogue], _embedding_cache(ctx), advance)
    keys = [item.key for item in catalogue]
    known = set(keys)  # items outside the snapshot do not set the popularity scale
    features = item_features(keys, text, CooccurrenceRecall.from_pair_counts(
        {pair: n for pair, n in behaviour.items() if pair[0] in known and pair[1] in known}).popularity)
    vectors = np.stack([features[key] for key in keys])
    with ctx.progress.task("training E-E-I", epochs) as advance:
        model = fit_eei(exposures, graph, GnnResult.load(folder / GNN_FILE).table(), features, context=context,
                        epochs=epochs, seed=seed, progress=advance)
    # The model and the item vectors it scores with are one scorer: published together or not at all.
    write_together({folder / EEI_FILE: model.save,
                    folder / ITEMS_FILE: lambda path: np.savez(path, keys=np.array(keys), vectors=vectors)})
    return EeiTrained(snapshot=loaded.manifest.version, exposures=len(exposures),
                      taken=sum(e.taken for e in exposures), **model.history, path=str(folder / EEI_FILE))

"""``pairloop eei train``: the Entity-Entity-Item weight model on exposures from the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from knowledge_graph import store_io
from pairloop.commands.graph import AgreeOpt, RuleOpt, SnapshotOpt, model_dir, open_snapshot
from pairloop.console import console, emit_json, progress_bar
from pairloop.settings import Settings, get_settings
from pairloop.store_access import open_store
from store.errors import BadInput
from store.verified import MajorityRule

if TYPE_CHECKING:
    from knowledge_graph.eei import EeiModel, Exposure
    from knowledge_graph.snapshots import LoadedSnapshot

app = typer.Typer(help="The E-E-I weight model: P(item taken | trigger entity, complementary entity, item).",
                  no_args_is_help=True)


def load_scorer(settings: Settings, loaded: LoadedSnapshot) -> EeiModel | None:
    """The E-E-I model trained on this snapshot, ready to score its items; None if there is none."""
    import numpy as np

    from knowledge_graph.eei import EeiModel

    folder = model_dir(settings, loaded.manifest.version)
    if not (folder / "eei.pt").is_file():
        return None
    items = np.load(folder / "items.npz")
    return EeiModel.load(folder / "eei.pt").with_items(dict(zip(items["keys"].tolist(), items["vectors"],
                                                                strict=True)))


@app.command("train")
def train(
    snapshot_ref: str | None = SnapshotOpt,
    epochs: int = typer.Option(8, min=1, help="Training epochs."),
    negatives: int = typer.Option(3, min=0, help="Route items not taken, per taken exposure."),
    context: bool = typer.Option(False, "--context", help="Also give the model the trigger item's text "
                                 "(not in the paper's E-E-I; it helps on BundleRec)."),
    rule: MajorityRule | None = RuleOpt,
    min_agreeing: int | None = AgreeOpt,
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train E-E-I on the store's behaviour pairs (exposures); verified complementary pairs are "taken"."""
    import numpy as np

    from knowledge_graph.eei import route_negatives, train_eei
    from knowledge_graph.embeddings import embed_cached
    from knowledge_graph.gnn import GnnResult
    from knowledge_graph.recall import GraphRecall

    settings = get_settings()
    engine = open_store(settings)
    loaded = open_snapshot(engine, snapshot_ref)
    gnn_path = model_dir(settings, loaded.manifest.version) / "gnn.pt"
    if not gnn_path.is_file():
        raise BadInput(f"no GNN for snapshot {loaded.manifest.version}: run `pairloop gnn train` first")
    with engine.connect() as conn:
        items, _ids = store_io.read_catalogue(conn)
        shown = store_io.behaviour_pairs(conn)
        evidence = store_io.read_evidence(conn, rule or settings.majority_rule,
                                          min_agreeing or settings.min_agreeing)
    engine.dispose()
    taken = {frozenset((e.a, e.b)) for e in evidence if e.kind == "item" and e.relation == "complementary"}
    exposures = _exposures(shown, taken)
    if not any(e.taken for e in exposures):
        raise BadInput("no verified complementary item pairs to learn from: import or verify labels first")
    graph = loaded.graph
    exposures += route_negatives(exposures, GraphRecall(graph).route_items, taken, negatives, seed)
    catalogue = [item for item in items if item.key in graph.item_entities]
    with progress_bar("embedding item titles", len(catalogue)) as advance:
        vectors = embed_cached([item.title for item in catalogue], settings.data_path / "cache" / "embeddings",
                               advance)
    keys = [item.key for item in catalogue]
    with progress_bar("training E-E-I", epochs) as advance:
        model = train_eei(exposures, graph, GnnResult.load(gnn_path).table(), dict(zip(keys, vectors, strict=True)),
                          context=context, epochs=epochs, seed=seed, progress=advance)
    folder = model_dir(settings, loaded.manifest.version)
    model.save(folder / "eei.pt")
    np.savez(folder / "items.npz", keys=np.array(keys), vectors=vectors)
    report = {"snapshot": loaded.manifest.version, "exposures": len(exposures),
              "taken": sum(e.taken for e in exposures), **model.history, "path": str(folder / "eei.pt")}
    if as_json:
        emit_json(report)
        return
    console.print(f"E-E-I on snapshot {report['snapshot']}: {report['exposures']:,} exposures "
                  f"({report['taken']:,} taken); loss {model.history['loss'][0]:.4f} → {model.history['loss'][-1]:.4f}"
                  + (f"; validation AUC {model.history['validation_auc']}" if "validation_auc" in model.history else "")
                  + f"; saved {folder / 'eei.pt'}")


def _exposures(shown: list[tuple[str, str]], taken: set[frozenset[str]]) -> list[Exposure]:
    """Both directions of every pair shown together, and taken pairs never seen in behaviour."""
    from knowledge_graph.eei import Exposure

    seen = {frozenset(pair) for pair in shown}
    pairs = shown + sorted(tuple(sorted(p)) for p in taken - seen if len(p) == 2)
    return [Exposure(t, c, frozenset((a, b)) in taken) for a, b in pairs for t, c in ((a, b), (b, a))]

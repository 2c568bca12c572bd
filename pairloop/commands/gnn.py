"""``pairloop gnn train``: the dual-view entity encoder on a graph snapshot."""

from __future__ import annotations

import typer

from pairloop.commands.graph import SnapshotOpt, model_dir, open_snapshot
from pairloop.console import console, emit_json, progress_bar
from pairloop.settings import get_settings
from pairloop.store_access import open_store

app = typer.Typer(help="The dual-view entity GNN (LLM-KERec), trained by InfoNCE between its views.",
                  no_args_is_help=True)


@app.command("train")
def train(
    snapshot_ref: str | None = SnapshotOpt,
    epochs: int = typer.Option(50, min=1, help="Training epochs (one full-graph pass each)."),
    hidden: int = typer.Option(128, min=8, help="Hidden width of each view's GCN."),
    out_dim: int = typer.Option(64, min=8, help="Embedding width of each view."),
    temperature: float = typer.Option(0.5, min=0.01, help="InfoNCE temperature."),
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train entity embeddings on a snapshot; they feed the E-E-I model (`pairloop eei train`)."""
    import numpy as np

    from knowledge_graph.embeddings import embed_cached
    from knowledge_graph.gnn import train_gnn

    settings = get_settings()
    engine = open_store(settings)
    loaded = open_snapshot(engine, snapshot_ref)
    engine.dispose()
    graph = loaded.graph
    cache = settings.data_path / "cache" / "embeddings"
    with progress_bar("embedding entity names", len(graph.nodes)) as advance:
        features = embed_cached([node.entity for node in graph.nodes], cache, advance)
    with progress_bar("training the GNN", epochs) as advance:
        result = train_gnn(graph, features, epochs=epochs, hidden=hidden, out_dim=out_dim,
                           temperature=temperature, seed=seed, progress=advance)
    path = model_dir(settings, loaded.manifest.version) / "gnn.pt"
    result.save(path)
    report = {"snapshot": loaded.manifest.version, "entities": len(result.entities), "epochs": epochs,
              "first_loss": round(result.losses[0], 4), "last_loss": round(result.losses[-1], 4),
              "chance_loss": round(result.config["chance_loss"], 4),
              "epoch_seconds": round(float(np.mean(result.epoch_seconds)), 4), "path": str(path)}
    if as_json:
        emit_json(report)
        return
    console.print(f"GNN on snapshot {report['snapshot']} ({report['entities']:,} entities): InfoNCE "
                  f"{report['first_loss']} → {report['last_loss']} in {epochs} epochs "
                  f"({report['epoch_seconds']} s/epoch); saved {path}")

"""``pairloop gnn train``: the dual-view entity encoder on a graph snapshot."""

from __future__ import annotations

import typer

from pairloop.commands.options import JsonOpt, SnapshotOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.kg_models import train_gnn

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
    as_json: bool = JsonOpt,
) -> None:
    """Train entity embeddings on a snapshot; they feed the E-E-I model (`pairloop eei train`)."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = train_gnn(ctx, snapshot_ref, epochs=epochs, hidden=hidden, out_dim=out_dim,
                           temperature=temperature, seed=seed)
    if as_json:
        emit_json(result)
        return
    console.print(f"GNN on snapshot {result.snapshot} ({result.entities:,} entities): InfoNCE "
                  f"{result.first_loss} → {result.last_loss} in {result.epochs} epochs "
                  f"({result.epoch_seconds} s/epoch); saved {result.path}")

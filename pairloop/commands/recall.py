"""``pairloop evaluate-recall --bundles DIR``: complementary recall on held-out BundleRec bundles."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.recall import evaluate_recall as evaluate

LABELS = {
    "cooccurrence": "(a) session co-occurrence",
    "graph": "(b) graph, no E-E-I",
    "graph+eei": "(c) graph + E-E-I",
    "graph+eei+context": "(c') graph + E-E-I with trigger-item text",
    "title-similarity": "(ref) MiniLM title similarity, no graph",
}


BundlesOpt = typer.Option(..., "--bundles", help="A BundleRec domain folder, or a folder of them.")
OutOpt = typer.Option(None, "--out", help="Also write the results to this JSON file.")
RoutePowerOpt = typer.Option(
    [], "--route-power", min=0.0,
    help="Also report graph + E-E-I with this exponent on P(e' | e) (repeatable; the default is 0.5).")


def evaluate_recall(
    bundles: Path = BundlesOpt,
    k: int = typer.Option(10, "--k", min=1, help="Cut-off of recall@k and NDCG@k."),
    test_share: float = typer.Option(0.2, min=0.05, max=0.9, help="Share of sessions held out."),
    seed: int = typer.Option(0, help="Seed of the split and of the models."),
    gnn_epochs: int = typer.Option(40, min=1, help="GNN epochs."),
    eei_epochs: int = typer.Option(8, min=1, help="E-E-I epochs."),
    route_power: list[float] = RoutePowerOpt,
    validation: bool = typer.Option(
        False, "--validation", help="Drop the test sessions unread and evaluate on a validation split "
        "cut from the training sessions: choose settings here, not on the test bundles."),
    out: Path | None = OutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Recall@k and NDCG@k of held-out bundle partners: co-occurrence, graph, graph + E-E-I, in one run.

    Sessions are split; the graph, the GNN and E-E-I see only the training sessions and
    their bundles. Every catalogue item is a candidate.
    """
    from knowledge_graph.evaluation import RecallConfig

    config = RecallConfig(k=k, test_share=test_share, seed=seed, gnn_epochs=gnn_epochs, eei_epochs=eei_epochs,
                          route_powers=tuple(route_power), validation=validation)
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = evaluate(ctx, bundles, config, out)
    if as_json:
        emit_json(result)
        return
    held = "validation" if validation else "held-out"
    table = Table(title=f"{held} bundle partners, recall@{k} / NDCG@{k}")
    table.add_column("method")
    for domain in result.domains:
        table.add_column(f"{domain.domain} ({domain.queries} queries)")
    table.add_column("mean")
    for method, mean in result.mean.items():
        label = LABELS.get(method, method.replace("graph+eei@", "(c) graph + E-E-I, "))
        cells = [f"{d.methods[method][f'recall@{k}']:.4f} / {d.methods[method][f'ndcg@{k}']:.4f}"
                 for d in result.domains]
        table.add_row(label, *cells, f"{mean[f'recall@{k}']:.4f} / {mean[f'ndcg@{k}']:.4f}")
    console.print(table)

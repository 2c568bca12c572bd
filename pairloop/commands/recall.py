"""``pairloop evaluate-recall``: complementary recall on held-out BundleRec bundles and Instacart baskets."""

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
    "popularity": "popularity",
    "cooccurrence": "session co-occurrence",
    "title-similarity": "MiniLM title similarity",
    "graph": "graph, no E-E-I",
    "graph+eei": "graph + E-E-I",
    "hybrid": "hybrid (learned blend)",
}

BundlesOpt = typer.Option(None, "--bundles", help="A BundleRec domain folder, or a folder of them.")
BasketsOpt = typer.Option(None, "--baskets", help="An Instacart folder (products.csv, order_products__train.csv).")
OutOpt = typer.Option(None, "--out", help="Also write the results to this JSON file, and the figure beside it (.png).")


def evaluate_recall(
    bundles: Path | None = BundlesOpt,
    baskets: Path | None = BasketsOpt,
    k: list[int] = typer.Option([10, 50], "--k", min=1, help="Cut-offs of recall@k and NDCG@k (repeatable)."),
    test_share: float = typer.Option(0.2, min=0.05, max=0.9, help="Share of sessions held out."),
    seed: int = typer.Option(0, help="Seed of the split, the samples and the models."),
    gnn_epochs: int = typer.Option(40, min=1, help="GNN epochs."),
    eei_epochs: int = typer.Option(8, min=1, help="E-E-I epochs."),
    max_queries: int = typer.Option(2000, min=1, help="Held-out triggers evaluated (a seeded sample beyond it)."),
    validation: bool = typer.Option(
        False, "--validation", help="Drop the test sessions unread and evaluate on a validation split "
        "cut from the training sessions: choose settings here, not on the test split."),
    out: Path | None = OutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Recall@k and NDCG@k of held-out partners: every method on every slice (all, complementary,
    same-kind, cold), in one run.

    Sessions (orders, for baskets) are split; the routes and the hybrid's blend see only the
    training sessions. Every catalogue item is a candidate.
    """
    from knowledge_graph.evaluation import RecallConfig

    config = RecallConfig(ks=tuple(sorted(set(k))), test_share=test_share, seed=seed, gnn_epochs=gnn_epochs,
                          eei_epochs=eei_epochs, max_queries=max_queries, validation=validation)
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = evaluate(ctx, config, bundles=bundles, baskets=baskets, out=out)
    if as_json:
        emit_json(result)
        return
    first = config.ks[0]
    for source in result.sources:
        table = Table(title=f"{source.source}: {'validation' if validation else 'held-out'} partners, "
                            f"recall@{first} / NDCG@{first} ({source.seconds:.0f} s)")
        table.add_column("method")
        for name, figures in source.slices.items():
            table.add_column(f"{name} ({figures.queries})")
        for method, label in LABELS.items():
            table.add_row(label, *(f"{s.methods[method][f'recall@{first}']:.4f} / "
                                   f"{s.methods[method][f'ndcg@{first}']:.4f}" for s in source.slices.values()))
        console.print(table)

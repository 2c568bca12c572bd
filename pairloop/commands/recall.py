"""``pairloop evaluate-recall --bundles DIR``: complementary recall on held-out BundleRec bundles."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from pairloop.console import console, emit_json, err_console
from pairloop.settings import get_settings
from store.errors import BadInput

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
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Recall@k and NDCG@k of held-out bundle partners: co-occurrence, graph, graph + E-E-I, in one run.

    Sessions are split; the graph, the GNN and E-E-I see only the training sessions and
    their bundles. Every catalogue item is a candidate.
    """
    from knowledge_graph.bundles import find_domains
    from knowledge_graph.evaluation import RecallConfig, evaluate_bundles

    if out is not None and out.exists():
        raise BadInput("the output file exists; choose a new one", out)
    directories = list(find_domains(bundles))
    config = RecallConfig(k=k, test_share=test_share, seed=seed, gnn_epochs=gnn_epochs, eei_epochs=eei_epochs,
                          route_powers=tuple(route_power), validation=validation)
    cache = get_settings().data_path / "cache" / "embeddings"
    with err_console.status("evaluating") as status:
        result = evaluate_bundles(directories, config, cache, lambda what: status.update(f"evaluating: {what}"))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        emit_json(result)
        return
    held = "validation" if validation else "held-out"
    table = Table(title=f"{held} bundle partners, recall@{k} / NDCG@{k}")
    table.add_column("method")
    for domain in result["domains"]:
        table.add_column(f"{domain['domain']} ({domain['queries']} queries)")
    table.add_column("mean")
    for method in result["mean"]:
        label = LABELS.get(method, method.replace("graph+eei@", "(c) graph + E-E-I, "))
        cells = [f"{d['methods'][method][f'recall@{k}']:.4f} / {d['methods'][method][f'ndcg@{k}']:.4f}"
                 for d in result["domains"]]
        mean = result["mean"][method]
        table.add_row(label, *cells, f"{mean[f'recall@{k}']:.4f} / {mean[f'ndcg@{k}']:.4f}")
    console.print(table)

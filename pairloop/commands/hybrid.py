"""``pairloop hybrid train``: the blend of every route that ``graph recommend`` serves."""

from __future__ import annotations

import typer
from rich.table import Table

from pairloop.commands.options import AgreeOpt, JsonOpt, RuleOpt, SnapshotOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.hybrid import Target, train_hybrid
from store.verified import MajorityRule

app = typer.Typer(help="The hybrid route: every route blended by weights learnt on held-out pairs.",
                  no_args_is_help=True)


@app.command("train")
def train(
    snapshot_ref: str | None = SnapshotOpt,
    target: str = typer.Option("verified", "--target", help="What the blend learns to find: verified "
                               "(verified complementary item pairs) or behaviour (pairs seen together in "
                               "sessions or baskets)."),
    holdout: float = typer.Option(0.2, min=0.05, max=0.5, help="Share of the target pairs the routes are fitted "
                                  "without; half of their triggers teach the blend, half measure it."),
    gnn_epochs: int = typer.Option(40, min=1, help="GNN epochs."),
    eei_epochs: int = typer.Option(8, min=1, help="E-E-I epochs."),
    max_queries: int = typer.Option(2000, min=1, help="Held-out triggers in each half (a seeded sample beyond it)."),
    rule: MajorityRule | None = RuleOpt,
    min_agreeing: int | None = AgreeOpt,
    seed: int = typer.Option(0, help="Seed of the hold-out and the models."),
    as_json: bool = JsonOpt,
) -> None:
    """Learn the blend on a snapshot (default: the newest); `graph recommend` then ranks by it.

    The routes are fitted without the held-out pairs, the blend learns on half of their triggers
    and is measured on the other half beside every route alone; then the routes are fitted again
    on every pair. The snapshot's rule must be given again (--rule, --min-agreeing).
    """
    from knowledge_graph.route_fitting import RouteRecipe

    if target not in ("verified", "behaviour"):
        raise typer.BadParameter("choose verified or behaviour", param_hint="--target")
    chosen: Target = "verified" if target == "verified" else "behaviour"
    recipe = RouteRecipe(seed=seed, gnn_epochs=gnn_epochs, eei_epochs=eei_epochs)
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = train_hybrid(ctx, snapshot_ref, target=chosen, holdout=holdout, recipe=recipe,
                              max_queries=max_queries, rule=rule, min_agreeing=min_agreeing)
    if as_json:
        emit_json(result)
        return
    table = Table(title=f"snapshot {result.snapshot}: held-out {result.target} partners of "
                        f"{result.measured_triggers} triggers ({result.seconds:.0f} s)")
    for column in ("route", "recall@10", "ndcg@10"):
        table.add_column(column)
    for method, figures in result.measured.items():
        table.add_row(method, f"{figures['recall@10']:.4f}", f"{figures['ndcg@10']:.4f}")
    console.print(table)
    console.print(f"learnt on {result.blend_triggers} triggers ({result.held_out_pairs} of {result.target_pairs} "
                  f"target pairs held out); saved {result.path}")

"""``pairloop eei train``: the Entity-Entity-Item weight model on exposures from the store."""

from __future__ import annotations

import typer

from pairloop.commands.options import AgreeOpt, JsonOpt, RuleOpt, SnapshotOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.kg_models import train_eei
from store.verified import MajorityRule

app = typer.Typer(help="The E-E-I weight model: P(item taken | trigger entity, complementary entity, item).",
                  no_args_is_help=True)


@app.command("train")
def train(
    snapshot_ref: str | None = SnapshotOpt,
    epochs: int = typer.Option(8, min=1, help="Training epochs."),
    negatives: int = typer.Option(3, min=0, help="Route items not taken, per taken exposure."),
    context: bool = typer.Option(False, "--context", help="Also give the model the trigger item's text "
                                 "(not in the paper's E-E-I; it helps on BundleRec)."),
    max_exposures: int = typer.Option(60_000, min=1, help="Behaviour pairs learnt from (a seeded sample beyond "
                                      "it: a basket store holds millions)."),
    rule: MajorityRule | None = RuleOpt,
    min_agreeing: int | None = AgreeOpt,
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = JsonOpt,
) -> None:
    """Train E-E-I on the store's behaviour pairs (exposures); verified complementary pairs are "taken"."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = train_eei(ctx, snapshot_ref, epochs=epochs, negatives=negatives, context=context, rule=rule,
                           min_agreeing=min_agreeing, max_exposures=max_exposures, seed=seed)
    if as_json:
        emit_json(result)
        return
    console.print(f"E-E-I on snapshot {result.snapshot}: {result.exposures:,} exposures "
                  f"({result.taken:,} taken); loss {result.loss[0]:.4f} → {result.loss[-1]:.4f}"
                  + (f"; validation AUC {result.validation_auc}" if result.validation_auc is not None else "")
                  + f"; saved {result.path}")

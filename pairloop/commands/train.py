"""``pairloop train``: fit the relation committee on the store's verified labels and version it."""

from __future__ import annotations

import typer

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.training import FEATURE_NAMES, TrainParams, train_on_store

FEATURES_HELP = (f"Item encoder: {FEATURE_NAMES} (tfidf: char n-grams, any language; minilm: English). "
                 "Default: PAIRLOOP_FEATURES.")


def train(
    features: str | None = typer.Option(None, "--features", help=FEATURES_HELP),
    members: int = typer.Option(10, min=1, help="Logistic regressions in the committee."),
    c: float = typer.Option(10.0, "--c", min=1e-6, help="Inverse regularisation strength of each member."),
    cv: int = typer.Option(0, "--cv", min=0, help="Also report K-fold cross-validated macro-F1 (0: off)."),
    keep_round_labels: bool = typer.Option(
        True, help="Every member keeps all labels bought in rounds (only seed labels are downsampled)."),
    seed: int = typer.Option(0, help="Random seed of the class-balanced downsampling."),
    as_json: bool = JsonOpt,
) -> None:
    """Train the committee on the verified labels (majority rule: PAIRLOOP_MAJORITY_RULE) and save a version."""
    settings = get_settings()
    params = TrainParams(features or settings.features, members, c, seed, keep_round_labels, cv)
    with Context(settings, RICH_PROGRESS) as ctx:
        info = train_on_store(ctx, params)
    if as_json:
        emit_json(info)
        return
    classes = ", ".join(f"{k} {v:,}" for k, v in sorted(info.metrics["classes"].items()))
    line = f"trained {info.version} on {info.n_labels:,} verified labels ({classes})"
    if cv:
        scores = info.metrics["cv"]
        line += f"; {cv}-fold macro-F1 {scores['macro_f1']:.3f} ± {scores['macro_f1_std']:.3f}"
    console.print(line)

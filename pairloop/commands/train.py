"""``pairloop train``: fit the relation committee on the store's verified labels and version it."""

from __future__ import annotations

import typer

from pairloop.commands.simulate import FEATURE_NAMES
from pairloop.console import console, emit_json, progress_bar
from pairloop.settings import get_settings
from pairloop.store_access import open_store
from pairloop.usecases.training import TrainParams, train_on_store

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
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train the committee on the verified labels (majority rule: PAIRLOOP_MAJORITY_RULE) and save a version."""
    settings = get_settings()
    params = TrainParams(features or settings.features, members, c, seed, keep_round_labels, cv)
    engine = open_store(settings)
    with progress_bar("training" + (f" ({cv}-fold cross-validation first)" if cv else ""), cv or None) as advance:
        info = train_on_store(engine, settings, params, on_fold=advance)
    engine.dispose()
    if as_json:
        emit_json({"version": info.version, "path": info.path, "n_labels": info.n_labels,
                   "labels_hash": info.labels_hash, "featuriser": info.featuriser, "metrics": info.metrics})
        return
    classes = ", ".join(f"{k} {v:,}" for k, v in sorted(info.metrics["classes"].items()))
    line = f"trained {info.version} on {info.n_labels:,} verified labels ({classes})"
    if cv:
        scores = info.metrics["cv"]
        line += f"; {cv}-fold macro-F1 {scores['macro_f1']:.3f} ± {scores['macro_f1_std']:.3f}"
    console.print(line)

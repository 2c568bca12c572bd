"""``pairloop evaluate --test PATH``: a trained version's macro-F1, per-class figures, confusion matrix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from pairloop.console import console, emit_json, progress_bar
from pairloop.settings import get_settings
from pairloop.store_access import open_store


def evaluate(
    test: Path = typer.Option(..., "--test", help="Labelled pair file (FBL TSV, or the project's CSV/JSONL)."),
    version: str | None = typer.Option(None, help="Classifier version (default: the newest)."),
    out: Path | None = typer.Option(None, help="Folder for metrics.json and confusion.png "
                                    "(default: DATA_DIR/evaluations/<version>-<test name>)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Score a labelled test file with a trained model; write metrics.json and confusion.png."""
    from classifier.data import read_pair_file, require_labelled
    from classifier.evaluation import classification_metrics, write_report
    from classifier.model import check_vocabulary
    from classifier.registry import load_model, record_metrics

    settings = get_settings()
    pairs = require_labelled(read_pair_file(test, None, settings.majority_rule, settings.min_agreeing),
                             "the test file")
    engine = open_store(settings)
    model, info = load_model(engine, version)
    coverage = check_vocabulary(model.featuriser, pairs, "the test file")
    with progress_bar(f"scoring {test.name}", len(pairs.items)) as advance:
        vectors = model.featuriser.encode(pairs.items, advance)
        predicted = model.predict(pairs, vectors)
    metrics = classification_metrics(pairs.labels.astype(str), predicted, model.classes)
    metrics.update({"version": info.version, "test": str(test), "vocabulary_coverage": round(coverage, 4),
                    "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds")})
    out = out or settings.data_path / "evaluations" / f"{info.version}-{test.stem}"
    json_path, png_path = write_report(metrics, out, f"{info.version} on {test.name}")
    record_metrics(engine, info.version, test.name, {k: metrics[k] for k in ("n", "macro_f1", "accuracy")})
    engine.dispose()
    if as_json:
        emit_json({**metrics, "json": str(json_path), "png": str(png_path)})
        return
    per_class = ", ".join(f"{name} F1 {m['f1']:.3f}" for name, m in metrics["per_class"].items())
    console.print(f"{info.version} on {test.name} ({metrics['n']:,} pairs): macro-F1 {metrics['macro_f1']:.3f} "
                  f"({per_class}); wrote {json_path} and {png_path.name}")

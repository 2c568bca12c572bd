"""``pairloop evaluate --test PATH``: a trained version's macro-F1, per-class figures, confusion matrix."""

from __future__ import annotations

from pathlib import Path

import typer

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.training import evaluate_file


def evaluate(
    test: Path = typer.Option(..., "--test", help="Labelled pair file (FBL TSV, or the project's CSV/JSONL)."),
    version: str | None = typer.Option(None, help="Classifier version (default: the newest)."),
    out: Path | None = typer.Option(None, help="Folder for metrics.json and confusion.png "
                                    "(default: DATA_DIR/evaluations/<version>-<test name>)."),
    as_json: bool = JsonOpt,
) -> None:
    """Score a labelled test file with a trained model; write metrics.json and confusion.png."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        report = evaluate_file(ctx, test, version, out)
    if as_json:
        emit_json(report)
        return
    per_class = ", ".join(f"{name} F1 {m.f1:.3f}" for name, m in report.per_class.items())
    console.print(f"{report.version} on {test.name} ({report.n:,} pairs): macro-F1 {report.macro_f1:.3f} "
                  f"({per_class}); wrote {report.json_path} and confusion.png")

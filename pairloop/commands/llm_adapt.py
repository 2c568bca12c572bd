"""``pairloop llm adapt``: a probe on the local model's hidden states, trained on human verdicts."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.llm_adapt import AdaptResult, Measurement
from pairloop.usecases.llm_adapt import adapt as adapt_usecase


def adapt(
    inputs: list[Path] | None = typer.Option(
        None, "--input", "-i", help="Labelled pair file(s) to train on instead of the store's human-verified labels "
        "(repeat the option for several)."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="Input format; default: recognised from the header."),
    limit: int | None = typer.Option(None, "--limit", min=2, help="Train on at most N pairs (a seeded sample)."),
    layer: int | None = typer.Option(None, "--layer", help="Hidden layer the probe reads (6, 9 or 12; default 12)."),
    pooling: str | None = typer.Option(None, "--pooling", help="`mean` over the pair's tokens (default) or the "
                                       "prompt's `last` token."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", min=1, help="Stop when computing the training "
                                             "pairs' hidden states takes longer (what was computed stays cached)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples and the classifiers."),
    test: Path | None = typer.Option(None, "--test", help="Measure the adapter on this labelled file's pairs that it "
                                     "was not trained on, next to the relation classifier trained on the same pairs."),
    test_limit: int | None = typer.Option(None, "--test-limit", min=2, help="At most N test pairs (a seeded sample)."),
    test_train_share: float = typer.Option(0.0, "--test-train-share", min=0.0, max=0.95, help="Move this share of "
                                           "the test pairs into training first (labels bought in that domain)."),
    out: Path | None = typer.Option(None, "--out", help="Folder of measurement.json (default: "
                                    "DATA_DIR/reports/llm-adapt-<version>-<test>)."),
    as_json: bool = JsonOpt,
) -> None:
    """Teach the local LLM the humans' verdicts: a probe on its hidden states, saved as an adapter.

    Trains a class-balanced, calibrated logistic regression on one layer's hidden state of the
    labelling prompt, on the store's human-verified labels (or --input files), and saves it under
    DATA_DIR/models/llm-adapters/<version>/ with what it was trained on. Its proposals carry the
    version, e.g. smollm2-135m+probe-1a2b3c4d. With --test it is measured on pairs it never saw.
    """
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = adapt_usecase(ctx, inputs, fmt, limit, layer, pooling, max_seconds, seed, test, test_limit,
                               test_train_share, out)
    if as_json:
        emit_json(result)
        return
    console.print(f"{result.version}: probe on layer {result.layer} ({result.pooling}) of {result.base_model} "
                  f"({result.prompt_version}), trained on {result.pairs} pairs from {result.source} "
                  f"({_inline(result.classes)}); {result.folder}")
    if result.measurement:
        _print_measurement(result, result.measurement)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _print_measurement(r: AdaptResult, m: Measurement) -> None:
    e = m.errors
    table = Table(title=f"{r.version} on {m.test}", show_header=False)
    table.add_row("held-out pairs", f"{m.test_pairs} ({_inline(m.human_relations)}); {m.moved_to_training} moved "
                  f"to training, {m.excluded_trained} dropped as trained on")
    table.add_row("accuracy", f"{_fmt(m.accuracy)} (always the majority class: {_fmt(m.majority_baseline)})")
    table.add_row("Cohen's kappa", _fmt(m.kappa))
    threshold = "closed" if m.gate_threshold is None else f"confidence ≥ {m.gate_threshold:.3f}"
    table.add_row(f"trust gate (precision ≥ {m.gate_target_precision})",
                  f"{threshold}; on the other {m.gate_split['held_out']}: coverage {_fmt(m.gate_coverage)}, "
                  f"precision {_fmt(m.gate_precision)}")
    table.add_row("precision of the most confident", _inline_shares(m.precision_at_coverage))
    table.add_row("relation classifier (same pairs)", f"accuracy {_fmt(e.classifier_accuracy)}, "
                  f"kappa {_fmt(e.classifier_kappa)}")
    table.add_row("errors: probe / classifier", f"{_fmt(e.probe_error_rate)} / {_fmt(e.classifier_error_rate)}")
    table.add_row("both wrong", f"{_fmt(e.both_wrong)} (independent: {_fmt(e.both_wrong_if_independent)}); "
                  f"phi {_fmt(e.phi)}; only the probe right {_fmt(e.probe_right_classifier_wrong)}")
    table.add_row("report", m.report)
    console.print(table)


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items()))


def _inline_shares(values: dict[str, float]) -> str:
    return ", ".join(f"{share}: {value:.3f}" for share, value in values.items())

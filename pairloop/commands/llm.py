"""``pairloop llm label|agreement|adapt``: LLM proposals for a pair file, their agreement with humans, and a
local model adapted to the humans' verdicts (:mod:`pairloop.commands.llm_adapt`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pairloop.commands.llm_adapt import adapt
from pairloop.commands.options import JsonOpt, RuleOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.llm import AgreementResult, agreement, label_file
from store.verified import MajorityRule

app = typer.Typer(help="Label pairs with an LLM and measure how far it agrees with humans.",
                  no_args_is_help=True)
app.command("adapt")(adapt)

InputOpt = typer.Option(..., "--input", "-i", help="Pair file (FBL TSV, or the project's CSV/JSONL).")
FormatOpt = typer.Option(None, "--format", "-f", help="Input format; default: recognised from the header.")
LimitOpt = typer.Option(None, "--limit", min=1, help="Only the first N pairs (agreement: first N with a human label).")
OutFileOpt = typer.Option(..., "--out", "-o", help="Where to write the proposals (.csv or .jsonl).")
OutDirOpt = typer.Option(None, "--out", help="Folder for agreement.json and confusion.png "
                         "(default: DATA_DIR/reports/agreement-<id>).")
TargetOpt = typer.Option(None, min=0.5, max=0.999,
                         help="Trust gate target precision (default: PAIRLOOP_LLM_TARGET_PRECISION).")


@app.command("label")
def label(
    input_path: Path = InputOpt,
    out: Path = OutFileOpt,
    fmt: str | None = FormatOpt,
    limit: int | None = LimitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Propose labels for the pairs of a file; cached proposals are reused, never paid twice.

    The output lists every pair in file order with its proposal (status agreed / disputed /
    unlabelled). Its columns are named ``proposed_*`` so it is never mistaken for labels.
    """
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = label_file(ctx, input_path, out, fmt, limit)
    if as_json:
        emit_json(result)
        return
    gate_text = ("no trust gate yet (run `pairloop llm agreement`)" if result.gate is None
                 else f"{result.auto_accept} pass the trust gate")
    console.print(f"{result.out}: {result.pairs} pairs labelled by {result.model} "
                  f"({result.prompt_version}): {_inline(result.status)}; {gate_text}")


@app.command("agreement")
def agreement_command(
    input_path: Path = InputOpt,
    fmt: str | None = FormatOpt,
    limit: int | None = LimitOpt,
    rule: MajorityRule | None = RuleOpt,
    target_precision: float | None = TargetOpt,
    out: Path | None = OutDirOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Accuracy, Cohen's kappa, confusion matrix and trust gate of the LLM against humans.

    Compares the configured LLM with the human majority label of each pair in the file.
    The file's labels are not imported; the report is stored per model + prompt version.
    """
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = agreement(ctx, input_path, fmt, limit, rule, target_precision, out)
    if as_json:
        emit_json(result)
    else:
        _print_agreement(result)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _print_agreement(m: AgreementResult) -> None:
    gate, split = m.gate, m.gate_split
    table = Table(title=f"agreement · {m.model} · {m.prompt_version}", show_header=False)
    table.add_row("pairs", f"{m.pairs} ({_inline(m.human_relations)})")
    table.add_row("proposals", f"{_inline(m.status)}; consistency {_fmt(m.consistency)}")
    table.add_row("accuracy", f"{_fmt(m.accuracy)} (always the majority class: {_fmt(m.majority_baseline)}); "
                  f"agreed only {_fmt(m.accuracy_agreed)}")
    table.add_row("Cohen's kappa", _fmt(m.kappa))
    if m.demonstration_pool is not None:
        table.add_row("demonstrations alone", f"accuracy {_fmt(m.neighbours_accuracy)}, kappa "
                      f"{_fmt(m.neighbours_kappa)} (their majority relation; pool of {m.demonstration_pool:,})")
    table.add_row("option letters chosen", f"{_inline(m.answer_positions)} (shuffled per vote)")
    table.add_row("fine code accuracy", f"{_fmt(m.fine_accuracy)} on {m.fine_pairs} pairs")
    threshold = ("closed: nothing is auto-accepted" if gate.threshold is None
                 else f"confidence ≥ {gate.threshold:.3f}")
    table.add_row(f"trust gate (precision ≥ {gate.target_precision})",
                  f"{threshold} (fitted on {split.calibration} pairs); on the other {split.held_out}: "
                  f"coverage {_fmt(m.gate_coverage)}, precision {_fmt(m.gate_precision)}")
    if m.preannotation is not None:
        table.add_row("pre-annotation in rounds", f"{m.preannotation.policy}: {m.preannotation.reason}")
    table.add_row("report", f"#{m.report_id}: " + ", ".join(m.files))
    console.print(table)


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items()))

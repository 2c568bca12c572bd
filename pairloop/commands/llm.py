"""``pairloop llm label|agreement``: LLM proposals for a pair file, and their agreement with humans."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import Engine

from annotator.agreement import Judged, agreement, plot_confusion, store_report
from annotator.llm import Labeller, LlmError, Proposal, propose_cached
from annotator.llm.pairs import register_pairs
from annotator.trust_gate import latest_gate
from pairloop.usecases.rounds import labeller_from_settings
from pairloop.console import console, emit_json, err_console, progress_bar
from pairloop.settings import Settings, get_settings
from pairloop.store_access import open_store
from store.errors import BadInput
from store.formats import read_pairs
from store.formats.records import PairRow
from store.formats.truth import labelled_rows
from store.taxonomy import mirror_fine
from store.verified import MajorityRule

app = typer.Typer(help="Label pairs with an LLM and measure how far it agrees with humans.",
                  no_args_is_help=True)

InputOpt = typer.Option(..., "--input", "-i", help="Pair file (FBL TSV, or the project's CSV/JSONL).")
FormatOpt = typer.Option(None, "--format", "-f", help="Input format; default: recognised from the header.")
LimitOpt = typer.Option(None, "--limit", min=1, help="Only the first N pairs (agreement: first N with a human label).")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
OutFileOpt = typer.Option(..., "--out", "-o", help="Where to write the proposals (.csv or .jsonl).")
OutDirOpt = typer.Option(None, "--out", help="Folder for agreement.json and confusion.png "
                         "(default: DATA_DIR/reports/agreement-<id>).")
RuleOpt = typer.Option(None, help="Majority rule for the human label (default: PAIRLOOP_MAJORITY_RULE).")
TargetOpt = typer.Option(None, min=0.5, max=0.999,
                         help="Trust gate target precision (default: PAIRLOOP_LLM_TARGET_PRECISION).")
OUTPUT_COLUMNS = ("item_a", "item_b", "item_source", "title_a", "title_b", "status", "proposed_relation",
                  "proposed_fine_code", "confidence", "auto_accept", "rationale", "model", "prompt_version")


@contextmanager
def _llm_failures() -> Iterator[None]:
    """An unreachable or refusing LLM is one clear line and exit code 1; what was done stays cached."""
    try:
        yield
    except LlmError as exc:
        err_console.print(f"[red]error:[/red] {exc}\n(proposals made before the failure are cached: "
                          "run the command again to resume)", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _propose(engine: Engine, settings: Settings, rows: Sequence[PairRow]) -> tuple[Labeller, list[tuple[int, bool]], dict[int, Proposal]]:
    with engine.begin() as conn:
        ids = register_pairs(conn, rows)
    labeller = labeller_from_settings(settings)
    unique = list(dict.fromkeys(pid for pid, _ in ids))
    with progress_bar(f"LLM labelling ({labeller.model_name})", total=len(unique)) as advance:
        proposals = propose_cached(engine, labeller, unique, advance)
    return labeller, ids, proposals


def _in_file_order(fine_code: int | None, reversed_: bool) -> int | None:
    return mirror_fine(fine_code) if fine_code and reversed_ else fine_code


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
    if out.suffix.lower() not in (".csv", ".jsonl"):
        raise BadInput("the output file must end in .csv or .jsonl", out)
    settings = get_settings()
    rows = _rows(read_pairs(input_path, fmt), limit)
    engine = open_store(settings)
    with _llm_failures():
        labeller, ids, proposals = _propose(engine, settings, rows)
    with engine.connect() as conn:
        gate = latest_gate(conn, labeller.model_name, labeller.prompt_version)
    engine.dispose()
    records = []
    for row, (pid, reversed_) in zip(rows, ids, strict=True):
        p = proposals[pid]
        records.append({
            "item_a": row.item_a.external_id, "item_b": row.item_b.external_id,
            "item_source": row.item_a.source, "title_a": row.item_a.title, "title_b": row.item_b.title,
            "status": p.status.value, "proposed_relation": p.relation.value if p.relation else None,
            "proposed_fine_code": _in_file_order(p.fine_code, reversed_), "confidence": p.confidence,
            "auto_accept": bool(gate and gate.accepts(p)), "rationale": p.rationale,
            "model": p.model, "prompt_version": p.prompt_version,
        })
    _write_atomically(out, records)
    summary = {"input": str(input_path), "out": str(out), "pairs": len(records),
               "model": labeller.model_name, "prompt_version": labeller.prompt_version,
               "status": dict(Counter(r["status"] for r in records)),
               "auto_accept": sum(r["auto_accept"] for r in records),
               "gate_threshold": gate.threshold if gate else None}
    if as_json:
        emit_json(summary)
    else:
        gate_text = ("no trust gate yet (run `pairloop llm agreement`)" if gate is None
                     else f"{summary['auto_accept']} pass the trust gate")
        console.print(f"{out}: {len(records)} pairs labelled by {labeller.model_name} "
                      f"({labeller.prompt_version}): " + _inline(summary["status"]) + f"; {gate_text}")


def _rows(rows, limit: int | None) -> list[PairRow]:
    result = []
    for row in rows:
        if limit is not None and len(result) >= limit:
            break
        result.append(row)
    return result


def _write_atomically(path: Path, records: list[dict[str, Any]]) -> None:
    """Write to a temporary file beside ``path`` and rename: never a half-written output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            if path.suffix.lower() == ".jsonl":
                for record in records:
                    stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                writer = csv.DictWriter(stream, fieldnames=OUTPUT_COLUMNS)
                writer.writeheader()
                writer.writerows(records)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)


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
    settings = get_settings()
    labelled = ((row, truth) for row, truth in labelled_rows(
        input_path, fmt, rule or settings.majority_rule, settings.min_agreeing) if truth is not None)
    pairs = _rows(labelled, limit)
    if not pairs:
        raise BadInput("no pair in the file has a human majority label", input_path)
    engine = open_store(settings)
    with _llm_failures():
        _, ids, proposals = _propose(engine, settings, [row for row, _ in pairs])
    judged = [
        Judged(proposals[pid], truth.relation.value, _in_file_order(truth.fine_code, reversed_))
        for (_, truth), (pid, reversed_) in zip(pairs, ids, strict=True)
    ]
    metrics = agreement(judged, target_precision or settings.llm_target_precision)
    metrics.update(input=str(input_path), limit=limit, rule=(rule or settings.majority_rule).value)
    with engine.begin() as conn:
        report_id = store_report(conn, metrics)
    engine.dispose()
    folder = out or settings.data_path / "reports" / f"agreement-{report_id}"
    folder.mkdir(parents=True, exist_ok=True)
    metrics["report_id"] = report_id
    (folder / "agreement.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    plot_confusion(metrics, folder / "confusion.png")
    metrics["files"] = [str(folder / "agreement.json"), str(folder / "confusion.png")]
    if as_json:
        emit_json(metrics)
    else:
        _print_agreement(metrics)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _print_agreement(m: dict[str, Any]) -> None:
    gate = m["gate"]
    table = Table(title=f"agreement · {m['model']} · {m['prompt_version']}", show_header=False)
    table.add_row("pairs", f"{m['pairs']} ({_inline(m['human_relations'])})")
    table.add_row("proposals", _inline(m["status"]) + f"; consistency {_fmt(m['consistency'])}")
    table.add_row("accuracy", f"{_fmt(m['accuracy'])} (always the majority class: {_fmt(m['majority_baseline'])}); "
                  f"agreed only {_fmt(m['accuracy_agreed'])}")
    table.add_row("Cohen's kappa", _fmt(m["kappa"]))
    table.add_row("option letters chosen", _inline(m["answer_positions"]) + " (shuffled per vote)")
    table.add_row("fine code accuracy", f"{_fmt(m['fine_accuracy'])} on {m['fine_pairs']} pairs")
    threshold = ("closed: nothing is auto-accepted" if gate["threshold"] is None
                 else f"confidence ≥ {gate['threshold']:.3f}")
    split = m["gate_split"]
    table.add_row(f"trust gate (precision ≥ {gate['target_precision']})",
                  f"{threshold} (fitted on {split['calibration']} pairs); on the other {split['held_out']}: "
                  f"coverage {_fmt(m['gate_coverage'])}, precision {_fmt(m['gate_precision'])}")
    table.add_row("report", f"#{m['report_id']}: " + ", ".join(m["files"]))
    console.print(table)


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items()))

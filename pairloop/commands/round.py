"""``pairloop round start|status|sync|adjudicate|close|list``: acquisition rounds with Label Studio."""

from __future__ import annotations

import typer
from rich.table import Table

from active_learning.strategies import DEFAULT_STRATEGY
from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json, err_console
from pairloop.settings import get_settings
from pairloop.usecases import rounds
from pairloop.usecases.context import Context

app = typer.Typer(help="Acquisition rounds: select pairs, get LLM proposals, verify in Label Studio, close.",
                  no_args_is_help=True)

RoundArg = typer.Argument(None, help="Round id (default: the newest round).")


def _context() -> Context:
    return Context(get_settings(), RICH_PROGRESS)


@app.command("start")
def start(
    strategy: str = typer.Option(DEFAULT_STRATEGY, help="Query strategy (see `pairloop simulate --help`)."),
    size: int = typer.Option(30, min=1, help="Pairs to select."),
    seed: int | None = typer.Option(None, help="Random seed (default: the round number)."),
    llm: str | None = typer.Option(None, help="LLM backend: local, openai or none (default: PAIRLOOP_LLM_BACKEND)."),
    as_json: bool = JsonOpt,
) -> None:
    """Start a round (or resume the unfinished one): select, propose, auto-accept, push to Label Studio."""
    with _context() as ctx:
        started = rounds.start_round(ctx, strategy, size, seed, llm)
    if as_json:
        emit_json(started)
        return
    verb = "resumed" if started.resumed else "started"
    auto_accepted = started.proposals.auto_accepted if started.proposals else 0
    console.print(f"round {started.round} {verb}: {started.status.pairs} pairs, "
                  f"{auto_accepted} auto-accepted by the trust gate, "
                  f"{started.status.pending} waiting in Label Studio project {started.label_studio_project}")


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@app.command("status")
def status(round_id: int | None = RoundArg, as_json: bool = JsonOpt) -> None:
    """Verified / pending / unsure / disputed / adjudication counts, annotators' progress and agreement."""
    with _context() as ctx:
        data = rounds.round_status(ctx, round_id)
    if as_json:
        emit_json(data)
        return
    table = Table(title=f"round {data.round} · {data.state} · {data.strategy}", show_header=False)
    for key in ("pairs", "verified", "auto_accepted", "pending", "unsure", "disputed_by_llm", "without_majority",
                "disputed", "in_adjudication", "adjudicated"):
        table.add_row(key.replace("_", " "), str(getattr(data, key)))
    table.add_row("annotator agreement (α)", _figure(data.inter_annotator_alpha))
    llm = data.llm_vs_human
    if llm.pairs:
        table.add_row("LLM vs humans", f"accuracy {_figure(llm.accuracy)}, κ {_figure(llm.kappa)} on {llm.pairs} pairs")
    for annotator in data.annotators:
        table.add_row(f"  {annotator.name}", f"{annotator.answers} answers"
                      + ("" if annotator.accuracy is None else f", accuracy {annotator.accuracy:.2f}")
                      + ("" if annotator.accuracy_adjudicated is None else
                         f", {annotator.accuracy_adjudicated:.2f} on {annotator.adjudicated} adjudicated"))
    console.print(table)


def _adjudication_line(report: rounds.AdjudicationReport) -> str:
    return (f"{report.routed} disputed pairs sent to adjudication"
            + ("" if report.adjudication_project is None else
               f" (Label Studio project {report.adjudication_project}), "
               f"{report.rulings.labels_added if report.rulings else 0} rulings stored"))


@app.command("sync")
def sync(round_id: int | None = RoundArg, as_json: bool = JsonOpt) -> None:
    """Reconcile with Label Studio: fetch annotations changed since the last sync; adjudicate."""
    with _context() as ctx:
        report = rounds.sync_round(ctx, round_id)
    if as_json:
        emit_json(report)
        return
    console.print(f"round {report.round}: {report.tasks_listed} tasks listed, {report.annotations_seen} "
                  "annotations seen; " + _adjudication_line(report.adjudication))


@app.command("adjudicate")
def adjudicate(round_id: int | None = RoundArg, as_json: bool = JsonOpt) -> None:
    """Send disputed pairs (all answers in, no majority) to adjudication; store the rulings.

    The adjudication project is 'pairloop round N · adjudication' in Label Studio (Label Studio
    Community cannot assign tasks to a person: whoever works that project adjudicates). Its
    answers reach the store through the service's webhook as they are made, and are listed
    again here and in `pairloop round sync` (which also adjudicates) in case one was missed.
    """
    with _context() as ctx:
        report = rounds.adjudicate_round(ctx, round_id)
    if as_json:
        emit_json(report)
        return
    console.print(f"round {report.round}: " + _adjudication_line(report))


@app.command("close")
def close(round_id: int | None = RoundArg, as_json: bool = JsonOpt) -> None:
    """Derive verified labels, retrain the classifier, record metrics, and close the round."""
    with _context() as ctx:
        closed = rounds.close_round(ctx, round_id)
    if as_json:
        emit_json(closed)
        return
    metrics, trained = closed.metrics, closed.metrics.classifier
    console.print(f"round {closed.round} closed: {metrics.verified} of {metrics.pairs} pairs verified; "
                  f"classifier {trained.version} trained on {trained.n_labels} labels"
                  + ("" if trained.test_macro_f1 is None else f", held-out macro-F1 {trained.test_macro_f1:.3f}"))
    if metrics.in_adjudication or metrics.disputed:
        err_console.print(f"note: {metrics.disputed + metrics.in_adjudication} disputed pairs are not "
                          "decided yet; their rulings count once `pairloop round sync` reads them")


@app.command("list")
def list_rounds(as_json: bool = JsonOpt) -> None:
    """Every round with its state and headline figures."""
    with _context() as ctx:
        summaries = rounds.list_rounds(ctx)
    if as_json:
        emit_json(summaries)
        return
    table = Table("round", "state", "strategy", "classifier", "verified", "held-out macro-F1")
    for r in summaries:
        metrics = r.metrics or {}
        f1 = (metrics.get("classifier") or {}).get("test_macro_f1")
        table.add_row(str(r.round), r.state, r.strategy, r.classifier_version or "",
                      str(metrics.get("verified", "")), "" if f1 is None else f"{f1:.3f}")
    console.print(table)

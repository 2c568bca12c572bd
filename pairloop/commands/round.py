"""``pairloop round start|status|sync|adjudicate|close|list``: acquisition rounds with Label Studio."""

from __future__ import annotations

from pathlib import Path

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


# The status table's rows: (field, label); the pair counts are round_steps.PairProgress's.
STATUS_ROWS = (("pairs", "pairs"), ("verified", "verified"), ("auto_accepted", "auto-accepted (trust gate)"),
               ("pending", "pending (nobody answered)"), ("partly_answered", "partly answered"),
               ("unsure", "unsure"), ("without_majority", "without majority"), ("disputed", "disputed (humans)"),
               ("in_adjudication", "in adjudication"), ("adjudicated", "adjudicated"),
               ("disputed_by_llm", "LLM votes split"))


@app.command("status")
def status(
    round_id: int | None = RoundArg,
    flags: bool = typer.Option(True, "--flags/--no-flags", help="Flag the store's verified labels that are likely "
                                                                "wrong (the first status after labels change trains "
                                                                "5-fold committees)."),
    as_json: bool = JsonOpt,
) -> None:
    """Verified / pending / partly answered / disputed / adjudication counts, annotators (by e-mail) and agreement.

    Annotators are shown by the e-mail Label Studio gave for them (cached by `round start`,
    `round sync`, `round adjudicate` and `round close`), else by their actor id. "LLM votes
    split" counts pairs on which the LLM's own votes disagreed (not a human dispute). The
    pre-annotation line says whether the round pre-selected the LLM's answers in Label Studio
    or showed them as suggestions, and why. Flagged labels (`pairloop labels suspects`; --json
    lists them) can be sent to the round's adjudication with `pairloop labels suspects --send`."""
    with _context() as ctx:
        data = rounds.round_status(ctx, round_id, flags=flags)
    if as_json:
        emit_json(data)
        return
    table = Table(title=f"round {data.round} · {data.state} · {data.strategy}", show_header=False)
    for key, label in STATUS_ROWS:
        table.add_row(label, str(getattr(data, key)))
    if data.flagged_sent:
        table.add_row("flagged labels sent to adjudication", f"{len(data.flagged_sent)}, "
                      f"{data.flagged_in_adjudication} awaiting a ruling")
    if data.preannotation is not None:
        table.add_row("LLM pre-annotation", f"{data.preannotation.policy}: {data.preannotation.reason}")
    if data.label_flags is not None:
        found = data.label_flags
        table.add_row("labels flagged as likely wrong", f"{found.flagged} of {found.verified} verified (send them to "
                      "adjudication: `pairloop labels suspects --send`)" if found.computed else found.note or "")
    if data.late_answers:
        table.add_row("late answers", f"{data.late_answers} (after the close: kept, not counted)")
    table.add_row("selected by", data.classifier_version or "")
    if data.closed_classifier_version:
        table.add_row("closed with", data.closed_classifier_version)
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
    late = report.processing.late
    console.print(f"round {report.round}: {report.tasks_listed} tasks listed, {report.annotations_seen} "
                  "annotations seen; " + _adjudication_line(report.adjudication)
                  + (f"; {late} answers arrived after the close: stored as late, not counted" if late else ""))


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
def close(
    round_id: int | None = RoundArg,
    force: bool = typer.Option(False, "--force", help="Close even with pairs unanswered, partly answered, disputed "
                                                      "or in adjudication (recorded as forced)."),
    test: Path | None = typer.Option(None, "--test", help="Labelled pair file to score the classifier on "
                                                          "(held-out macro-F1; default: PAIRLOOP_TEST_SET)."),
    as_json: bool = JsonOpt,
) -> None:
    """Close a round whose pairs are all decided: retrain the classifier (unless no label changed), record metrics.

    A round with pairs still waiting for answers or a ruling is refused, naming them; `--force`
    closes it anyway. Answers given after the close are stored as late and never counted; the
    round's Label Studio projects are titled "… · closed"."""
    with _context() as ctx:
        closed = rounds.close_round(ctx, round_id, force=force, test=test)
    if as_json:
        emit_json(closed)
        return
    metrics, trained = closed.metrics, closed.metrics.classifier
    how = (f"classifier {trained.version} trained on {trained.n_labels} labels" if trained.retrained else
           f"no label changed since classifier {trained.version}; not retrained")
    console.print(f"round {closed.round} closed: {metrics.verified} of {metrics.pairs} pairs verified; {how}"
                  + ("" if trained.test_macro_f1 is None else f"; held-out macro-F1 {trained.test_macro_f1:.3f}"))
    if metrics.forced:
        err_console.print(f"note: closed with --force: {metrics.pending} unanswered, {metrics.partly_answered} partly "
                          f"answered, {metrics.disputed + metrics.in_adjudication} disputed pairs stay without a "
                          "verified label; answers given from now on are stored as late, never counted")
    if closed.label_studio_note:
        err_console.print(f"note: {closed.label_studio_note}")


@app.command("list")
def list_rounds(as_json: bool = JsonOpt) -> None:
    """Every round with its state, the classifier that selected it and the one its close produced."""
    with _context() as ctx:
        summaries = rounds.list_rounds(ctx)
    if as_json:
        emit_json(summaries)
        return
    table = Table("round", "state", "strategy", "selected by", "closed with", "verified", "held-out macro-F1")
    for r in summaries:
        metrics = r.metrics or {}
        f1 = (metrics.get("classifier") or {}).get("test_macro_f1")
        closed_with = r.closed_classifier_version or ""
        if closed_with and (metrics.get("classifier") or {}).get("retrained") is False:
            closed_with += " (kept)"
        table.add_row(str(r.round), r.state, r.strategy, r.classifier_version or "", closed_with,
                      str(metrics.get("verified", "")), "" if f1 is None else f"{f1:.3f}")
    console.print(table)

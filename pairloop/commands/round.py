"""``pairloop round start|status|sync|adjudicate|close|list``: acquisition rounds with Label Studio."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from active_learning.strategies import DEFAULT_STRATEGY
from annotator.label_studio import LabelStudioError, LabelStudioUnavailable
from annotator.llm import LlmError
from pairloop import studio
from pairloop.usecases import round_steps as rounds
from pairloop.usecases import rounds as acquisition
from pairloop.console import console, emit_json, err_console, progress_bar
from pairloop.settings import Settings, get_settings
from pairloop.store_access import open_store
from store.errors import BadInput
from store.models import Round

app = typer.Typer(help="Acquisition rounds: select pairs, get LLM proposals, verify in Label Studio, close.",
                  no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
RoundArg = typer.Argument(None, help="Round id (default: the newest round).")


@contextmanager
def _resumable(round_hint: str) -> Iterator[None]:
    """An unreachable Label Studio or LLM: one clear line, exit 1, the round kept as it is."""
    try:
        yield
    except (LabelStudioUnavailable, LabelStudioError, studio.StudioError, LlmError) as exc:
        err_console.print(f"[red]error:[/red] {exc}\nThe round keeps its state: {round_hint}",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except rounds.RoundError as exc:
        raise BadInput(str(exc)) from None


@app.command("start")
def start(
    strategy: str = typer.Option(DEFAULT_STRATEGY, help="Query strategy (see `pairloop simulate --help`)."),
    size: int = typer.Option(30, min=1, help="Pairs to select."),
    seed: int | None = typer.Option(None, help="Random seed (default: the round number)."),
    llm: str | None = typer.Option(None, help="LLM backend: local, openai or none (default: PAIRLOOP_LLM_BACKEND)."),
    as_json: bool = JsonOpt,
) -> None:
    """Start a round (or resume the unfinished one): select, propose, auto-accept, push to Label Studio."""
    settings = get_settings()
    with _resumable("run `pairloop round start` again to resume it"):
        summary = acquisition.start_round(settings, strategy, size, seed, llm)
    if as_json:
        emit_json(summary)
        return
    verb = "resumed" if summary["resumed"] else "started"
    proposals = summary.get("proposals") or {}
    console.print(f"round {summary['round']} {verb}: {summary['status']['pairs']} pairs, "
                  f"{proposals.get('auto_accepted', 0)} auto-accepted by the trust gate, "
                  f"{summary['status']['pending']} waiting in Label Studio project "
                  f"{summary['label_studio_project']}")


@app.command("status")
def status(round_id: int | None = RoundArg, as_json: bool = JsonOpt) -> None:
    """Verified / pending / unsure / disputed / adjudication counts, annotators' progress and agreement."""
    settings = get_settings()
    engine = open_store(settings)
    with _resumable("nothing was changed"):
        data = acquisition.round_status(engine, settings, round_id)
    engine.dispose()
    if as_json:
        emit_json(data)
        return
    table = Table(title=f"round {data['round']} · {data['state']} · {data['strategy']}", show_header=False)
    for key in ("pairs", "verified", "auto_accepted", "pending", "unsure", "disputed_by_llm", "without_majority",
                "disputed", "in_adjudication", "adjudicated"):
        table.add_row(key.replace("_", " "), str(data[key]))
    alpha = data["inter_annotator_alpha"]
    table.add_row("annotator agreement (α)", "n/a" if alpha is None else f"{alpha:.3f}")
    llm = data["llm_vs_human"]
    if llm["pairs"]:
        table.add_row("LLM vs humans", f"accuracy {llm['accuracy']:.3f}, κ {llm['kappa']:.3f} on {llm['pairs']} pairs")
    for annotator in data["annotators"]:
        accuracy = annotator["accuracy"]
        adjudicated = annotator["accuracy_adjudicated"]
        table.add_row(f"  {annotator['name']}", f"{annotator['answers']} answers"
                      + ("" if accuracy is None else f", accuracy {accuracy:.2f}")
                      + ("" if adjudicated is None else
                         f", {adjudicated:.2f} on {annotator['adjudicated']} adjudicated"))
    console.print(table)


@app.command("sync")
def sync(round_id: int | None = RoundArg, as_json: bool = JsonOpt) -> None:
    """Reconcile with Label Studio: fetch annotations changed since the last sync; adjudicate."""
    def sync_with_progress(engine: Engine, settings: Settings, known_id: int) -> dict[str, Any]:
        with progress_bar(f"syncing round {known_id}") as advance:
            return acquisition.sync_round(engine, settings, known_id, advance)

    round_id, report = _on_round(round_id, "run `pairloop round sync` again", sync_with_progress)
    if as_json:
        emit_json(report)
    else:
        console.print(f"round {round_id}: {report['tasks_listed']} tasks listed, "
                      f"{report['annotations_seen']} annotations seen; " + _adjudication_line(report["adjudication"]))


def _on_round(round_id: int | None, retry_hint: str,
              action: Callable[[Engine, Settings, int], dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """Run ``action`` on the given round (default: the newest) with the store open; Label Studio
    and LLM failures become one clear line (see :func:`_resumable`)."""
    settings = get_settings()
    engine = open_store(settings)
    try:
        with _resumable(retry_hint):
            with engine.connect() as conn:
                round_id = rounds.get_round(conn, round_id).id
            return round_id, action(engine, settings, round_id)
    finally:
        engine.dispose()


def _adjudication_line(report: dict) -> str:
    rulings = report["rulings"] or {}
    return (f"{report['routed']} disputed pairs sent to adjudication"
            + ("" if report["adjudication_project"] is None else
               f" (Label Studio project {report['adjudication_project']}), "
               f"{rulings.get('labels_added', 0)} rulings stored"))


@app.command("adjudicate")
def adjudicate(round_id: int | None = RoundArg, as_json: bool = JsonOpt) -> None:
    """Send disputed pairs (all answers in, no majority) to adjudication; store the rulings.

    The adjudication project is 'pairloop round N · adjudication' in Label Studio (Label Studio
    Community cannot assign tasks to a person: whoever works that project adjudicates). Its
    answers reach the store through the service's webhook as they are made, and are listed
    again here and in `pairloop round sync` (which also adjudicates) in case one was missed.
    """
    round_id, report = _on_round(round_id, "run `pairloop round adjudicate` again", acquisition.adjudicate_round)
    if as_json:
        emit_json(report)
    else:
        console.print(f"round {round_id}: " + _adjudication_line(report))


@app.command("close")
def close(round_id: int | None = RoundArg, as_json: bool = JsonOpt) -> None:
    """Derive verified labels, retrain the classifier, record metrics, and close the round."""
    round_id, metrics = _on_round(round_id, "nothing was changed", acquisition.close_round)
    if as_json:
        emit_json({"round": round_id, "metrics": metrics})
        return
    trained = metrics["classifier"]
    held_out = trained.get("test_macro_f1")
    console.print(f"round {round_id} closed: {metrics['verified']} of {metrics['pairs']} pairs verified; "
                  f"classifier {trained['version']} trained on {trained['n_labels']} labels"
                  + ("" if held_out is None else f", held-out macro-F1 {held_out:.3f}"))
    if metrics["in_adjudication"] or metrics["disputed"]:
        err_console.print(f"note: {metrics['disputed'] + metrics['in_adjudication']} disputed pairs are not "
                          "decided yet; their rulings count once `pairloop round sync` reads them")


@app.command("list")
def list_rounds(as_json: bool = JsonOpt) -> None:
    """Every round with its state and headline figures."""
    settings = get_settings()
    engine = open_store(settings)
    with engine.connect() as conn:
        rows = Session(bind=conn).scalars(select(Round).order_by(Round.id)).all()
    engine.dispose()
    data = [{"round": r.id, "state": r.state, "strategy": r.strategy, "seed": r.seed,
             "classifier_version": r.classifier_version, "created_at": r.created_at,
             "metrics": r.metrics} for r in rows]
    if as_json:
        emit_json(data)
        return
    table = Table("round", "state", "strategy", "classifier", "verified", "held-out macro-F1")
    for r in data:
        metrics = r["metrics"] or {}
        f1 = (metrics.get("classifier") or {}).get("test_macro_f1")
        table.add_row(str(r["round"]), r["state"], r["strategy"], r["classifier_version"] or "",
                      str(metrics.get("verified", "")), "" if f1 is None else f"{f1:.3f}")
    console.print(table)

"""``pairloop demo``: the whole loop on embedded defaults and a sample catalogue the project writes.

Imports the catalogue, starts a local Label Studio and the pairloop service, trains the
classifier, then runs acquisition rounds in which the embedded LLM proposes labels and
simulated annotators verify them in Label Studio; the webhook brings their answers back,
the rounds close, and the learning curve and agreement figures are printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from active_learning.strategies import DEFAULT_STRATEGY
from pairloop.console import RICH_PROGRESS, console
from pairloop.settings import get_settings
from pairloop.usecases.context import Context

if TYPE_CHECKING:
    from pairloop.usecases.demo import DemoReport, DemoRound


def demo(
    rounds_to_run: int = typer.Option(2, "--rounds", min=1, help="Acquisition rounds to run."),
    size: int = typer.Option(24, min=1, help="Pairs per round."),
    strategy: str = typer.Option(DEFAULT_STRATEGY, help="Query strategy."),
    llm: str = typer.Option("local", help="LLM backend for proposals: local (embedded SmolLM2), openai, none."),
    seed: int = typer.Option(7, help="Seed of the sample catalogue and the simulated annotators."),
) -> None:
    """Run the whole loop on a sample catalogue: Label Studio, LLM proposals, simulated annotators."""
    # The service (FastAPI, uvicorn) and the rounds' libraries load when the demo runs, not for its --help.
    from pairloop.server import ServiceThread
    from pairloop.usecases.demo import run_demo

    settings = get_settings()
    console.print(f"[bold]pairloop demo[/bold] · data in {settings.data_path} "
                  "(the first run installs Label Studio: a few minutes)")
    with Context(settings, RICH_PROGRESS) as ctx:
        report = run_demo(ctx, ServiceThread, rounds_to_run, size, strategy, llm, seed)
    _print_report(report)


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print_report(report: DemoReport) -> None:
    for name, imported in report.imports.items():
        console.print(f"  {name}: {imported.rows} rows, {imported.items_added} new items, "
                      f"{imported.pairs_added} new pairs, {imported.labels_added} new labels")
    start = report.curve[0]
    console.print(f"classifier {start.classifier}: held-out macro-F1 {_figure(start.macro_f1)} before any round")
    console.print(f"pairloop service on {report.service_url} (webhooks at /webhooks/label-studio, "
                  "API docs at /docs)")
    for played in report.rounds:
        _print_round(played)
    table = Table("round", "labels acquired", "held-out macro-F1", "classifier", title="learning curve")
    for point in report.curve:
        table.add_row(str(point.round), str(point.labels), _figure(point.macro_f1), point.classifier)
    console.print(table)
    studio = report.studio
    console.print(f"Label Studio: {studio.url}  (login {studio.username} / {studio.password}; "
                  f"the annotators' projects are 'pairloop round N', disputed pairs wait for an "
                  f"adjudicator in 'pairloop round N · adjudication')")
    console.print(f"learning curve: {report.curve_png} (data: {report.curve_json})")
    console.print("more: `pairloop round list`, `pairloop round status N`, `pairloop stats`; "
                  "stop Label Studio with `pairloop studio down`")
    console.print(f"dashboard: {report.dashboard_url}  (login: the API token {report.api_token}); start it with "
                  f"`make dashboard` (or `PAIRLOOP_DATA_DIR={report.data_dir} pairloop serve`)")


def _print_round(played: DemoRound) -> None:
    metrics = played.metrics
    console.print(f"round {played.round}: {played.answers} answers given, {played.delivered} delivered by the webhook")
    if played.adjudication_project is not None:
        console.print(f"round {played.round}: {played.disputed} disputed pairs went to the adjudication project "
                      f"{played.adjudication_project}; {played.rulings} rulings stored")
    console.print(
        f"round {played.round} closed: {metrics.verified}/{metrics.pairs} pairs verified "
        f"({metrics.auto_accepted} auto-accepted, {metrics.adjudicated} adjudicated, "
        f"{metrics.disputed + metrics.in_adjudication} disputed and waiting for an adjudicator), "
        f"annotator agreement α = {_figure(metrics.inter_annotator_alpha)}, "
        f"LLM vs humans accuracy = {_figure(metrics.llm_vs_human.accuracy)}")
    for annotator in metrics.annotators:
        console.print(f"    {annotator.name}: {annotator.answers} answers, accuracy "
                      f"{_figure(annotator.accuracy)} against the verified labels, "
                      f"{_figure(annotator.accuracy_adjudicated)} on {annotator.adjudicated} "
                      "pairs an adjudicator decided")

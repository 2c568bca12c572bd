"""``pairloop demo``: the whole loop on embedded defaults and a sample catalogue the project writes.

Imports the catalogue, starts a local Label Studio and the pairloop service, trains the
classifier, then runs acquisition rounds in which the embedded LLM proposes labels and
simulated annotators verify them in Label Studio; the webhook brings their answers back,
the rounds close, and the learning curve and agreement figures are printed.
"""

from __future__ import annotations

import typer
from rich.table import Table

from active_learning.strategies import DEFAULT_STRATEGY
from pairloop import studio
from pairloop.usecases import rounds as acquisition
from pairloop import demo as parts
from pairloop.api.server import ServiceThread
from pairloop.console import console, progress_bar
from pairloop.sample.catalogue import SampleFiles, write_sample
from pairloop.settings import Settings, get_settings
from pairloop.store_access import open_store
from pairloop.usecases.training import evaluate_file, load_or_train
from store import formats
from store.importer import Importer


def _import_sample(settings: Settings, sample: SampleFiles) -> None:
    engine = open_store(settings)
    steps = [
        ("catalogue", lambda imp: imp.items(formats.read_items(sample.catalogue))),
        ("seed labels", lambda imp: imp.pairs(formats.read_pairs(sample.seed_labels))),
        ("candidate pool", lambda imp: imp.pairs(formats.read_pairs(sample.pool))),
    ]
    for name, work in steps:
        with progress_bar(f"import {name}") as advance, engine.begin() as conn:
            importer = Importer(conn, advance)
            work(importer)
            report = importer.finish()
        console.print(f"  {name}: {report.rows} rows, {report.items_added} new items, "
                      f"{report.pairs_added} new pairs, {report.labels_added} new labels")
    engine.dispose()


def demo(
    rounds_to_run: int = typer.Option(2, "--rounds", min=1, help="Acquisition rounds to run."),
    size: int = typer.Option(24, min=1, help="Pairs per round."),
    strategy: str = typer.Option(DEFAULT_STRATEGY, help="Query strategy."),
    llm: str = typer.Option("local", help="LLM backend for proposals: local (embedded SmolLM2), openai, none."),
    seed: int = typer.Option(7, help="Seed of the sample catalogue and the simulated annotators."),
) -> None:
    """Run the whole loop on a sample catalogue: Label Studio, LLM proposals, simulated annotators."""
    base = get_settings()
    sample = write_sample(base.data_path / "sample", seed=seed)
    settings = base.model_copy(update={"test_set": sample.test})
    console.print(f"[bold]pairloop demo[/bold] · data in {settings.data_path}")
    _import_sample(settings, sample)

    with console.status("starting Label Studio (the first run installs it: a few minutes)"):
        state = studio.up(settings, log=lambda line: console.log(line))
    engine = open_store(settings)
    truths = parts.truth_by_pair(engine, seed)
    _model, version = load_or_train(engine, settings)
    start = evaluate_file(engine, settings, sample.test, version)
    points = [{"round": 0, "labels": 0, "macro_f1": start["macro_f1"], "classifier": version}]
    console.print(f"classifier {version}: held-out macro-F1 {start['macro_f1']:.3f} before any round")

    with ServiceThread(settings) as running:
        console.print(f"pairloop service on {running.url} (webhooks at /webhooks/label-studio, API docs at /docs)")
        for number in range(1, rounds_to_run + 1):
            summary = acquisition.start_round(settings, strategy, size, seed + number, llm)
            round_id, project = summary["round"], summary["label_studio_project"]
            pending = summary["status"]["pending"]
            with progress_bar(f"round {round_id}: annotators answer in Label Studio",
                              pending * len(parts.DEFAULT_ANNOTATORS)) as advance:
                answered = parts.answer_round(state.url, project, parts.DEFAULT_ANNOTATORS, truths,
                                              seed + number, advance)
            delivered = parts.wait_for_webhooks(engine, round_id, sum(answered.values()))
            console.print(f"round {round_id}: {sum(answered.values())} answers given, "
                          f"{delivered} delivered by the webhook")
            _adjudicate(engine, settings, state.url, round_id, truths, seed + number)
            names = acquisition.annotator_names(studio.connect(settings))
            metrics = acquisition.close_round(engine, settings, round_id, names)
            labels = points[-1]["labels"] + metrics["verified"]
            points.append({"round": round_id, "labels": labels,
                           "macro_f1": metrics["classifier"]["test_macro_f1"],
                           "classifier": metrics["classifier"]["version"]})
            _print_round(round_id, metrics)
    curve_json, curve_png = parts.write_curve(points, settings.data_path / "demo")
    engine.dispose()
    _print_where_to_look(state, points, curve_json, curve_png)


def _print_round(round_id: int, metrics: dict) -> None:
    alpha = _figure(metrics["inter_annotator_alpha"])
    llm_accuracy = _figure(metrics["llm_vs_human"]["accuracy"])
    console.print(
        f"round {round_id} closed: {metrics['verified']}/{metrics['pairs']} pairs verified "
        f"({metrics['auto_accepted']} auto-accepted, {metrics['adjudicated']} adjudicated, "
        f"{metrics['disputed'] + metrics['in_adjudication']} disputed and waiting for an adjudicator), "
        f"annotator agreement α = {alpha}, LLM vs humans accuracy = {llm_accuracy}")
    for annotator in metrics["annotators"]:
        console.print(f"    {annotator['name']}: {annotator['answers']} answers, accuracy "
                      f"{_figure(annotator['accuracy'])} against the verified labels, "
                      f"{_figure(annotator['accuracy_adjudicated'])} on {annotator['adjudicated']} "
                      "pairs an adjudicator decided")


def _adjudicate(engine, settings: Settings, url: str, round_id: int, truths: dict, seed: int) -> None:
    """Sync (which routes the disputed pairs), let the adjudicator decide them, sync again."""
    routed = acquisition.sync_round(engine, settings, round_id)["adjudication"]
    project = routed["adjudication_project"]
    if project is None:
        return
    disputed = routed["routed"] + routed["already_routed"]
    with progress_bar(f"round {round_id}: the adjudicator decides disputed pairs", disputed) as advance:
        parts.answer_round(url, project, (parts.DEFAULT_ADJUDICATOR,), truths, seed, advance)
    rulings = acquisition.sync_round(engine, settings, round_id)["adjudication"]["rulings"]
    console.print(f"round {round_id}: {disputed} disputed pairs went to the adjudication project "
                  f"{project}; {rulings['labels_added']} rulings stored")


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print_where_to_look(state: studio.StudioState, points: list[dict], curve_json, curve_png) -> None:
    table = Table("round", "labels acquired", "held-out macro-F1", "classifier", title="learning curve")
    for p in points:
        table.add_row(str(p["round"]), str(p["labels"]), f"{p['macro_f1']:.3f}", p["classifier"])
    console.print(table)
    console.print(f"Label Studio: {state.url}  (login {state.username} / {state.password}; "
                  f"the annotators' projects are 'pairloop round N', disputed pairs wait for an "
                  f"adjudicator in 'pairloop round N · adjudication')")
    console.print(f"learning curve: {curve_png} (data: {curve_json})")
    console.print("more: `pairloop round list`, `pairloop round status N`, `pairloop stats`; "
                  "stop Label Studio with `pairloop studio down`")

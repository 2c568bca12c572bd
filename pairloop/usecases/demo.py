"""The demo: the whole loop on embedded defaults and a sample catalogue the project writes.

Imports the catalogue, starts a local Label Studio and the pairloop service, trains the
classifier, then runs acquisition rounds in which the LLM proposes labels and simulated
annotators (:mod:`pairloop.sample.annotators`) verify them in Label Studio; the webhook brings
their answers back, an adjudicator decides the disputed pairs, the rounds close, and the
learning curve (held-out macro-F1 by labels acquired) is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from active_learning.strategies import DEFAULT_STRATEGY
from pairloop import service
from pairloop.sample.annotators import (
    DEFAULT_ADJUDICATOR,
    DEFAULT_ANNOTATORS,
    answer_round,
    truth_by_pair,
    wait_for_webhooks,
)
from pairloop.sample.catalogue import write_sample
from pairloop.settings import Settings
from pairloop.usecases.context import Context
from pairloop.usecases.imports import ImportResult, import_items, import_labels, import_pairs
from pairloop.usecases.rounds import RoundMetrics, close_round, start_round, sync_round
from pairloop.usecases.studio import StudioServer, start_studio
from pairloop.usecases.training import evaluate_file, load_or_train
from store.files import write_together

# Runs the pairloop service (webhooks) while the rounds are played: the front end hands it in
# (``pairloop.server.ServiceThread``), so that no use case imports the API.
Serve = Callable[[Settings], AbstractContextManager[Any]]


class CurvePoint(BaseModel):
    round: int = Field(description="0: before any round.")
    labels: int = Field(description="Labels acquired by the rounds so far.")
    macro_f1: float | None = Field(description="The classifier's held-out macro-F1 on the sample's test set.")
    classifier: str = Field(description="The classifier version.")


class DemoRound(BaseModel):
    """One round of the demo, from start to close."""

    round: int
    label_studio_project: int
    answers: int = Field(description="Answers the simulated annotators gave.")
    delivered: int = Field(description="Of those, stored when the webhook had delivered them.")
    adjudication_project: int | None
    disputed: int = Field(description="Pairs sent to the adjudicator.")
    rulings: int = Field(description="Pairs the adjudicator decided (rulings stored by webhook or sync).")
    metrics: RoundMetrics = Field(description="What the round recorded when it closed.")


class DemoReport(BaseModel):
    data_dir: str
    imports: dict[str, ImportResult] = Field(description="The sample's files: catalogue, seed labels, "
                                                         "candidate pool.")
    studio: StudioServer
    service_url: str
    dashboard_url: str = Field(description="The dashboard, while `pairloop serve` runs on the demo's data.")
    api_token: str = Field(description="The dashboard's login: the service's API token.")
    rounds: list[DemoRound]
    curve: list[CurvePoint]
    curve_json: str
    curve_png: str


def run_demo(ctx: Context, serve: Serve, rounds: int = 2, size: int = 24, strategy: str = DEFAULT_STRATEGY,
             llm: str = "local", seed: int = 7) -> DemoReport:
    """Write the sample catalogue (``seed``) under DATA_DIR/sample, import it, and play
    ``rounds`` rounds of ``size`` pairs with simulated annotators while ``serve`` runs the
    service; the held-out macro-F1 is measured on the sample's test set."""
    sample = write_sample(ctx.settings.data_path / "sample", seed=seed)
    settings = ctx.settings.model_copy(update={"test_set": sample.test})
    with Context(settings, ctx.progress, ctx.engine_given) as demo:
        imports = {"catalogue": import_items(demo, sample.catalogue),
                   "seed labels": import_labels(demo, sample.seed_labels),
                   "candidate pool": import_pairs(demo, sample.pool)}
        server = start_studio(demo)
        truths = truth_by_pair(demo.engine, seed)
        _model, version = load_or_train(demo)
        curve = [CurvePoint(round=0, labels=0, macro_f1=evaluate_file(demo, sample.test, version).macro_f1,
                            classifier=version)]
        played: list[DemoRound] = []
        with serve(settings):
            for number in range(1, rounds + 1):
                played.append(_play_round(demo, server.url, strategy, size, llm, seed + number, truths))
                classifier = played[-1].metrics.classifier
                curve.append(CurvePoint(round=played[-1].round, labels=curve[-1].labels + played[-1].metrics.verified,
                                        macro_f1=classifier.test_macro_f1, classifier=classifier.version))
    curve_json, curve_png = _write_curve(curve, settings.data_path / "demo")
    return DemoReport(data_dir=str(settings.data_path), imports=imports, studio=server,
                      service_url=service.service_url(settings),
                      dashboard_url=service.service_url(settings) + "/", api_token=service.api_token(settings),
                      rounds=played, curve=curve,
                      curve_json=str(curve_json), curve_png=str(curve_png))


def _play_round(ctx: Context, url: str, strategy: str, size: int, llm: str, seed: int,
                truths: dict[int, tuple[str, int]]) -> DemoRound:
    """Start a round, let the annotators answer, wait for the webhook, adjudicate, close."""
    started = start_round(ctx, strategy, size, seed, llm)
    round_id, project = started.round, started.label_studio_project
    with ctx.progress.task(f"round {round_id}: annotators answer in Label Studio",
                           started.status.pending * len(DEFAULT_ANNOTATORS)) as advance:
        answers = sum(answer_round(url, project, DEFAULT_ANNOTATORS, truths, seed, advance).values())
    delivered = wait_for_webhooks(ctx.engine, round_id, answers)
    # Sync routes the disputed pairs; the adjudicator decides them; a second sync reads the rulings
    # the webhook has not brought yet.
    routed = sync_round(ctx, round_id).adjudication
    disputed = routed.routed + routed.already_routed
    if routed.adjudication_project is not None:
        with ctx.progress.task(f"round {round_id}: the adjudicator decides disputed pairs", disputed) as advance:
            answer_round(url, routed.adjudication_project, (DEFAULT_ADJUDICATOR,), truths, seed, advance)
        sync_round(ctx, round_id)
    closed = close_round(ctx, round_id)
    return DemoRound(round=round_id, label_studio_project=project, answers=answers, delivered=delivered,
                     adjudication_project=routed.adjudication_project, disputed=disputed,
                     rulings=closed.metrics.adjudicated, metrics=closed.metrics)


def _write_curve(points: list[CurvePoint], directory: Path) -> tuple[Path, Path]:
    """The learning curve as curve.json and curve.png, published together."""
    from active_learning.plots import plot_curves

    data = [point.model_dump() for point in points]
    json_path, png_path = directory / "curve.json", directory / "curve.png"
    write_together({
        json_path: lambda staging: staging.write_text(json.dumps({"strategy": "demo", "points": data}, indent=2),
                                                      encoding="utf-8"),
        png_path: lambda staging: plot_curves({"pairloop demo": data}, staging,
                                              "pairloop demo: held-out macro-F1 by round"),
    })
    return json_path, png_path

"""Acquisition rounds: what ``pairloop round ...``, ``/rounds`` of the REST API and the demo run.

A round is started (selected, proposed, gated, pushed to Label Studio; or resumed where it
stopped), verified by annotators in Label Studio (their answers arrive by webhook, and by
:func:`sync_round`), its disputed pairs adjudicated, and closed once every pair is decided
(verified labels retrain the classifier, the round's metrics are recorded). Answers that
arrive after the close are stored as late and never counted. The steps are in
:mod:`pairloop.usecases.round_steps`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, computed_field
from sqlalchemy import select
from sqlalchemy.orm import Session

from active_learning.strategies import DEFAULT_STRATEGY
from annotator.reconcile import SyncReport
from pairloop.usecases import round_steps as steps
from pairloop.usecases.context import Context
from pairloop.usecases.label_errors import LabelFlags, label_flags
from pairloop.usecases.proposals import ProposalReport
from pairloop.usecases.round_steps import (
    AdjudicationReport,
    Annotator,
    LlmVsHuman,
    RoundMetrics,
    RoundStatus,
)
from pairloop.usecases.training import check_test_set, retrain_for_round
from store.errors import Conflict, ServiceFailed, ServiceUnavailable
from store.models import Round
from store.states import RoundState

__all__ = [
    "AdjudicationReport", "Annotator", "LlmVsHuman", "RoundClosed", "RoundMetrics", "RoundStart", "RoundStatus",
    "RoundSummary", "RoundSync", "SuspectsSent", "adjudicate_round", "adjudicate_suspects", "close_round",
    "list_rounds", "round_status", "start_round", "sync_round",
]


@contextmanager
def _kept(retry: str) -> Iterator[None]:
    """A service failing part-way: the same kind of error, saying that the round keeps what was
    done and how to go on from there."""
    try:
        yield
    except (ServiceUnavailable, ServiceFailed) as exc:
        raise exc.with_hint(f"The round keeps its state: {retry}") from exc


class RoundStart(BaseModel):
    """A round started or resumed: selected, proposed, gated and pushed to Label Studio."""

    round: int
    resumed: bool = Field(description="An unfinished round was taken up again instead of selecting a new one.")
    proposals: ProposalReport | None = Field(description="The LLM's proposals; null with the LLM backend none.")
    label_studio_project: int
    status: RoundStatus


def start_round(ctx: Context, strategy: str = DEFAULT_STRATEGY, size: int = 30, seed: int | None = None,
                llm: str | None = None) -> RoundStart:
    """Resume the unfinished round, or select a new one (``size`` pairs by ``strategy``; the seed
    defaults to the round's number); then ask the LLM (``llm``: a backend, ``none``, or the
    configured one), auto-accept what the trust gate trusts and push the rest to Label Studio."""
    with ctx.engine.connect() as conn:
        round_id = steps.unfinished_round(conn)
    resumed = round_id is not None
    if round_id is None:
        round_id = steps.select_pairs(ctx, strategy, size, seed)
    backend = llm or ctx.settings.llm_backend
    proposals, labeller_id = None, None
    with _kept("run `pairloop round start` again to resume it"):
        if backend != "none":
            labeller = ctx.labeller(backend)
            labeller_id = (labeller.model_name, labeller.prompt_version)
            proposals = steps.propose(ctx, round_id, labeller)
        project = steps.push(ctx, round_id, ctx.studio(), labeller_id)
    return RoundStart(round=round_id, resumed=resumed, proposals=proposals, label_studio_project=project,
                      status=steps.status(ctx, round_id))


def round_status(ctx: Context, round_id: int | None = None, flags: bool = False) -> RoundStatus:
    """Where a round (default: the newest) stands, annotators by the e-mails the store cached
    (push, sync, adjudication and close cache them); with ``flags``, also the store's verified
    labels that confident learning finds likely wrong (kept per verified set, so only the first
    status after labels change trains the committees; a note instead when labels are too few)."""
    status = steps.status(ctx, round_id)
    if flags:
        status.label_flags = label_flags(ctx)
    return status


class SuspectsSent(BaseModel):
    """Flagged verified labels sent to a round's adjudication project."""

    round: int
    adjudication_project: int
    flags: LabelFlags
    routed: list[int] = Field(description="Flagged pairs sent to the adjudication project now.")
    already_routed: list[int] = Field(description="Flagged pairs the project held already.")


def adjudicate_suspects(ctx: Context, round_id: int | None = None, folds: int = 5, seed: int = 0) -> SuspectsSent:
    """Send the verified labels flagged as likely wrong to the adjudication project of a round
    (default: the newest) that is open in Label Studio; the round then waits for their rulings
    before it closes. Nothing is sent when the verified labels are too few to flag."""
    with ctx.engine.connect() as conn:
        round_ = steps.get_round(conn, round_id)
    flags = label_flags(ctx, folds, seed)
    if not flags.computed:
        raise Conflict(f"nothing to send: {flags.note}")
    if not flags.suspects:  # no adjudication project is created for nothing
        raise Conflict("nothing to send: no verified label is flagged as likely wrong")
    notes = {s.pair_id: f"Flagged as a likely wrong label: verified {s.given}, a committee that never saw it "
                        f"suggests {s.suggested} (label quality {s.quality:.2f})." for s in flags.suspects}
    with _kept("run `pairloop labels suspects --send` again"):
        report = steps.send_flagged(ctx, round_, ctx.studio(), notes)
    with ctx.engine.connect() as conn:
        project = (steps.get_round(conn, round_.id).params or {})["adjudication_project"]
    return SuspectsSent(round=round_.id, adjudication_project=project, flags=flags, routed=report.routed,
                        already_routed=report.already)


class RoundSync(SyncReport):
    """A sync of a round with Label Studio: annotations listed and stored, then adjudication."""

    round: int
    adjudication: AdjudicationReport


def sync_round(ctx: Context, round_id: int | None = None) -> RoundSync:
    """Reconcile a round (default: the newest) with Label Studio, the safety net behind the
    webhook: annotations changed since the last sync (all the first time); then read the
    adjudicators' rulings and route newly disputed pairs (:func:`adjudicate_round`)."""
    with ctx.engine.connect() as conn:
        round_ = steps.in_label_studio(conn, round_id)
    with _kept("run `pairloop round sync` again"):
        studio = ctx.studio()
        report = steps.sync_annotations(ctx, round_, studio)
        adjudication = steps.adjudicate(ctx, round_, studio)
    return RoundSync(**dict(report), round=round_.id, adjudication=adjudication)


def adjudicate_round(ctx: Context, round_id: int | None = None) -> AdjudicationReport:
    """Read the rulings of a round's (default: the newest) adjudication project and send newly
    disputed pairs (all answers in, no majority) there; the verification project is not
    listed (that is :func:`sync_round`)."""
    with ctx.engine.connect() as conn:
        round_ = steps.in_label_studio(conn, round_id)
    with _kept("run `pairloop round adjudicate` again"):
        return steps.adjudicate(ctx, round_, ctx.studio())


class RoundClosed(BaseModel):
    round: int
    metrics: RoundMetrics
    label_studio_projects: dict[int, str] = Field(
        default_factory=dict, description="The round's Label Studio projects, by id, with their new title "
                                          "(\"… · closed\"; the description says answers are no longer counted).")
    label_studio_note: str | None = Field(None, description="Why Label Studio was not told, when it was not "
                                                            "(the round is closed all the same).")


def close_round(ctx: Context, round_id: int | None = None, *, force: bool = False,
                test: Path | None = None) -> RoundClosed:
    """Close a ``verifying`` round (default: the newest) whose pairs are all decided; ``force``
    closes one with pairs still unanswered, partly answered, disputed or in adjudication (a
    :class:`Conflict` naming them otherwise), and records that it was forced.

    The round is marked closed first, so that every answer processed from then on is late;
    then the classifier is retrained on every verified label of the store, or the newest
    version kept when no label changed since it was trained, and scored on ``test`` (else
    ``PAIRLOOP_TEST_SET``); the round's figures are recorded with it, and its Label Studio
    projects are titled closed (when Label Studio can be reached). A close that failed after
    marking the round (training, the test set) is finished by running it again. Rulings are
    read by :func:`sync_round`: run it first.
    """
    engine = ctx.engine
    with engine.connect() as conn:
        round_ = steps.get_round(conn, round_id)
    finishing = round_.state == RoundState.CLOSED and round_.closed_classifier_version is None
    if round_.state == RoundState.CLOSED and not finishing:
        raise Conflict(f"round {round_.id} is already closed")
    if round_.state != RoundState.VERIFYING and not finishing:
        raise Conflict(f"round {round_.id} is {round_.state}: finish it with `pairloop round start` first")
    if not finishing:
        with engine.connect() as conn:
            undecided = steps.pair_progress(conn, round_, ctx.settings).undecided()
        if undecided and not force:
            raise Conflict(steps.undecided_message(round_.id, undecided))
    test_set = check_test_set(ctx, test)
    if not finishing:
        steps.set_state(engine, round_.id, RoundState.CLOSED, closed_at=datetime.now(UTC))
    status = steps.status(ctx, round_.id)  # after the close: no answer counts any more
    forced = any(getattr(status, count) for count in steps.UNDECIDED.values())
    metrics = RoundMetrics.of(status, retrain_for_round(ctx, test_set), forced=forced)
    steps.set_state(engine, round_.id, RoundState.CLOSED, metrics=metrics.model_dump(mode="json"),
                    closed_classifier_version=metrics.classifier.version)
    titles, note = _mark_closed(ctx, round_.id, [status.label_studio_project, status.adjudication_project])
    return RoundClosed(round=round_.id, metrics=metrics, label_studio_projects=titles, label_studio_note=note)


def _mark_closed(ctx: Context, round_id: int, projects: list[int | None]) -> tuple[dict[int, str], str | None]:
    """Title the round's Label Studio projects closed and refresh the annotators' cached e-mails.
    Best effort: the round is closed in the store whatever Label Studio answers, so a failure
    here is reported in the result (the note) rather than raised."""
    projects = [p for p in projects if p is not None]
    if not projects:
        return {}, None
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"pairloop round {round_id} closed on {when}: answers given now are kept but no longer counted.")
    titles: dict[int, str] = {}
    try:
        studio = ctx.studio()
        for project in projects:
            titles[project] = studio.mark_closed(project, text)
        steps.annotator_names(ctx.engine, studio)
    except (ServiceUnavailable, ServiceFailed) as exc:
        return titles, f"Label Studio was not told that the round is closed: {exc}"
    return titles, None


class RoundSummary(BaseModel):
    """A round in the list of rounds."""

    round: int
    state: RoundState
    strategy: str
    seed: int
    classifier_version: str | None = Field(description="The classifier that selected the pairs.")
    closed_classifier_version: str | None = Field(description="The classifier its close trained, or kept when "
                                                              "no label had changed (null while open).")
    label_studio_project: int | None
    adjudication_project: int | None = Field(None, description="Its adjudication project, once a pair was disputed.")
    created_at: datetime
    closed_at: datetime | None
    metrics: dict[str, Any] | None = Field(description="The selection's while the round is open, "
                                                       "the closing's once it is closed.")

    @computed_field(description="The round's id, as ``round``.")  # type: ignore[prop-decorator]
    @property
    def id(self) -> int:
        return self.round

    @classmethod
    def of(cls, row: Round) -> RoundSummary:
        return cls(round=row.id, state=row.state, strategy=row.strategy, seed=row.seed,
                   classifier_version=row.classifier_version, closed_classifier_version=row.closed_classifier_version,
                   label_studio_project=row.ls_project_id,
                   adjudication_project=(row.params or {}).get("adjudication_project"),
                   created_at=row.created_at, closed_at=row.closed_at, metrics=row.metrics)


def list_rounds(ctx: Context) -> list[RoundSummary]:
    """Every round, oldest first."""
    with ctx.engine.connect() as conn:
        rows = Session(bind=conn).scalars(select(Round).order_by(Round.id)).all()
    return [RoundSummary.of(row) for row in rows]

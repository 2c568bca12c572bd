"""Acquisition rounds: what ``pairloop round ...``, ``/rounds`` of the REST API and the demo run.

A round is started (selected, proposed, gated, pushed to Label Studio; or resumed where it
stopped), verified by annotators in Label Studio (their answers arrive by webhook, and by
:func:`sync_round`), its disputed pairs adjudicated, and closed (verified labels retrain the
classifier, the round's metrics are recorded). The steps are in
:mod:`pairloop.usecases.round_steps`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, computed_field
from sqlalchemy import select
from sqlalchemy.orm import Session

from active_learning.strategies import DEFAULT_STRATEGY
from annotator.reconcile import SyncReport
from pairloop.usecases import round_steps as steps
from pairloop.usecases.context import Context
from pairloop.usecases.proposals import ProposalReport
from pairloop.usecases.round_steps import (
    AdjudicationReport,
    Annotator,
    LlmVsHuman,
    RoundMetrics,
    RoundStatus,
)
from pairloop.usecases.training import retrain_for_round
from store.errors import Conflict, ServiceFailed, ServiceUnavailable
from store.models import Round
from store.states import RoundState

__all__ = [
    "AdjudicationReport", "Annotator", "LlmVsHuman", "RoundClosed", "RoundMetrics", "RoundStart", "RoundStatus",
    "RoundSummary", "RoundSync", "adjudicate_round", "close_round", "list_rounds", "round_status", "start_round",
    "sync_round",
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


def round_status(ctx: Context, round_id: int | None = None, *, named: bool = False) -> RoundStatus:
    """Where a round (default: the newest) stands. ``named``: show annotators by their Label
    Studio e-mail (asks Label Studio) instead of the store's actor ids."""
    names = steps.annotator_names(ctx.studio()) if named else None
    return steps.status(ctx, round_id, names)


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


def close_round(ctx: Context, round_id: int | None = None, *, named: bool = False) -> RoundClosed:
    """Close a ``verifying`` round (default: the newest): derive its verified labels (majority,
    adjudication), retrain the classifier on every verified label of the store, and record the
    round's figures with the new classifier's. Rulings are read by :func:`sync_round`: run it
    first. ``named`` as in :func:`round_status`."""
    status = round_status(ctx, round_id, named=named)
    if status.state == RoundState.CLOSED:
        raise Conflict(f"round {status.round} is already closed")
    if status.state != RoundState.VERIFYING:
        raise Conflict(f"round {status.round} is {status.state}: finish it with `pairloop round start` first")
    metrics = RoundMetrics.of(status, retrain_for_round(ctx))
    steps.set_state(ctx.engine, status.round, RoundState.CLOSED, metrics=metrics.model_dump(mode="json"),
                    closed_at=datetime.now(UTC))
    return RoundClosed(round=status.round, metrics=metrics)


class RoundSummary(BaseModel):
    """A round in the list of rounds."""

    round: int
    state: RoundState
    strategy: str
    seed: int
    classifier_version: str | None
    label_studio_project: int | None
    created_at: datetime
    closed_at: datetime | None
    metrics: dict[str, Any] | None = Field(description="The selection's while the round is open, "
                                                       "the closing's once it is closed.")

    @computed_field(description="The round's id, as ``round``.")  # type: ignore[prop-decorator]
    @property
    def id(self) -> int:
        return self.round


def list_rounds(ctx: Context) -> list[RoundSummary]:
    """Every round, oldest first."""
    with ctx.engine.connect() as conn:
        rows = Session(bind=conn).scalars(select(Round).order_by(Round.id)).all()
    return [RoundSummary(round=r.id, state=r.state, strategy=r.strategy, seed=r.seed,
                         classifier_version=r.classifier_version, label_studio_project=r.ls_project_id,
                         created_at=r.created_at, closed_at=r.closed_at, metrics=r.metrics) for r in rows]

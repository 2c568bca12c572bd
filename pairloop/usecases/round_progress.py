"""Every round with where it stands, for the dashboard's rounds page (and anyone listing rounds
with their progress).

An open round is counted now (:func:`pairloop.usecases.rounds.round_status`, the one definition
of its counts); a closed round shows the figures it recorded when it closed, so listing a
hundred closed rounds reads no label. Counting an open round reads its labels, so a page can
list the rounds first and count each open one apart (:func:`round_progress`). The Label
Studio address is the configured one, read without asking Label Studio.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from pairloop import studio
from pairloop.usecases.context import Context
from pairloop.usecases.round_steps import get_round
from pairloop.usecases.rounds import LlmVsHuman, RoundSummary, list_rounds, round_status
from store.states import RoundState


class RoundProgress(BaseModel):
    """A round and its pairs' progress."""

    round: int
    state: RoundState
    strategy: str
    seed: int
    classifier_version: str | None = Field(description="The classifier that selected the pairs.")
    closed_classifier_version: str | None = Field(description="The classifier its close trained (or kept).")
    label_studio_project: int | None
    adjudication_project: int | None
    created_at: datetime
    closed_at: datetime | None
    live: bool = Field(description="Counted now (an open round); false: the figures recorded when it closed.")
    pairs: int | None = Field(description="Pairs the strategy selected.")
    verified: int | None
    pending: int | None = Field(description="Pairs in Label Studio nobody has answered yet.")
    partly_answered: int | None = Field(description="Pairs in Label Studio with some, not all, of their answers.")
    unsure: int | None
    disputed: int | None = Field(description="All answers in, no verified label, not in adjudication yet.")
    in_adjudication: int | None
    adjudicated: int | None
    auto_accepted: int | None
    inter_annotator_alpha: float | None = Field(description="Krippendorff's alpha of the human answers.")
    llm_vs_human: LlmVsHuman | None
    classifier: dict[str, Any] | None = Field(description="The classifier the closing trained (closed rounds).")
    forced: bool = Field(description="Closed with pairs undecided.")
    unfinished_close: bool = Field(description="Marked closed, but the close stopped before recording its "
                                               "figures: closing it again finishes it.")


class RoundsBoard(BaseModel):
    rounds: list[RoundProgress] = Field(description="Newest first.")
    label_studio_url: str | None = Field(description="The configured Label Studio; null: none configured.")


# Every figure of a round's status that a closed round records (figures a round closed by an
# older pairloop did not record are null).
_FIGURES = ("pairs", "verified", "pending", "partly_answered", "unsure", "disputed", "in_adjudication", "adjudicated",
            "auto_accepted", "inter_annotator_alpha")


def label_studio_url(ctx: Context) -> str | None:
    """Where pairloop's Label Studio is (the settings, or the local one's state file); no request."""
    try:
        return studio.connection(ctx.settings).url
    except studio.StudioError:  # none configured or started yet: the page shows no links
        return None


def _progress(ctx: Context, summary: RoundSummary, count: bool) -> RoundProgress:
    """A round's entry: a closed round's recorded figures; an open round's counted now when
    ``count``, else left null."""
    base = summary.model_dump(include={"round", "state", "strategy", "seed", "classifier_version",
                                       "closed_classifier_version", "label_studio_project", "adjudication_project",
                                       "created_at", "closed_at"})
    if summary.state == RoundState.CLOSED:
        recorded = summary.metrics or {}
        llm = recorded.get("llm_vs_human")
        return RoundProgress(
            **base, live=False,
            **{name: recorded.get(name) for name in _FIGURES},
            llm_vs_human=LlmVsHuman.model_validate(llm) if llm else None,
            classifier=recorded.get("classifier"), forced=bool(recorded.get("forced")),
            unfinished_close=summary.closed_classifier_version is None and "classifier" not in recorded)
    if not count:
        return RoundProgress(**base, live=False,
                             **dict.fromkeys(_FIGURES), llm_vs_human=None, classifier=None, forced=False,
                             unfinished_close=False)
    status = round_status(ctx, summary.round)
    return RoundProgress(**base, live=True,
                         **{name: getattr(status, name) for name in _FIGURES}, llm_vs_human=status.llm_vs_human,
                         classifier=None, forced=False, unfinished_close=False)


def rounds_progress(ctx: Context, count_open: bool = True) -> RoundsBoard:
    """Every round, newest first: closed ones as they closed; open ones counted now (each as
    :func:`~pairloop.usecases.rounds.round_status` counts it), or, without ``count_open``, with
    null figures for :func:`round_progress` to fill in one by one."""
    rows = [_progress(ctx, summary, count_open) for summary in reversed(list_rounds(ctx))]
    return RoundsBoard(rounds=rows, label_studio_url=label_studio_url(ctx))


def round_progress(ctx: Context, round_id: int) -> RoundProgress:
    """One round's entry of :func:`rounds_progress`, an open round counted now."""
    with ctx.engine.connect() as conn:
        summary = RoundSummary.of(get_round(conn, round_id))
    return _progress(ctx, summary, count=True)

"""The annotators of a round: answers, accuracy against the verified and the adjudicated labels,
and each one's confusion matrix (their answers against the verified labels).

Figures are those of :mod:`annotator.inter_annotator` (what ``pairloop round status`` shows),
on one round's pairs: a round holds a bounded number of pairs, the whole store may hold
millions of labels.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, Field

from annotator.agreement import confusion
from annotator.inter_annotator import human_agreement
from pairloop.usecases.context import Context
from pairloop.usecases.round_steps import Annotator, get_round, round_pair_ids
from store.repository import cached_names
from store.taxonomy import RELATIONS, LabelSource
from store.verified import current_votes, decide


class AnnotatorConfusion(BaseModel):
    labels: list[str] = Field(description="The relations, in row and column order.")
    rows: str = Field("verified", description="Rows: the pair's verified label.")
    columns: str = Field("annotator", description="Columns: the annotator's answer.")
    matrix: list[list[int]]


class AnnotatorReport(Annotator):
    confusion: AnnotatorConfusion = Field(description="On the round's pairs with a verified label.")


class RoundAnnotators(BaseModel):
    round: int
    state: str
    pairs: int
    answered_pairs: int = Field(description="Pairs with at least one human answer.")
    inter_annotator_alpha: float | None = Field(description="Krippendorff's alpha of the human answers.")
    annotators: list[AnnotatorReport]


def round_annotators(ctx: Context, round_id: int | None = None) -> RoundAnnotators:
    """A round's (default: the newest) annotators with their scores and confusion matrices."""
    settings = ctx.settings
    rule, min_agreeing = settings.majority_rule, settings.min_agreeing
    with ctx.engine.connect() as conn:
        round_ = get_round(conn, round_id)
        pair_ids = round_pair_ids(conn, round_.id)
        votes = current_votes(conn, pair_ids) if pair_ids else {}
        humans = human_agreement(conn, pair_ids, rule, min_agreeing, votes) if pair_ids else None
        names = cached_names(conn, [a.actor for a in humans.annotators]) if humans else {}
    truth: dict[str, list[str]] = defaultdict(list)
    answered: dict[str, list[str]] = defaultdict(list)
    for pair_id, pair_votes in votes.items():
        label = decide(pair_id, pair_votes, rule, min_agreeing)
        if label is None:
            continue
        for vote in pair_votes:
            if vote.source == LabelSource.HUMAN.value and not vote.adjudication:
                truth[vote.actor].append(label.relation.value)
                answered[vote.actor].append(vote.relation.value)
    annotators = [
        AnnotatorReport(**dict(score), name=names.get(score.actor, score.actor), confusion=AnnotatorConfusion(
            labels=list(RELATIONS), matrix=confusion(truth[score.actor], answered[score.actor]).tolist()))
        for score in (humans.annotators if humans else [])
    ]
    return RoundAnnotators(round=round_.id, state=round_.state, pairs=len(pair_ids),
                           answered_pairs=humans.pairs if humans else 0,
                           inter_annotator_alpha=humans.alpha if humans else None, annotators=annotators)

"""Agreement between human annotators, and each annotator's accuracy against the final labels.

Accuracy is measured twice: against every verified label of the pairs an annotator answered
(majority or adjudication; a majority includes the annotator's own vote), and against
adjudicated labels only: the pairs the annotators disputed, decided by someone else.

Krippendorff's alpha (nominal) is used rather than Fleiss' kappa because Label Studio's overlap
leaves gaps: not every annotator sees every pair, and alpha handles missing answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from store.taxonomy import RELATIONS, LabelSource
from store.verified import DEFAULT_MIN_AGREEING, MajorityRule, Vote, current_votes, decide


class AnnotatorScore(BaseModel):
    """One annotator's answers and accuracy (a model: round reports carry it as it is)."""

    model_config = ConfigDict(frozen=True)

    actor: str = Field(description="The store's actor id, e.g. label-studio:7.")
    answers: int
    accuracy: float | None = Field(description="Against the verified labels of the pairs it answered; "
                                               "null: none verified.")
    adjudicated: int = Field(0, description="Its answers on pairs an adjudicator decided.")
    accuracy_adjudicated: float | None = Field(None, description="Against those adjudications; null: none.")


@dataclass(frozen=True)
class HumanAgreement:
    pairs: int  # pairs with at least one human answer
    multi_annotated: int  # pairs with two or more human answers
    alpha: float | None  # Krippendorff's alpha over the multi-annotated pairs; None when undefined
    disagreements: list[int]  # pairs with two or more answers and no verified label yet
    annotators: list[AnnotatorScore]


def _human(votes: list[Vote]) -> list[Vote]:
    return [v for v in votes if v.source == LabelSource.HUMAN.value and not v.adjudication]


def alpha(votes_by_pair: dict[int, list[Vote]]) -> float | None:
    """Nominal Krippendorff's alpha over pairs with two or more human answers."""
    multi = {p: v for p, v in votes_by_pair.items() if len(v) >= 2}
    actors = sorted({v.actor for votes in multi.values() for v in votes})
    if len(multi) < 2 or len(actors) < 2:
        return None
    column = {actor: i for i, actor in enumerate(actors)}
    matrix = np.full((len(actors), len(multi)), np.nan)
    for j, votes in enumerate(multi.values()):
        for vote in votes:
            matrix[column[vote.actor], j] = RELATIONS.index(vote.relation.value)
    if len(np.unique(matrix[~np.isnan(matrix)])) < 2:
        return 1.0  # everyone always gave the same answer: perfect, though alpha is 0/0
    import krippendorff  # loaded on first use, not by every command that imports this module

    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


def human_agreement(
    conn: Connection,
    pair_ids: Iterable[int] | None = None,
    rule: MajorityRule = MajorityRule.COARSE,
    min_agreeing: int = DEFAULT_MIN_AGREEING,
    votes: Mapping[int, list[Vote]] | None = None,
) -> HumanAgreement:
    """``votes``: the pairs' current votes when the caller has read them already."""
    all_votes = votes if votes is not None else current_votes(conn, pair_ids)
    human = {p: h for p, votes in all_votes.items() if (h := _human(votes))}
    verified = {p: decide(p, votes, rule, min_agreeing) for p, votes in all_votes.items()}
    disagreements = sorted(p for p, votes in human.items() if len(votes) >= 2 and verified[p] is None)
    answered: dict[str, int] = defaultdict(int)
    right: dict[tuple[str, bool], int] = defaultdict(int)
    judged: dict[tuple[str, bool], int] = defaultdict(int)
    for pair_id, votes in human.items():
        label = verified[pair_id]
        for vote in votes:
            answered[vote.actor] += 1
            if label is None:
                continue
            for adjudicated_only in (False, True):
                if adjudicated_only and label.basis != "adjudication":
                    continue
                judged[vote.actor, adjudicated_only] += 1
                right[vote.actor, adjudicated_only] += vote.relation == label.relation

    def share(actor: str, adjudicated_only: bool) -> float | None:
        n = judged[actor, adjudicated_only]
        return right[actor, adjudicated_only] / n if n else None

    scores = [
        AnnotatorScore(actor=actor, answers=answered[actor], accuracy=share(actor, False),
                       adjudicated=judged[actor, True], accuracy_adjudicated=share(actor, True))
        for actor in sorted(answered)
    ]
    return HumanAgreement(
        pairs=len(human),
        multi_annotated=sum(1 for v in human.values() if len(v) >= 2),
        alpha=alpha(human),
        disagreements=disagreements,
        annotators=scores,
    )

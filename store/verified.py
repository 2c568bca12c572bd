"""Derive each pair's verified label from the append-only label history.

Votes: every actor's *latest* event on a pair counts once (a changed answer replaces
the actor's earlier one, an "unsure" or a retraction withdraws it). Human and imported
labels vote; an LLM label votes only when the trust gate auto-accepted it, and only on a
pair no human has labelled. An adjudication overrides the vote: the newest adjudication
stands. An adjudicator's ruling and their own answer as an annotator are kept apart (an
actor's latest event is taken per role), so adjudicating never rewrites one's earlier vote.
A *late* event (one that reached the store after its round closed) is history only: it never
votes, and never replaces or withdraws the answer it follows.

A pair is *disputed* when all the answers it was sent out for are in (``overlap``
annotators answered, "unsure" included) and they reach no verified label: it goes to an
adjudicator.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Select, func, select

from store.models import Label
from store.taxonomy import LabelSource, MajorityRule, Relation, Verdict, relation_of_fine


@dataclass(frozen=True)
class Vote:
    relation: Relation
    fine_code: int | None
    source: str
    adjudication: bool
    actor: str = ""


@dataclass(frozen=True)
class VerifiedLabel:
    pair_id: int
    relation: Relation
    fine_code: int | None
    n_votes: int
    basis: str  # "majority" | "adjudication" | "llm-auto"


@dataclass(frozen=True)
class HumanAnswer:
    """An annotator's current answer on a pair: a label or "unsure" (adjudications excluded)."""

    actor: str
    verdict: Verdict
    relation: Relation | None
    fine_code: int | None
    comment: str | None


# The label events that count as answers: not a model's score, not given after the round closed.
COUNTED = (Label.source != LabelSource.MODEL.value, Label.late.is_(False))


def _latest(pair_ids: Iterable[int] | None, verdicts: Iterable[Verdict]) -> Select:
    """Each actor's latest event per pair and role (annotator or adjudicator), late events left
    out, oldest first, keeping those whose verdict is one of ``verdicts``."""
    latest = (
        select(
            Label.id,
            Label.pair_id,
            Label.actor,
            Label.verdict,
            Label.relation,
            Label.fine_code,
            Label.source,
            Label.auto_accepted,
            Label.adjudication,
            Label.rationale,
            func.row_number()
            .over(partition_by=(Label.pair_id, Label.actor, Label.adjudication), order_by=Label.id.desc())
            .label("recency"),
        )
        .where(*COUNTED)
    )
    if pair_ids is not None:
        latest = latest.where(Label.pair_id.in_(list(pair_ids)))
    latest = latest.subquery()
    return (
        select(latest)
        .where(latest.c.recency == 1, latest.c.verdict.in_([v.value for v in verdicts]))
        .order_by(latest.c.id)
    )


def current_votes(conn: Connection, pair_ids: Iterable[int] | None = None) -> dict[int, list[Vote]]:
    """Each actor's latest answer per pair (and role), keeping only answers that are labels."""
    rows = conn.execute(_latest(pair_ids, (Verdict.LABEL,)))
    votes: dict[int, list[Vote]] = defaultdict(list)
    for row in rows:
        if row.source == LabelSource.LLM.value and not row.auto_accepted:
            continue
        votes[row.pair_id].append(
            Vote(Relation(row.relation), row.fine_code, row.source, bool(row.adjudication), row.actor)
        )
    return votes


def human_answers(conn: Connection, pair_ids: Iterable[int] | None = None) -> dict[int, list[HumanAnswer]]:
    """Each annotator's current answer per pair (labels and "unsure"; not adjudications)."""
    answers: dict[int, list[HumanAnswer]] = defaultdict(list)
    for row in conn.execute(_latest(pair_ids, (Verdict.LABEL, Verdict.UNSURE))):
        if row.source == LabelSource.HUMAN.value and not row.adjudication:
            relation = Relation(row.relation) if row.relation else None
            answers[row.pair_id].append(
                HumanAnswer(row.actor, Verdict(row.verdict), relation, row.fine_code, row.rationale)
            )
    return answers


def _token(vote: Vote, rule: MajorityRule) -> str:
    if rule is MajorityRule.FINE and vote.fine_code is not None:
        return f"fine:{vote.fine_code}"
    return vote.relation.value


DEFAULT_MIN_AGREEING = 2


def decide(
    pair_id: int, votes: list[Vote], rule: MajorityRule, min_agreeing: int = DEFAULT_MIN_AGREEING
) -> VerifiedLabel | None:
    """The verified label for one pair's votes, or None when there is no majority.

    A human majority is strict (more than half the votes) and needs at least
    ``min_agreeing`` agreeing votes ("at least two of three agree"). An adjudication,
    or an auto-accepted LLM label on a pair no human labelled, stands alone.
    """
    adjudicated = [v for v in votes if v.adjudication]  # oldest first (as current_votes gives them)
    if adjudicated:
        last = adjudicated[-1]
        return VerifiedLabel(pair_id, last.relation, last.fine_code, len(votes), "adjudication")
    human = [v for v in votes if v.source != LabelSource.LLM.value]
    pool, basis = (human, "majority") if human else (votes, "llm-auto")
    if not pool:
        return None
    token, count = Counter(_token(v, rule) for v in pool).most_common(1)[0]
    if count * 2 <= len(pool) or (basis == "majority" and count < min_agreeing):
        return None
    if token.startswith("fine:"):
        code = int(token.removeprefix("fine:"))
        return VerifiedLabel(pair_id, relation_of_fine(code), code, len(pool), basis)
    codes = Counter(v.fine_code for v in pool if v.relation.value == token and v.fine_code)
    fine = codes.most_common(1)[0][0] if codes else None
    return VerifiedLabel(pair_id, Relation(token), fine, len(pool), basis)


def verified_labels(
    conn: Connection,
    rule: MajorityRule = MajorityRule.COARSE,
    pair_ids: Iterable[int] | None = None,
    min_agreeing: int = DEFAULT_MIN_AGREEING,
) -> tuple[dict[int, VerifiedLabel], list[int]]:
    """Verified labels by pair id, and the pairs whose votes reach no majority."""
    verified: dict[int, VerifiedLabel] = {}
    undecided: list[int] = []
    for pair_id, votes in current_votes(conn, pair_ids).items():
        label = decide(pair_id, votes, rule, min_agreeing)
        if label is None:
            undecided.append(pair_id)
        else:
            verified[pair_id] = label
    return verified, sorted(undecided)


def disputed_pairs(
    conn: Connection,
    pair_ids: Iterable[int],
    overlap: int,
    rule: MajorityRule = MajorityRule.COARSE,
    min_agreeing: int = DEFAULT_MIN_AGREEING,
) -> list[int]:
    """Pairs whose ``overlap`` annotators have all answered ("unsure" counts as an answer)
    without reaching a verified label: they need an adjudicator."""
    pair_ids = list(pair_ids)
    return disputed_among(human_answers(conn, pair_ids), current_votes(conn, pair_ids), overlap, rule, min_agreeing)


def disputed_among(
    answers: Mapping[int, Sequence[HumanAnswer]],
    votes: Mapping[int, list[Vote]],
    overlap: int,
    rule: MajorityRule = MajorityRule.COARSE,
    min_agreeing: int = DEFAULT_MIN_AGREEING,
) -> list[int]:
    """:func:`disputed_pairs` over answers and votes already read (of the pairs in ``answers``)."""
    return sorted(
        pair_id
        for pair_id, given in answers.items()
        if len(given) >= overlap and decide(pair_id, votes.get(pair_id, []), rule, min_agreeing) is None
    )

"""Derive each pair's verified label from the append-only label history.

Votes: every actor's *latest* event on a pair counts once (a changed answer replaces
the actor's earlier one, an "unsure" or a retraction withdraws it). Human and imported
labels vote; an LLM label votes only when the trust gate auto-accepted it, and only on a
pair no human has labelled. An adjudication overrides the vote.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, func, select

from store.models import Label
from store.taxonomy import LabelSource, Relation, Verdict, relation_of_fine


class MajorityRule(StrEnum):
    """How three (or more) answers become one label.

    ``coarse``: strict majority over the coarse relations (the datasets README's rule:
    FBL2023 → 1,701 unrelated / 631 complementary / 411 substitute).
    ``fine``: strict majority over the fine FBL codes, mapped to a relation afterwards
    (KARL's rule: 2,625 FBL2023 pairs). Answers without a fine code vote with their relation.
    """

    COARSE = "coarse"
    FINE = "fine"


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


def current_votes(conn: Connection, pair_ids: Iterable[int] | None = None) -> dict[int, list[Vote]]:
    """Each actor's latest answer per pair, keeping only answers that are labels."""
    latest = (
        select(
            Label.pair_id,
            Label.actor,
            Label.verdict,
            Label.relation,
            Label.fine_code,
            Label.source,
            Label.auto_accepted,
            Label.adjudication,
            func.row_number()
            .over(partition_by=(Label.pair_id, Label.actor), order_by=Label.id.desc())
            .label("recency"),
        )
        .where(Label.source != LabelSource.MODEL.value)
    )
    if pair_ids is not None:
        latest = latest.where(Label.pair_id.in_(list(pair_ids)))
    latest = latest.subquery()
    rows = conn.execute(
        select(latest).where(latest.c.recency == 1, latest.c.verdict == Verdict.LABEL.value)
    )
    votes: dict[int, list[Vote]] = defaultdict(list)
    for row in rows:
        if row.source == LabelSource.LLM.value and not row.auto_accepted:
            continue
        votes[row.pair_id].append(
            Vote(Relation(row.relation), row.fine_code, row.source, bool(row.adjudication), row.actor)
        )
    return votes


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
    adjudicated = [v for v in votes if v.adjudication]
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

"""Pairs waiting for annotators: in Label Studio with fewer answers than the round asked for
and no verified label yet (the round's pending and partly answered pairs, as its status counts
them), oldest round first, in each round's rank order."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from pairloop.usecases.context import Context
from pairloop.usecases.pair_items import PairItem, pair_items
from pairloop.usecases.round_steps import overlap_of, pair_progress
from store.models import Round, RoundPair
from store.states import OPEN_ROUND_STATES


class QueuedPair(BaseModel):
    round: int
    rank: int = Field(description="Its place in the round's selection (0: the strategy's first choice).")
    pair_id: int
    item_a: PairItem
    item_b: PairItem
    answers: int = Field(description="Annotators' current answers (\"unsure\" included).")
    overlap: int = Field(description="Answers the round asked for.")
    ls_task_id: int | None
    waiting_since: datetime = Field(description="When its round started.")


class AnnotationQueue(BaseModel):
    total: int = Field(description="Pairs waiting.")
    offset: int
    pairs: list[QueuedPair] = Field(description="A page of them, oldest first.")


def annotation_queue(ctx: Context, offset: int = 0, limit: int = 100) -> AnnotationQueue:
    """Pairs of open rounds nobody has answered yet or only some annotators have (the round's
    pending and partly answered pairs), oldest round first, each round in rank order."""
    with ctx.engine.connect() as conn:
        rounds = Session(bind=conn).scalars(select(Round).where(Round.state.in_(OPEN_ROUND_STATES))
                                            .order_by(Round.id)).all()
        rows = defaultdict(list)
        for row in conn.execute(select(RoundPair.round_id, RoundPair.pair_id, RoundPair.rank, RoundPair.ls_task_id)
                                .where(RoundPair.round_id.in_([r.id for r in rounds]))
                                .order_by(RoundPair.round_id, RoundPair.rank)):
            rows[row.round_id].append(row)
        waiting = []
        for round_ in rounds:
            progress = pair_progress(conn, round_, ctx.settings)
            short = set(progress.pending) | set(progress.partly_answered)
            overlap = overlap_of(round_, ctx.settings.annotators_per_pair)
            waiting += [(round_, row, len(progress.answers.get(row.pair_id, [])), overlap)
                        for row in rows[round_.id] if row.pair_id in short]
        page = waiting[offset:offset + limit]
        items = pair_items(conn, [row.pair_id for _, row, _, _ in page])
    return AnnotationQueue(total=len(waiting), offset=offset, pairs=[
        QueuedPair(round=round_.id, rank=row.rank, pair_id=row.pair_id, item_a=items[row.pair_id][0],
                   item_b=items[row.pair_id][1], answers=answers, overlap=overlap, ls_task_id=row.ls_task_id,
                   waiting_since=round_.created_at)
        for round_, row, answers, overlap in page])

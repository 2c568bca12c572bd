"""The store's integrity check as the crash tests use it, and a round as it stands once pushed."""

from __future__ import annotations

from sqlalchemy import Engine, update
from support.service import seed_round

from knowledge_graph.snapshots import verify
from store.db import make_engine
from store.integrity import check_integrity
from store.models import RoundPair


def assert_sound(engine: Engine) -> None:
    """Every integrity check passes, the registered snapshots' files included."""
    with engine.connect() as conn:
        report = check_integrity(conn, verify)
    assert report.ok, report.problems


def seed_pushed_round(db_url: str, n_pairs: int) -> tuple[int, list[int]]:
    """:func:`support.service.seed_round`, its pairs pushed to Label Studio (task i+1 for rank i),
    as a ``verifying`` round's are."""
    round_id, pair_ids = seed_round(db_url, n_pairs)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for rank, pair_id in enumerate(pair_ids):
                conn.execute(update(RoundPair).where(RoundPair.round_id == round_id, RoundPair.pair_id == pair_id)
                             .values(status="pushed", ls_task_id=rank + 1))
    finally:
        engine.dispose()
    return round_id, pair_ids

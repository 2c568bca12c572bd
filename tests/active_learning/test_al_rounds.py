"""Rounds in the store (SQLite and PostgreSQL): persisted, constrained, reproducible from the seed."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select, update

from active_learning.rounds import acquired_pair_ids, select_round
from active_learning.selection import Constraints
from classifier.committee import RelationCommittee
from classifier.data import store_labelled_pairs
from classifier.model import RelationModel, make_featuriser
from store.errors import BadInput
from store.models import Pair, Round, RoundPair
from store.verified import MajorityRule, verified_labels


@pytest.fixture
def store_model(stocked_engine) -> RelationModel:
    with stocked_engine.connect() as conn:
        labelled = store_labelled_pairs(conn, MajorityRule.COARSE, min_agreeing=1)
    return RelationModel.train(labelled, make_featuriser(), RelationCommittee(n_members=5))


def _pool_size(engine) -> int:
    """Stored pairs without a verified label (the sample's seed pairs are the labelled ones)."""
    with engine.connect() as conn:
        pairs = conn.execute(select(func.count()).select_from(Pair)).scalar_one()
        verified, _ = verified_labels(conn, MajorityRule.COARSE, min_agreeing=1)
    return pairs - len(verified)


def _select(engine, model, strategy="margin", size=20, seed=3, **kwargs) -> int:
    return select_round(engine, model, strategy, size, seed, classifier_version="c0001-test", min_agreeing=1,
                        **kwargs)


def _round_pairs(engine, round_id) -> list[tuple[int, int, float]]:
    with engine.connect() as conn:
        rows = conn.execute(select(RoundPair.pair_id, RoundPair.rank, RoundPair.score, RoundPair.status)
                            .where(RoundPair.round_id == round_id).order_by(RoundPair.rank)).all()
    assert {row.status for row in rows} == {"selected"}
    return [(row.pair_id, row.rank, row.score) for row in rows]


def _close(engine, round_id) -> None:
    with engine.begin() as conn:
        conn.execute(update(Round).where(Round.id == round_id).values(state="closed"))


def test_a_round_is_recorded_with_its_pairs_ranks_and_scores(stocked_engine, store_model):
    round_id = _select(stocked_engine, store_model, constraints=Constraints(max_per_item=1))
    with stocked_engine.connect() as conn:
        recorded = conn.execute(select(Round).where(Round.id == round_id)).one()
        verified, _ = verified_labels(conn, MajorityRule.COARSE, min_agreeing=1)
        ends = dict(conn.execute(select(Pair.id, Pair.item_a_id)).all())
        ends_b = dict(conn.execute(select(Pair.id, Pair.item_b_id)).all())
    assert recorded.state == "labelling"
    assert (recorded.strategy, recorded.seed, recorded.classifier_version) == ("margin", 3, "c0001-test")
    assert recorded.params["size"] == 20 and recorded.params["constraints"]["max_per_item"] == 1
    assert recorded.metrics["selected"] == 20 and recorded.metrics["pool"] == _pool_size(stocked_engine)
    selected = _round_pairs(stocked_engine, round_id)
    assert [rank for _pid, rank, _s in selected] == list(range(1, 21))
    scores = [score for _pid, _rank, score in selected]
    assert scores == sorted(scores, reverse=True)
    pair_ids = [pid for pid, _r, _s in selected]
    assert not set(pair_ids) & set(verified)  # never a labelled pair
    uses = Counter([ends[p] for p in pair_ids] + [ends_b[p] for p in pair_ids])
    assert max(uses.values()) == 1
    assert acquired_pair_ids(stocked_engine) == set(pair_ids)


def test_the_same_seed_selects_the_same_pairs_and_open_rounds_hold_theirs(stocked_engine, store_model):
    first = _select(stocked_engine, store_model, strategy="random", seed=11)
    second = _select(stocked_engine, store_model, strategy="random", seed=11)
    held = {pid for pid, _r, _s in _round_pairs(stocked_engine, first)}
    assert not held & {pid for pid, _r, _s in _round_pairs(stocked_engine, second)}  # round 1 is open
    _close(stocked_engine, first)
    _close(stocked_engine, second)
    third = _select(stocked_engine, store_model, strategy="random", seed=11)
    assert _round_pairs(stocked_engine, third) == _round_pairs(stocked_engine, first)
    fourth_pairs = _round_pairs(stocked_engine, _select(stocked_engine, store_model, strategy="random", seed=12))
    assert fourth_pairs != _round_pairs(stocked_engine, first)


@pytest.mark.parametrize("strategy", ["dynamic", "ranked_batch", "qbc"])
def test_diversity_and_committee_strategies_record_rounds(stocked_engine, store_model, strategy):
    round_id = _select(stocked_engine, store_model, strategy=strategy, size=15)
    assert len(_round_pairs(stocked_engine, round_id)) == 15
    if strategy == "dynamic":
        with stocked_engine.connect() as conn:
            assert 0.0 <= conn.execute(select(Round.metrics).where(Round.id == round_id)).scalar_one()["shift"] <= 1


def test_large_pools_are_shortlisted_by_chunked_scoring(stocked_engine, store_model):
    round_id = _select(stocked_engine, store_model, size=10, max_candidates=200)
    with stocked_engine.connect() as conn:
        metrics = conn.execute(select(Round.metrics).where(Round.id == round_id)).scalar_one()
    assert (metrics["pool"], metrics["candidates"], metrics["selected"]) == (_pool_size(stocked_engine), 200, 10)


def _count_rounds(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Round)).scalar_one()


def test_a_batch_larger_than_the_pool_writes_nothing(stocked_engine, store_model):
    size = _pool_size(stocked_engine)
    with pytest.raises(BadInput, match=f"a batch of 5000 pairs is larger than the pool \\({size} pairs\\)"):
        _select(stocked_engine, store_model, size=5000)
    assert _count_rounds(stocked_engine) == 0


def test_an_empty_pool_is_a_clear_error(stocked_engine, store_model):
    _select(stocked_engine, store_model, strategy="random", size=_pool_size(stocked_engine),
            constraints=Constraints(max_per_item=None))
    with pytest.raises(BadInput, match="the pool is empty"):
        _select(stocked_engine, store_model, size=1)
    assert _count_rounds(stocked_engine) == 1

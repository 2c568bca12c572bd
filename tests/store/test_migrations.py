"""Alembic: upgrade to head creates the schema, downgrade to base removes it, on both databases;
revisions keep the data they find."""

from __future__ import annotations

import pytest
from sqlalchemy import JSON, column, insert, inspect, select, table, update
from sqlalchemy.exc import IntegrityError

import migrations
from store.db import make_engine
from store.models import Base, Item, Label, Pair, Round, RoundPair, utcnow
from store.states import RoundPairStatus, RoundState
from store.verified import verified_labels


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_db_url):
    migrations.upgrade(empty_db_url)
    assert set(Base.metadata.tables) <= tables(empty_db_url)
    migrations.downgrade(empty_db_url, "base")
    assert tables(empty_db_url) <= {"alembic_version"}
    migrations.upgrade(empty_db_url)
    assert set(Base.metadata.tables) <= tables(empty_db_url)


def test_models_and_migrations_agree(db_url):
    """Autogenerate finds nothing to do: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_single_head():
    assert migrations.head_revision()


def _a_round_with_a_pair_and_a_label(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Item), [{"id": i, "source": "s", "external_id": f"i{i}", "title": f"item {i}"}
                                    for i in (1, 2)])
        conn.execute(insert(Pair).values(id=1, item_a_id=1, item_b_id=2))
        conn.execute(insert(Round).values(id=1, state="verifying", strategy="margin", params={}, seed=1))
        conn.execute(insert(RoundPair).values(round_id=1, pair_id=1, rank=1, score=0.5, status="pushed"))
        # The columns every revision has: the model's newer ones (labels.late) do not exist at 0003.
        labels = table("labels", *(column(c) for c in ("pair_id", "verdict", "relation", "source", "actor",
                                                       "auto_accepted", "adjudication", "presented_reversed",
                                                       "round_id", "created_at")))
        conn.execute(insert(labels).values(pair_id=1, verdict="label", relation="substitute", source="human",
                                           actor="a", auto_accepted=False, adjudication=False,
                                           presented_reversed=False, round_id=1, created_at=utcnow()))
    engine.dispose()


def _round_rows(url: str) -> tuple[list, list]:
    engine = make_engine(url)
    with engine.connect() as conn:
        pairs = conn.execute(select(RoundPair.round_id, RoundPair.pair_id, RoundPair.status)).all()
        labels = conn.execute(select(Label.round_id)).all()
    engine.dispose()
    return pairs, labels


def test_the_state_checks_keep_every_round_and_its_pairs(empty_db_url):
    """SQLite rebuilds ``rounds`` to add its CHECK constraint: that must not cascade to the rows
    that refer to it (round_pairs deleted, labels' round cleared), up or down."""
    migrations.upgrade(empty_db_url, "0003")
    _a_round_with_a_pair_and_a_label(empty_db_url)
    kept = ([(1, 1, "pushed")], [(1,)])
    migrations.upgrade(empty_db_url, "0004")
    assert _round_rows(empty_db_url) == kept
    migrations.downgrade(empty_db_url, "0003")
    assert _round_rows(empty_db_url) == kept


def test_round_states_outside_the_enums_are_refused(engine):
    _a_round_with_a_pair_and_a_label(engine.url.render_as_string(hide_password=False))
    for stmt in (update(Round).values(state="paused"), update(RoundPair).values(status="lost")):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(stmt)
    with engine.begin() as conn:
        conn.execute(update(Round).values(state=RoundState.CLOSED))
        conn.execute(update(RoundPair).values(status=RoundPairStatus.AUTO_ACCEPTED))
    assert _round_rows(engine.url.render_as_string(hide_password=False))[0] == [(1, 1, "auto_accepted")]


def test_0006_keeps_every_label_counting_and_names_the_classifier_closed_rounds_trained(empty_db_url):
    migrations.upgrade(empty_db_url, "0005")
    _a_round_with_a_pair_and_a_label(empty_db_url)
    rounds = table("rounds", column("id"), column("state"), column("metrics", JSON))
    engine = make_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(rounds.update().values(state="closed", metrics={"verified": 1,
                                                                      "classifier": {"version": "c0002-1a2b3c4d"}}))
    engine.dispose()

    migrations.upgrade(empty_db_url, "0006")
    engine = make_engine(empty_db_url)
    with engine.connect() as conn:
        assert conn.execute(select(Round.closed_classifier_version)).scalar_one() == "c0002-1a2b3c4d"
        assert conn.execute(select(Label.late)).scalar_one() is False
        assert set(verified_labels(conn, min_agreeing=1)[0]) == {1}
    engine.dispose()
    migrations.downgrade(empty_db_url, "0005")
    assert _round_rows(empty_db_url) == ([(1, 1, "pushed")], [(1,)])
    assert "annotator_names" not in tables(empty_db_url)

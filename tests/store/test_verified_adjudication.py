"""Disputed pairs and adjudications in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import insert

from annotator.inter_annotator import human_agreement
from store.models import Item, Pair
from store.repository import insert_labels
from store.taxonomy import Relation
from store.verified import disputed_pairs, human_answers, verified_labels

C, S, U = "complementary", "substitute", "unrelated"
_keys = itertools.count()


@pytest.fixture
def pairs(engine) -> list[int]:
    """Six fresh pairs."""
    with engine.begin() as conn:
        items = conn.execute(insert(Item).returning(Item.id), [
            {"source": "test", "external_id": f"i{i}", "title": f"item {i}"} for i in range(12)]).scalars().all()
        return list(conn.execute(insert(Pair).returning(Pair.id), [
            {"item_a_id": items[2 * i], "item_b_id": items[2 * i + 1]} for i in range(6)]).scalars())


def answer(engine, pair_id: int, actor: str, relation: str | None, verdict: str = "label",
           adjudication: bool = False) -> None:
    """Append one human event (a label, "unsure" or a retraction)."""
    with engine.begin() as conn:
        insert_labels(conn, [{"pair_id": pair_id, "verdict": verdict, "relation": relation, "source": "human",
                              "actor": actor, "adjudication": adjudication, "external_key": f"k{next(_keys)}"}])


def verified(engine) -> dict:
    with engine.connect() as conn:
        return verified_labels(conn)[0]


def test_a_pair_is_disputed_once_all_its_answers_are_in_without_a_majority(engine, pairs):
    split, agreed, waiting, unsure, withdrawn, two_unsure = pairs
    for pair, answers in [(split, [C, S, U]), (agreed, [C, C, U]), (waiting, [C, S]),
                          (unsure, [C, S, None]), (withdrawn, [C, S, U]), (two_unsure, [C, None, None])]:
        for n, relation in enumerate(answers):
            answer(engine, pair, f"ann{n}", relation, "label" if relation else "unsure")
    answer(engine, withdrawn, "ann2", None, "retracted")  # an answer withdrawn: one slot open again
    with engine.connect() as conn:
        assert disputed_pairs(conn, pairs, overlap=3) == [split, unsure, two_unsure]
        assert disputed_pairs(conn, pairs, overlap=2) == [split, waiting, unsure, withdrawn, two_unsure]
        answers = human_answers(conn, [unsure])[unsure]
    assert sorted((a.actor, a.verdict.value) for a in answers) == [
        ("ann0", "label"), ("ann1", "label"), ("ann2", "unsure")]


def test_the_newest_adjudication_decides_and_keeps_the_adjudicators_own_vote_apart(engine, pairs):
    pair = pairs[0]
    for actor, relation in (("ann0", C), ("ann1", S), ("ann2", U)):
        answer(engine, pair, actor, relation)
    assert pair not in verified(engine)
    answer(engine, pair, "ann1", S, adjudication=True)  # one of the annotators adjudicates
    answer(engine, pair, "ann1", C, adjudication=True)  # and changes the ruling
    label = verified(engine)[pair]
    assert (label.relation, label.basis) == (Relation.COMPLEMENTARY, "adjudication")
    with engine.connect() as conn:  # the ruling did not replace ann1's answer as an annotator
        assert {a.actor: a.relation.value for a in human_answers(conn, [pair])[pair]} == {
            "ann0": C, "ann1": S, "ann2": U}
        assert disputed_pairs(conn, [pair], overlap=3) == []
    answer(engine, pair, "ann1", None, "retracted", adjudication=True)  # the ruling is deleted
    assert pair not in verified(engine)
    with engine.connect() as conn:
        assert disputed_pairs(conn, [pair], overlap=3) == [pair]


def test_annotators_are_scored_against_adjudicated_labels(engine, pairs):
    disputed, agreed = pairs[:2]
    for actor, relation in (("ann0", C), ("ann1", S), ("ann2", U)):
        answer(engine, disputed, actor, relation)
    for actor, relation in (("ann0", S), ("ann1", S), ("ann2", S)):
        answer(engine, agreed, actor, relation)
    answer(engine, disputed, "judge", S, adjudication=True)
    with engine.connect() as conn:
        report = human_agreement(conn, [disputed, agreed])
    scores = {s.actor: (s.answers, s.accuracy, s.adjudicated, s.accuracy_adjudicated) for s in report.annotators}
    assert scores == {"ann0": (2, 0.5, 1, 0.0), "ann1": (2, 1.0, 1, 1.0), "ann2": (2, 0.5, 1, 0.0)}
    assert report.disagreements == []  # decided by the adjudicator; the judge is not an annotator

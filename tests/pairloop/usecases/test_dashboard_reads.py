"""The reads behind the dashboard: rounds with their progress, the learning curve and its
stopping hint, a round's annotators, the LLM's agreement and disagreements, the queue.

Stores are written row by row here (the round steps that write them need Label Studio; the
dashboard's browser tests play real rounds through it), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update
from support.seeded import ANNOTATORS, agreement_report, answer, close, propose, set_pairs
from support.service import seed_round

from pairloop.sample.catalogue import write_sample
from pairloop.settings import Settings
from pairloop.usecases.annotators import round_annotators
from pairloop.usecases.context import Context
from pairloop.usecases.curve import STOPPING_SET, STOPPING_WINDOW, learning_curve, stopping_hint
from pairloop.usecases.imports import import_labels
from pairloop.usecases.llm_review import llm_agreement_reports, llm_disagreements
from pairloop.usecases.queue import annotation_queue
from pairloop.usecases.round_progress import round_progress, rounds_progress
from pairloop.usecases.training import train_on_store
from store.models import Label, Pair, Round
from store.states import RoundPairStatus


@pytest.fixture
def ctx(db_url, engine, tmp_path) -> Context:
    settings = Settings(database_url=db_url, data_dir=tmp_path / "data", annotators_per_pair=3,
                        label_studio_url="http://ls.example:8080", label_studio_token="t")
    return Context(settings, engine_given=engine)


def test_rounds_are_listed_newest_first_open_ones_counted_now_closed_ones_as_recorded(ctx, db_url, engine):
    closed_id, _ = seed_round(db_url, 4)
    close(engine, closed_id, {"pairs": 4, "verified": 3, "auto_accepted": 1, "disputed": 0, "in_adjudication": 0,
                              "adjudicated": 1, "unsure": 0, "inter_annotator_alpha": 0.42,
                              "llm_vs_human": {"pairs": 2, "accuracy": 0.5, "kappa": None},
                              "classifier": {"version": "c0002-x", "n_labels": 33}})
    open_id, pairs = seed_round(db_url, 5)
    with engine.begin() as conn:
        conn.execute(update(Round).where(Round.id == open_id).values(ls_project_id=12))
    set_pairs(engine, open_id, RoundPairStatus.PUSHED, pairs[:4])
    set_pairs(engine, open_id, RoundPairStatus.AUTO_ACCEPTED, pairs[4:])
    answer(engine, open_id, pairs[0], "complementary", "complementary")  # verified
    answer(engine, open_id, pairs[1], "complementary", "substitute", "unrelated")  # all in, no majority
    answer(engine, open_id, pairs[2], None)  # unsure, waiting for more
    with engine.begin() as conn:  # the trust gate's label on the auto-accepted pair
        conn.execute(Label.__table__.insert(), {"pair_id": pairs[4], "relation": "substitute", "source": "llm",
                                                "actor": "llm:m", "auto_accepted": True, "round_id": open_id})

    board = rounds_progress(ctx)

    assert board.label_studio_url == "http://ls.example:8080"
    newest, oldest = board.rounds
    assert (newest.round, newest.live, newest.label_studio_project) == (open_id, True, 12)
    assert (newest.pairs, newest.verified, newest.auto_accepted, newest.disputed, newest.unsure, newest.pending,
            newest.partly_answered) == \
        (5, 2, 1, 1, 1, 1, 1)
    assert (oldest.round, oldest.live, oldest.state) == (closed_id, False, "closed")
    assert (oldest.verified, oldest.adjudicated, oldest.pending, oldest.inter_annotator_alpha) == (3, 1, None, 0.42)
    assert oldest.llm_vs_human.accuracy == 0.5 and oldest.classifier["version"] == "c0002-x"
    listed = rounds_progress(ctx, count_open=False).rounds  # open rounds left to count one by one
    assert (listed[0].live, listed[0].verified, listed[1]) == (False, None, oldest)
    assert round_progress(ctx, open_id) == newest


def test_the_learning_curve_has_a_point_per_closed_round_with_labels_acquired_so_far(ctx, db_url, engine, tmp_path):
    report = tmp_path / "metrics.json"
    report.write_text(json.dumps({"per_class": {"complementary": {"f1": 0.7}, "substitute": {"f1": 0.5}}}))
    first, _ = seed_round(db_url, 2)
    open_round, _ = seed_round(db_url, 2)
    second, _ = seed_round(db_url, 2)
    close(engine, first, {"verified": 10, "classifier": {"version": "c2", "n_labels": 40, "test_macro_f1": 0.55}})
    close(engine, second, {"verified": 7, "classifier": {"version": "c3", "n_labels": 47, "test_macro_f1": 0.61,
                                                         "test_accuracy": 0.7, "test_report": str(report)}})

    curve = learning_curve(ctx)

    assert [(p.round, p.labels, p.round_labels, p.macro_f1) for p in curve.points] == \
        [(first, 10, 10, 0.55), (second, 17, 7, 0.61)]
    assert open_round not in {p.round for p in curve.points}
    assert curve.points[0].per_class_f1 == {}  # no report: no per-class figures
    assert curve.points[1].per_class_f1 == {"complementary": 0.7, "substitute": 0.5}
    assert curve.classes == ["complementary", "substitute"]


def test_the_stopping_hint_waits_for_enough_rounds_then_applies_kappa_average(ctx, db_url, engine, tmp_path):
    sample = write_sample(tmp_path / "sample")
    import_labels(ctx, sample.seed_labels)
    versions = [train_on_store(ctx).version for _ in range(STOPPING_WINDOW + 1)]
    rounds = [seed_round(db_url, 1)[0] for _ in versions]
    for round_id, version in zip(rounds[:-1], versions[:-1], strict=True):
        close(ctx.engine, round_id, {"verified": 1, "classifier": {"version": version}})

    waiting = stopping_hint(ctx)
    assert not waiting.stop and waiting.kappas == [] and f"needs {STOPPING_WINDOW + 1}" in waiting.message

    close(ctx.engine, rounds[-1], {"verified": 1, "classifier": {"version": versions[-1]}})
    hint = stopping_hint(ctx)
    # The same labels train the same committee: predictions do not change, kappa is 1, stop.
    assert [k.round for k in hint.kappas] == rounds[1:]
    assert hint.mean_kappa == 1.0 and hint.stop and hint.message.startswith("stop")
    with engine.connect() as conn:
        assert hint.stopping_set == min(conn.scalar(select(func.count()).select_from(Pair)), STOPPING_SET) > 0


def test_a_rounds_annotators_have_their_accuracy_and_confusion_matrix(ctx, db_url, engine):
    round_id, pairs = seed_round(db_url, 3)
    answer(engine, round_id, pairs[0], "complementary", "complementary", "substitute")
    answer(engine, round_id, pairs[1], "unrelated", "unrelated", "unrelated")
    answer(engine, round_id, pairs[2], "substitute", "complementary", "unrelated", adjudication="substitute")

    report = round_annotators(ctx, round_id)

    assert (report.round, report.pairs, report.answered_pairs) == (round_id, 3, 3)
    by_actor = {a.actor: a for a in report.annotators}
    assert set(by_actor) == set(ANNOTATORS)  # the adjudicator is no annotator
    third = by_actor["label-studio:3"]
    assert third.answers == 3 and third.accuracy == pytest.approx(1 / 3)
    assert (third.adjudicated, third.accuracy_adjudicated) == (1, 0.0)
    labels = third.confusion.labels
    cell = {(labels[i], labels[j]): v for i, row in enumerate(third.confusion.matrix) for j, v in enumerate(row) if v}
    # rows: the verified label; columns: what annotator 3 answered
    assert cell == {("complementary", "substitute"): 1, ("unrelated", "unrelated"): 1, ("substitute", "unrelated"): 1}
    assert by_actor["label-studio:1"].confusion.matrix != third.confusion.matrix


def test_disagreements_are_the_pairs_where_the_llm_and_the_humans_verified_label_differ(ctx, db_url, engine):
    round_id, pairs = seed_round(db_url, 5)
    propose(engine, pairs[1], "complementary", model="older")  # replaced by the newer proposal below
    for pair_id, (llm, human) in zip(pairs, [("complementary", "complementary"), ("substitute", "unrelated"),
                                             (None, "unrelated"), ("complementary", None),
                                             ("unrelated", "substitute")], strict=True):
        propose(engine, pair_id, llm, status="agreed" if llm else "unlabelled")
        if human:
            answer(engine, round_id, pair_id, human, human)

    found = llm_disagreements(ctx, round_id)

    assert (found.round, found.compared, found.total) == (round_id, 3, 2)
    assert [d.pair_id for d in found.disagreements] == [pairs[1], pairs[4]]
    first = found.disagreements[0]
    assert (first.llm.model, first.llm.relation, first.llm.rationale, first.human.relation, first.human.basis) == \
        ("m", "substitute", "because substitute", "unrelated", "majority")
    assert first.item_a.title.startswith("item ") and first.item_a.id != first.item_b.id
    assert [d.pair_id for d in llm_disagreements(ctx, round_id, offset=1).disagreements] == [pairs[4]]


def test_agreement_reports_show_each_model_and_prompts_newest_report_and_gate(ctx, engine):
    assert llm_agreement_reports(ctx).models == []
    agreement_report(engine, "a", 0.6, None)
    agreement_report(engine, "b", 0.7, 0.9)
    agreement_report(engine, "a", 0.8, 0.85)

    models = llm_agreement_reports(ctx).models

    assert [(m.model, m.accuracy, m.gate_threshold, m.reports) for m in models] == [("a", 0.8, 0.85, 2),
                                                                                    ("b", 0.7, 0.9, 1)]
    assert models[0].gate_precision == 0.97 and models[0].consistency == 0.9


def test_the_queue_holds_pushed_pairs_short_of_answers_oldest_round_first(ctx, db_url, engine):
    older, old_pairs = seed_round(db_url, 3)
    newer, new_pairs = seed_round(db_url, 2)
    closed, closed_pairs = seed_round(db_url, 1)
    set_pairs(engine, older, RoundPairStatus.PUSHED, old_pairs[:2])
    set_pairs(engine, older, RoundPairStatus.ADJUDICATING, old_pairs[2:])  # waits for an adjudicator instead
    set_pairs(engine, newer, RoundPairStatus.PUSHED, new_pairs)
    set_pairs(engine, closed, RoundPairStatus.PUSHED, closed_pairs)
    close(engine, closed, {})
    answer(engine, older, old_pairs[0], "complementary", "complementary", None)  # all three answered
    answer(engine, newer, new_pairs[1], "unrelated")

    queue = annotation_queue(ctx)

    assert queue.total == 3
    assert [(q.round, q.pair_id, q.answers, q.overlap) for q in queue.pairs] == \
        [(older, old_pairs[1], 0, 3), (newer, new_pairs[0], 0, 3), (newer, new_pairs[1], 1, 3)]
    assert [q.pair_id for q in annotation_queue(ctx, offset=1, limit=1).pairs] == [new_pairs[0]]


def test_pages_of_a_store_without_rounds_are_empty_not_errors(ctx):
    assert rounds_progress(ctx).rounds == []
    assert learning_curve(ctx).points == []
    assert annotation_queue(ctx).total == 0
    assert "needs" in stopping_hint(ctx).message

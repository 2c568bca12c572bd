"""Adjudicators' rulings through the webhook (real uvicorn service): stored as final, idempotent,
ordered, and withdrawn by a deletion, which sends the pair back to adjudication."""

from __future__ import annotations

from sqlalchemy import select
from support.service import deleted, delivery, labels, seed_round, wait_processed

from annotator.annotations import answer_result
from annotator.webhooks import events_from_webhook, pending_ids, process_events, store_events
from store.models import Label
from store.verified import disputed_pairs, verified_labels

T1, T2, T3 = "2026-01-01T10:00:00.000001Z", "2026-01-01T10:05:00.000001Z", "2026-01-01T10:09:00.000001Z"
OVERLAP = 2


def _verified(engine) -> dict:
    with engine.connect() as conn:
        return verified_labels(conn)[0]


def _disputed(engine, pair: int) -> list[int]:
    with engine.connect() as conn:
        return disputed_pairs(conn, [pair], OVERLAP)


def _rulings(engine) -> list[tuple[str, str | None, str]]:
    return [(r.verdict, r.relation, r.external_key) for r in labels(engine) if r.adjudication]


def test_a_ruling_delivered_by_webhook_decides_once_and_its_deletion_reopens_the_pair(
        service, client, db_url, engine):
    round_id, (pair,) = seed_round(db_url, 1)

    def post(body: dict) -> None:
        assert client.post("/webhooks/label-studio", json=body).status_code == 200

    def ruling(action: str, when: str, relation: str, fine: int | None = None) -> dict:
        return delivery(action, 50, when, task_id=900, pair_id=pair, round_id=round_id, user=9, ruling=True,
                        result=answer_result(relation, fine, "used together"))

    for user, relation in ((1, "complementary"), (2, "substitute")):
        post(delivery("ANNOTATION_CREATED", user, T1, task_id=1, pair_id=pair, round_id=round_id, user=user,
                      result=answer_result(relation)))
    wait_processed(engine, 2)
    assert _disputed(engine, pair) == [pair]

    newer, older = ruling("ANNOTATION_UPDATED", T2, "substitute", 1), ruling("ANNOTATION_CREATED", T1, "complementary")
    for body in (newer, older) * 2:  # the update overtook the creation, and both came twice
        post(body)
    wait_processed(engine, 4)
    assert _rulings(engine) == [("label", "substitute", "adjudication:50:2026-01-01T10:05:00.000001Z")]
    (stored,) = [r for r in labels(engine) if r.adjudication]
    assert (stored.pair_id, stored.actor, stored.round_id, stored.ls_task_id, stored.fine_code) == \
        (pair, "label-studio:9", round_id, 900, 1)
    label = _verified(engine)[pair]
    assert (label.relation, label.fine_code, label.basis) == ("substitute", 1, "adjudication")
    assert _disputed(engine, pair) == []

    post(deleted(50))
    post(deleted(50))
    post(ruling("ANNOTATION_UPDATED", T3, "unrelated"))  # sent before the deletion, arrived after
    wait_processed(engine, 6)
    assert [verdict for verdict, _relation, _key in _rulings(engine)] == ["label", "retracted"]
    assert _rulings(engine)[-1][2] == "adjudication:50:deleted"
    assert pair not in _verified(engine) and _disputed(engine, pair) == [pair]  # back to the adjudicator
    with engine.connect() as conn:  # the annotators' votes are untouched
        votes = conn.execute(select(Label.actor, Label.verdict).where(Label.adjudication.is_(False))).all()
    assert sorted(votes) == [("label-studio:1", "label"), ("label-studio:2", "label")]


def test_one_batch_of_retractions_votes_and_rulings_keeps_every_column(db_url, engine):
    """The worker appends a batch in one statement: a retraction first must not drop the comment of
    the vote after it, nor the ruling flag of the ruling after that."""
    round_id, (pair_a, pair_b, pair_c) = seed_round(db_url, 3)
    first = events_from_webhook(delivery("ANNOTATION_CREATED", 1, T1, task_id=1, pair_id=pair_a,
                                         round_id=round_id, result=answer_result("complementary")))
    batch = [
        *events_from_webhook(deleted(1)),
        *events_from_webhook(delivery("ANNOTATION_CREATED", 2, T1, task_id=2, pair_id=pair_b, round_id=round_id,
                                      result=answer_result("unsure", comment="no idea"))),
        *events_from_webhook(delivery("ANNOTATION_CREATED", 3, T1, task_id=3, pair_id=pair_c, round_id=round_id,
                                      ruling=True, result=answer_result("unrelated", 8))),
    ]
    for events in (first, batch):
        with engine.begin() as conn:
            store_events(conn, events)
            ids = pending_ids(conn, events)
        report = process_events(engine, ids, batch_size=len(ids))
        assert report.labels_added == len(events) and not report.errors
    rows = {r.pair_id: r for r in labels(engine) if r.verdict != "label" or r.pair_id == pair_c}
    assert (rows[pair_a].verdict, rows[pair_a].adjudication) == ("retracted", False)
    assert (rows[pair_b].verdict, rows[pair_b].rationale) == ("unsure", "no idea")
    assert (rows[pair_c].adjudication, rows[pair_c].fine_code) == (True, 8)

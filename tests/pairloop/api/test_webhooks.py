"""The webhook endpoint on a real uvicorn server: auth, durability, idempotency, ordering."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select
from support.service import API_TOKEN, deleted, delivery, labels, seed_round, wait_processed

from annotator.annotations import answer_result
from annotator.webhooks import SECRET_HEADER, events_from_webhook, pending_ids, store_events
from pairloop.server import ServiceThread
from store.models import Label, WebhookEvent
from store.verified import MajorityRule, verified_labels

T1, T2, T3 = "2026-01-01T10:00:00.000001Z", "2026-01-01T10:05:00.000001Z", "2026-01-01T10:09:00.000001Z"


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def test_created_annotation_becomes_a_human_label(service, client, db_url, engine):
    round_id, (pair, *_) = seed_round(db_url, 2)
    body = delivery("ANNOTATION_CREATED", 11, T1, task_id=7, pair_id=pair, round_id=round_id, user=3,
                    result=answer_result("complementary", 4, "tent needs pegs"))
    response = client.post("/webhooks/label-studio", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1}
    wait_processed(engine, 1)
    (label,) = labels(engine)
    assert (label.pair_id, label.verdict, label.relation, label.fine_code) == (pair, "label", "complementary", 4)
    assert (label.source, label.actor, label.round_id) == ("human", "label-studio:3", round_id)
    assert (label.ls_task_id, label.ls_annotation_id, label.rationale) == (7, 11, "tent needs pegs")


def test_duplicate_deliveries_change_nothing_twice(service, client, db_url, engine):
    round_id, (pair, *_) = seed_round(db_url, 1)
    body = delivery("ANNOTATION_CREATED", 5, T1, task_id=1, pair_id=pair, round_id=round_id,
                    result=answer_result("substitute", 1))
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: client.post("/webhooks/label-studio", json=body).status_code,
                                 range(16)))
    assert statuses == [200] * 16
    assert wait_processed(engine) == 1
    assert len(labels(engine)) == 1
    # The same annotation state delivered as an update later is still the same event.
    client.post("/webhooks/label-studio", json={**body, "action": "ANNOTATION_UPDATED"})
    assert wait_processed(engine) == 1 and len(labels(engine)) == 1


def test_an_older_update_arriving_late_never_overrides_a_newer_one(service, client, db_url, engine):
    round_id, (pair, *_) = seed_round(db_url, 1)

    def send(action, when, relation):
        body = delivery(action, 9, when, task_id=1, pair_id=pair, round_id=round_id,
                        result=answer_result(relation))
        assert client.post("/webhooks/label-studio", json=body).status_code == 200

    send("ANNOTATION_UPDATED", T2, "unrelated")  # the newer state arrives first
    send("ANNOTATION_CREATED", T1, "complementary")  # the original, delivered late
    wait_processed(engine, 2)
    assert [row.relation for row in labels(engine)] == ["unrelated"]
    send("ANNOTATION_UPDATED", T3, "substitute")  # a genuinely newer answer does count
    wait_processed(engine, 3)
    assert [row.relation for row in labels(engine)] == ["unrelated", "substitute"]
    with engine.connect() as conn:
        verified, _ = verified_labels(conn, MajorityRule.COARSE, min_agreeing=1)
    assert verified[pair].relation == "substitute"


def test_deletion_retracts_and_is_never_undone_by_a_late_event(service, client, db_url, engine):
    round_id, (pair_a, pair_b) = seed_round(db_url, 2)

    def post(body):
        assert client.post("/webhooks/label-studio", json=body).status_code == 200

    post(delivery("ANNOTATION_CREATED", 1, T1, task_id=1, pair_id=pair_a, round_id=round_id,
                  result=answer_result("complementary")))
    wait_processed(engine, 1)
    post(deleted(1))
    post(delivery("ANNOTATION_UPDATED", 1, T2, task_id=1, pair_id=pair_a, round_id=round_id,
                  result=answer_result("substitute")))  # sent before the deletion, arrived after
    # Deleted before its creation was delivered: nothing to retract, and the creation is ignored.
    post(deleted(2))
    post(delivery("ANNOTATION_CREATED", 2, T1, task_id=2, pair_id=pair_b, round_id=round_id,
                  result=answer_result("unrelated")))
    wait_processed(engine, 5)
    assert [(r.pair_id, r.verdict) for r in labels(engine)] == [(pair_a, "label"), (pair_a, "retracted")]
    with engine.connect() as conn:
        verified, undecided = verified_labels(conn, min_agreeing=1)
    assert verified == {} and undecided == []


def test_unsure_skipped_and_reversed_answers(service, client, db_url, engine):
    round_id, (p1, p2, p3) = seed_round(db_url, 3)
    for ann, pair, kwargs in (
        (1, p1, {"result": answer_result("unsure", comment="no idea")}),
        (2, p2, {"result": [], "was_cancelled": True}),
        (3, p3, {"result": answer_result("complementary", 5), "reversed_": True}),
    ):
        body = delivery("ANNOTATION_CREATED", ann, T1, task_id=ann, pair_id=pair, round_id=round_id, **kwargs)
        assert client.post("/webhooks/label-studio", json=body).status_code == 200
    wait_processed(engine, 3)
    rows = {r.pair_id: r for r in labels(engine)}
    assert (rows[p1].verdict, rows[p1].relation, rows[p1].rationale) == ("unsure", None, "no idea")
    assert rows[p2].verdict == "unsure"
    # Shown as item 1 = b, item 2 = a: "item 1 more useful with item 2" is code 6 in stored order.
    assert (rows[p3].fine_code, rows[p3].presented_reversed) == (6, True)


def test_wrong_or_missing_secret_is_401_and_stores_nothing(service, db_url, engine):
    round_id, (pair, *_) = seed_round(db_url, 1)
    body = delivery("ANNOTATION_CREATED", 1, T1, task_id=1, pair_id=pair, round_id=round_id,
                    result=answer_result("substitute"))
    url = f"{service.url}/webhooks/label-studio"
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={SECRET_HEADER: "wrong"}).status_code == 401
    assert httpx.post(url, content=b"{not json", headers={SECRET_HEADER: "wrong"}).status_code == 401
    assert (_count(engine, WebhookEvent), _count(engine, Label)) == (0, 0)


def test_bad_bodies_are_400_and_store_nothing(client, engine):
    assert client.post("/webhooks/label-studio", content=b"{not json").status_code == 400
    assert client.post("/webhooks/label-studio", json={"annotation": {}}).status_code == 400
    bad = {"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "updated_at": "yesterday"}}
    assert client.post("/webhooks/label-studio", json=bad).status_code == 400
    ignored = client.post("/webhooks/label-studio", json={"action": "PROJECT_UPDATED", "project": {"id": 1}})
    assert ignored.json() == {"received": 0}
    assert _count(engine, WebhookEvent) == 0


def test_api_needs_the_bearer_token_and_docs_are_served(service, client):
    inbox = f"{service.url}/webhooks/label-studio/inbox"
    assert httpx.get(inbox).status_code == 401
    assert httpx.get(inbox, headers={"Authorization": "Bearer nope"}).status_code == 401
    answer = httpx.get(inbox, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 200 and answer.json()["stored"] == 0
    assert httpx.get(f"{service.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{service.url}/docs").status_code == 200
    paths = httpx.get(f"{service.url}/openapi.json").json()["paths"]
    assert "/webhooks/label-studio" in paths


def test_events_stored_before_a_crash_are_processed_at_start(db_url, engine, tmp_path):
    """The service answered, stored the event, and died before processing: the next start does it."""
    from support.service import service_settings

    round_id, (pair, *_) = seed_round(db_url, 1)
    body = delivery("ANNOTATION_CREATED", 4, T1, task_id=1, pair_id=pair, round_id=round_id,
                    result=answer_result("complementary"))
    with engine.begin() as conn:
        store_events(conn, events_from_webhook(body))
    assert _count(engine, Label) == 0
    with ServiceThread(service_settings(db_url, tmp_path / "data")):
        assert wait_processed(engine) == 1
    assert [r.relation for r in labels(engine)] == ["complementary"]


def test_eight_annotators_concurrently_no_lost_no_duplicated_labels(service, client, db_url, engine):
    """Eight annotators answer 25 pairs each at once; every delivery is also sent a second time."""
    round_id, pairs = seed_round(db_url, 25)
    bodies = [
        delivery("ANNOTATION_CREATED", 1000 * user + i, T1, task_id=i + 1, pair_id=pair, round_id=round_id,
                 user=user, result=answer_result(("complementary", "substitute", "unrelated")[(i + user) % 3]))
        for user in range(1, 9) for i, pair in enumerate(pairs)
    ]
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda b: client.post("/webhooks/label-studio", json=b).status_code, bodies * 2))
    assert set(codes) == {200}
    assert wait_processed(engine, len(bodies)) == len(bodies)
    rows = labels(engine)
    assert len(rows) == 200
    assert len({(r.pair_id, r.actor) for r in rows}) == 200
    assert {r.ls_annotation_id for r in rows} == {b["annotation"]["id"] for b in bodies}


def test_processors_racing_on_one_annotation_never_append_an_older_state(db_url, engine):
    """Several processes work the inbox at once (the service's worker, `round sync`): for one
    annotation the labels appended must still only move forward in time."""
    import random
    import threading

    from annotator.webhooks import process_events

    round_id, (pair, *_) = seed_round(db_url, 1)
    states = [f"2026-01-01T10:00:{s:02d}.000001Z" for s in range(40)]
    random.Random(7).shuffle(states)
    events = [event for when in states for event in events_from_webhook(
        delivery("ANNOTATION_UPDATED", 77, when, task_id=1, pair_id=pair, round_id=round_id,
                 result=answer_result("complementary")))]
    with engine.begin() as conn:
        store_events(conn, events)
        ids = pending_ids(conn, events)
    start = threading.Barrier(4)

    def work(part: list[int]) -> None:
        start.wait()
        process_events(engine, part, batch_size=1)

    threads = [threading.Thread(target=work, args=(ids[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [row.external_key for row in labels(engine)]
    assert keys == sorted(keys) and keys[-1].endswith("10:00:39.000001Z")

"""Annotators answer in the real Label Studio; its webhooks reach the running service; labels land."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from support.recorder import WebhookRecorder
from support.service import WEBHOOK_SECRET, labels, wait_processed

from annotator.annotations import answer_result
from annotator.reconcile import reconcile
from annotator.webhooks import SECRET_HEADER
from pairloop import service
from pairloop.server import ServiceThread
from store.models import WebhookEvent
from store.verified import verified_labels

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]


def _latest(engine) -> dict[tuple[int, str], tuple[str, str | None]]:
    """Each (pair, actor)'s latest label: (verdict, relation)."""
    latest = {}
    for row in labels(engine):
        latest[(row.pair_id, row.actor)] = (row.verdict, row.relation)
    return latest


def _actor(annotator) -> str:
    return f"label-studio:{annotator.whoami()['id']}"


def _errors(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(WebhookEvent.error).where(WebhookEvent.error.is_not(None))))


def test_answers_updates_and_deletions_reach_the_store(round_project, annotators, ls, engine):
    rp = round_project(n_pairs=2)
    alice, bob, carol = annotators(3)
    task = rp.task_ids[rp.pair_ids[0]]
    first = alice.create_annotation(task, answer_result("complementary", 4, "needs it"), lead_time=4.2)
    bob.create_annotation(task, answer_result("complementary", 7))
    third = carol.create_annotation(task, answer_result("substitute"))
    wait_processed(engine, 3)
    with engine.connect() as conn:
        verified, _ = verified_labels(conn)
    assert (verified[rp.pair_ids[0]].relation, verified[rp.pair_ids[0]].n_votes) == ("complementary", 3)
    carol.update_annotation(third["id"], answer_result("unsure"))
    alice.delete_annotation(first["id"])
    wait_processed(engine, 5)
    assert _latest(engine) == {
        (rp.pair_ids[0], _actor(alice)): ("retracted", None),
        (rp.pair_ids[0], _actor(bob)): ("label", "complementary"),
        (rp.pair_ids[0], _actor(carol)): ("unsure", None),
    }
    rows = labels(engine)
    assert {r.round_id for r in rows} == {rp.round_id} and {r.ls_task_id for r in rows} == {task}
    assert (rows[0].fine_code, rows[0].rationale, rows[0].source) == (4, "needs it", "human")
    assert _errors(engine) == []
    me = alice.whoami()  # actors are Label Studio user ids; user_emails() names them
    assert _actor(alice) == f"label-studio:{me['id']}" and ls.user_emails()[me["id"]] == me["email"]


def test_real_deliveries_duplicated_and_reordered_change_nothing_twice(round_project, annotators, ls, engine):
    """Record what Label Studio sends, then deliver it again, doubled and newest first."""
    rp = round_project(n_pairs=2, webhook=False)
    recorder = WebhookRecorder()
    try:
        ls.register_webhook(rp.project_id, recorder.url, {SECRET_HEADER: WEBHOOK_SECRET})
        (dana,) = annotators(1)
        one = dana.create_annotation(rp.task_ids[rp.pair_ids[0]], answer_result("unrelated", 8))
        dana.update_annotation(one["id"], answer_result("complementary", 5))
        dana.update_annotation(one["id"], answer_result("substitute", 1))
        two = dana.create_annotation(rp.task_ids[rp.pair_ids[1]], answer_result("unrelated"))
        dana.delete_annotation(two["id"])
    finally:
        recorder.close()
    actions = [b["action"] for b in recorder.bodies]
    assert actions == ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATION_UPDATED",
                       "ANNOTATION_CREATED", "ANNOTATIONS_DELETED"]
    url = service.webhook_url(rp.settings)
    for body in list(reversed(recorder.bodies)) * 2:
        assert httpx.post(url, json=body, headers={SECRET_HEADER: WEBHOOK_SECRET}).status_code == 200
    wait_processed(engine, 5)
    # Newest first: the final answer is stored once, the older states are skipped, and the
    # deleted annotation never appears.
    assert [(r.pair_id, r.relation, r.fine_code) for r in labels(engine)] == [(rp.pair_ids[0], "substitute", 1)]
    for body in recorder.bodies:  # and once more in the original order
        httpx.post(url, json=body, headers={SECRET_HEADER: WEBHOOK_SECRET})
    wait_processed(engine, 5)
    assert len(labels(engine)) == 1


def test_sync_reconciles_what_happened_while_the_service_was_down(round_project, annotators, ls, engine):
    rp = round_project(n_pairs=5)
    erin, finn, gus = annotators(3)
    p0, p1, p2, p3, _untouched = rp.pair_ids
    kept = erin.create_annotation(rp.task_ids[p0], answer_result("complementary"))
    dropped = finn.create_annotation(rp.task_ids[p1], answer_result("unrelated"))
    wait_processed(engine, 2)
    since = datetime.now(UTC)
    rp.service.stop()
    erin.update_annotation(kept["id"], answer_result("substitute", 1))
    finn.delete_annotation(dropped["id"])
    finn.create_annotation(rp.task_ids[p2], answer_result("complementary", 6))
    never_seen = gus.create_annotation(rp.task_ids[p3], answer_result("unrelated"))
    gus.delete_annotation(never_seen["id"])
    assert len(labels(engine)) == 2  # the webhooks went nowhere
    changed = {t.data["pair_id"] for t in ls.list_tasks(rp.project_id, updated_since=since)}
    assert changed == {p0, p1, p2, p3}
    report = reconcile(engine, ls, rp.round_id, rp.project_id, since=since)
    assert report.deletions_found == 1  # (it lists from a clock margin before `since`)
    assert report.processing.labels_added == 3 and not report.processing.errors
    expected = {
        (p0, _actor(erin)): ("label", "substitute"),
        (p1, _actor(finn)): ("retracted", None),
        (p2, _actor(finn)): ("label", "complementary"),
    }
    assert _latest(engine) == expected
    again = reconcile(engine, ls, rp.round_id, rp.project_id)  # everything, from the start
    assert again.processing.labels_added == 0 and _latest(engine) == expected
    with ServiceThread(rp.settings):  # back up on the same address: webhooks flow again
        gus.create_annotation(rp.task_ids[p3], answer_result("substitute"))
        wait_processed(engine)
        assert _latest(engine)[(p3, _actor(gus))] == ("label", "substitute")


@pytest.mark.postgres
@pytest.mark.parametrize("empty_db_url", ["postgresql"], indirect=True)
def test_eight_annotators_at_once_on_postgresql(round_project, annotators, ls, engine):
    rp = round_project(n_pairs=10, overlap=8)
    people = annotators(8)
    relations = ("complementary", "substitute", "unrelated")

    def work(index: int) -> int:
        person = people[index]
        for rank, pair in enumerate(rp.pair_ids):
            person.create_annotation(rp.task_ids[pair], answer_result(relations[(rank + index) % 3]))
        return index

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(work, range(8))) == list(range(8))
    wait_processed(engine, 80)
    rows = labels(engine)
    assert len(rows) == 80 and len({(r.pair_id, r.actor) for r in rows}) == 80
    assert len({r.ls_annotation_id for r in rows}) == 80 and _errors(engine) == []
    assert ls.project(rp.project_id)["total_annotations_number"] == 80
    assert reconcile(engine, ls, rp.round_id, rp.project_id).processing.labels_added == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(WebhookEvent)) == 80

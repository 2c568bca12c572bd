"""An adjudicator's rulings reach the store through the webhook of the real Label Studio: the
ruling decides the pair, an update replaces it, a deletion sends the pair back to adjudication;
``round adjudicate`` (listing) then finds nothing to add, and the real deliveries replayed
newest first and twice change nothing."""

from __future__ import annotations

import httpx
import pytest
from support.recorder import WebhookRecorder
from support.service import WEBHOOK_SECRET, labels, seed_round, service_settings, wait_processed

from annotator.annotations import answer_result
from annotator.webhooks import SECRET_HEADER
from pairloop import service
from pairloop.server import ServiceThread
from pairloop.usecases import round_steps as steps
from pairloop.usecases import rounds
from pairloop.usecases.context import Context
from store.verified import verified_labels

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]


def test_rulings_through_the_webhook(db_url, engine, tmp_path, ls, studio_state, annotators):
    settings = service_settings(db_url, tmp_path / "data", label_studio_url=studio_state.url,
                                label_studio_token=studio_state.token, annotators_per_pair=2)
    round_id, (split, _other) = seed_round(db_url, 2)
    ctx = Context(settings, engine_given=engine)
    recorder = WebhookRecorder()
    with ServiceThread(settings):
        project = steps.push(ctx, round_id, ls, None)
        tasks = {t.data["pair_id"]: t.id for t in ls.list_tasks(project, with_annotations=False)}
        alice, bob, judge = annotators(3)
        alice.create_annotation(tasks[split], answer_result("complementary", 4))
        bob.create_annotation(tasks[split], answer_result("substitute"))
        wait_processed(engine, 2)

        routed = rounds.adjudicate_round(ctx, round_id)
        adjudication = routed.adjudication_project
        assert routed.routed == 1
        service.register_webhook(settings, ls, adjudication)
        ls.register_webhook(adjudication, recorder.url, {SECRET_HEADER: WEBHOOK_SECRET})
        (task,) = ls.list_tasks(adjudication, with_annotations=False)

        ruling = judge.create_annotation(task.id, answer_result("complementary", 5, "used together"))
        wait_processed(engine, 3)
        assert _status(ctx, round_id) == {"in_adjudication": 0, "adjudicated": 1, "verified": 1}
        judge.update_annotation(ruling["id"], answer_result("substitute", 1))
        wait_processed(engine, 4)
        label = _verified(engine)[split]
        assert (label.relation, label.fine_code, label.basis) == ("substitute", 1, "adjudication")
        rows = [r for r in labels(engine) if r.adjudication]
        assert [(r.relation, r.actor, r.ls_task_id, r.rationale) for r in rows] == [
            ("complementary", f"label-studio:{judge.whoami()['id']}", task.id, "used together"),
            ("substitute", f"label-studio:{judge.whoami()['id']}", task.id, None)]
        assert rounds.adjudicate_round(ctx, round_id).rulings.labels_added == 0

        judge.delete_annotation(ruling["id"])
        wait_processed(engine, 5)
        assert [r.verdict for r in labels(engine) if r.adjudication] == ["label", "label", "retracted"]
        assert split not in _verified(engine)
        assert _status(ctx, round_id) == {"in_adjudication": 1, "adjudicated": 0, "verified": 0}
        listed = rounds.adjudicate_round(ctx, round_id)
        assert (listed.routed, listed.rulings.labels_added, listed.rulings.withdrawn) == (0, 0, 0)

        recorder.close()
        assert [b["action"] for b in recorder.bodies] == [
            "ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"]
        stored = labels(engine)
        url = service.webhook_url(settings)
        for body in [*reversed(recorder.bodies)] * 2 + recorder.bodies:
            assert httpx.post(url, json=body, headers={SECRET_HEADER: WEBHOOK_SECRET}).status_code == 200
        assert wait_processed(engine) == 5 and labels(engine) == stored


def _status(ctx: Context, round_id: int) -> dict[str, int]:
    return rounds.round_status(ctx, round_id).model_dump(include={"in_adjudication", "adjudicated", "verified"})


def _verified(engine) -> dict:
    with engine.connect() as conn:
        return verified_labels(conn)[0]

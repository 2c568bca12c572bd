"""Closing a round, on the real store (SQLite and PostgreSQL): what a close refuses, what it
retrains, what it records, and what becomes of answers that arrive after it. Answers reach the
store through the webhook inbox (``annotator.webhooks.receive``), as Label Studio's deliveries do;
tests/pairloop/usecases/test_adjudication.py runs the same with the real Label Studio."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, update
from support.service import delivery, free_port

from annotator.annotations import answer_result
from annotator.webhooks import ProcessReport, deletion_event, events_from_webhook, receive
from pairloop.sample.catalogue import write_sample
from pairloop.settings import Settings
from pairloop.usecases import round_steps as steps
from pairloop.usecases import rounds
from pairloop.usecases.context import Context
from pairloop.usecases.store import store_stats
from store import formats
from store.errors import BadInput, Conflict
from store.importer import Importer
from store.models import ClassifierVersion, Label, Round, RoundPair
from store.states import RoundPairStatus, RoundState
from store.verified import verified_labels

SIZE = 8
T1, T2 = "2026-12-05T10:00:00.000001Z", "2026-12-05T11:00:00.000001Z"


@pytest.fixture
def sample(tmp_path):
    return write_sample(tmp_path / "sample")


@pytest.fixture
def ctx(db_url, engine, tmp_path, sample) -> Context:
    """The sample catalogue in the store (30 verified seed labels, an unlabelled pool), no test
    set configured, a Label Studio that is not there, three answers per pair."""
    with engine.begin() as conn:
        importer = Importer(conn)
        importer.items(formats.read_items(sample.catalogue))
        importer.pairs(formats.read_pairs(sample.seed_labels))
        importer.pairs(formats.read_pairs(sample.pool))
    settings = Settings(database_url=db_url, data_dir=tmp_path / "data", test_set=None, annotators_per_pair=3,
                        label_studio_url=f"http://127.0.0.1:{free_port()}", label_studio_token="no-server-here")
    return Context(settings, engine_given=engine)


def pushed_round(ctx: Context, seed: int) -> tuple[int, list[int]]:
    """A round selected by the store's classifier and in Label Studio as the push leaves it
    (every pair ``pushed``, overlap 3 recorded, ``verifying``): (round id, pair ids in rank order)."""
    round_id = steps.select_pairs(ctx, "random", SIZE, seed=seed)
    with ctx.engine.begin() as conn:
        conn.execute(update(RoundPair).where(RoundPair.round_id == round_id)
                     .values(status=RoundPairStatus.PUSHED))
        pair_ids = steps.round_pair_ids(conn, round_id)
    steps.remember(ctx.engine, round_id, overlap=3)
    steps.set_state(ctx.engine, round_id, RoundState.VERIFYING)
    return round_id, pair_ids


Answer = Callable[..., ProcessReport]


@pytest.fixture
def answer(ctx) -> Answer:
    """Deliver one annotator's answer on a pair of a round, as Label Studio's webhook would."""

    def give(round_id: int, pair_id: int, user: int, relation: str = "complementary", *, annotation: int | None = None,
             when: str = T1) -> ProcessReport:
        annotation = annotation or 1_000_000 * user + pair_id
        body = delivery("ANNOTATION_CREATED", annotation, when, task_id=pair_id, pair_id=pair_id, round_id=round_id,
                        user=user, result=answer_result(relation))
        return receive(ctx.engine, events_from_webhook(body))

    return give


def count(ctx: Context, stmt) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def state(ctx: Context, round_id: int) -> str:
    with ctx.engine.connect() as conn:
        return conn.execute(select(Round.state).where(Round.id == round_id)).scalar_one()


VERSIONS = select(func.count()).select_from(ClassifierVersion)


def test_pending_counts_down_as_answers_arrive(ctx, answer):
    """Five answers of three on five pairs: they are partly answered, no longer pending."""
    round_id, pairs = pushed_round(ctx, seed=3)
    assert rounds.round_status(ctx, round_id).pending == SIZE
    for pair in pairs[:5]:
        answer(round_id, pair, user=1)
    status = rounds.round_status(ctx, round_id)
    assert status.pending == SIZE - 5  # it stayed at SIZE: answered pairs counted as pending until verified
    assert (status.partly_answered, status.disputed, status.verified) == (5, 0, 0)
    for user, relation in ((2, "substitute"), (3, "unrelated")):  # all three in, no majority: disputed
        answer(round_id, pairs[0], user=user, relation=relation)
    for user in (2, 3):  # two of three agree: verified
        answer(round_id, pairs[1], user=user)
    status = rounds.round_status(ctx, round_id)
    assert (status.pending, status.partly_answered, status.disputed, status.verified) == (SIZE - 5, 3, 1, 1)
    assert status.without_majority == 1
    assert status.disputed_by_llm == 0  # the LLM was not asked: its own split votes are another count
    progress_fields = ("pending", "partly_answered", "disputed", "in_adjudication")
    pushed_and_open = sum(getattr(status, name) for name in progress_fields)
    assert pushed_and_open + status.verified == SIZE  # every pushed pair is in exactly one count


def test_a_round_with_undecided_pairs_is_not_closed_unless_forced(ctx, answer):
    round_id, pairs = pushed_round(ctx, seed=3)
    for pair in pairs[:3]:  # one answer of three
        answer(round_id, pair, user=1)
    for user in (1, 2, 3):  # verified
        answer(round_id, pairs[3], user=user, relation="unrelated")
    versions = count(ctx, VERSIONS)
    with pytest.raises(Conflict) as refused:  # it closed: "0 of 8 pairs verified", and retrained
        rounds.close_round(ctx, round_id)
    message = str(refused.value)
    unanswered = ", ".join(map(str, pairs[4:4 + steps.EXAMPLES]))
    assert message.startswith(f"round {round_id} has 7 pairs without a verified label: 4 unanswered (pairs "
                              f"{unanswered}); 3 partly answered (pairs {', '.join(map(str, pairs[:3]))})")
    assert "`pairloop round close --force`" in message
    assert state(ctx, round_id) == RoundState.VERIFYING and count(ctx, VERSIONS) == versions  # nothing trained

    closed = rounds.close_round(ctx, round_id, force=True)
    assert state(ctx, round_id) == RoundState.CLOSED
    metrics = closed.metrics
    assert (metrics.forced, metrics.pending, metrics.partly_answered, metrics.verified) == (True, 4, 3, 1)
    assert rounds.round_status(ctx, round_id).metrics == metrics.model_dump(mode="json")
    assert closed.label_studio_projects == {} and closed.label_studio_note is None  # no project: nothing to tell


def test_close_keeps_the_classifier_when_no_label_changed(ctx, answer):
    first, pairs = pushed_round(ctx, seed=3)
    for pair in pairs:
        for user in (1, 2):
            answer(first, pair, user=user, relation="substitute")
    trained = rounds.close_round(ctx, first).metrics.classifier
    assert trained.n_labels == 30 + SIZE
    versions = count(ctx, VERSIONS)

    second, pairs = pushed_round(ctx, seed=4)
    for pair in pairs:  # all answered, no two agree: no new verified label
        for user, relation in ((1, "substitute"), (2, "unrelated"), (3, "complementary")):
            answer(second, pair, user=user, relation=relation)
    kept = rounds.close_round(ctx, second, force=True).metrics.classifier
    assert count(ctx, VERSIONS) == versions  # it used to train again on exactly the same labels
    assert (kept.retrained, kept.version, kept.n_labels) == (False, trained.version, trained.n_labels)
    assert trained.retrained
    listed = {r.round: r for r in rounds.list_rounds(ctx)}
    assert listed[first].closed_classifier_version == listed[second].closed_classifier_version == trained.version
    assert listed[second].classifier_version == trained.version  # it selected with the first round's classifier


def test_a_bad_test_file_is_refused_before_anything_is_closed(ctx, answer, tmp_path):
    round_id, pairs = pushed_round(ctx, seed=3)
    missing = tmp_path / "missing.csv"
    with pytest.raises(BadInput, match=f"{missing}: no such file"):
        rounds.close_round(ctx, round_id, force=True, test=missing)
    one_class = tmp_path / "one-class.csv"
    one_class.write_text("item_a,item_b,relation\nA,B,substitute\n", encoding="utf-8")
    with pytest.raises(BadInput, match="the test file has a single class"):
        rounds.close_round(ctx, round_id, force=True, test=one_class)
    assert state(ctx, round_id) == RoundState.VERIFYING


def test_answers_after_the_close_are_kept_as_late_and_never_counted(ctx, answer):
    round_id, pairs = pushed_round(ctx, seed=3)
    for pair in pairs:
        for user in (1, 2):
            answer(round_id, pair, user=user, relation="substitute")
    rounds.close_round(ctx, round_id)
    with ctx.engine.connect() as conn:
        before = verified_labels(conn)[0]

    third = answer(round_id, pairs[0], user=3, relation="unrelated")  # a new answer
    changed = answer(round_id, pairs[1], user=1, relation="unrelated", annotation=1_000_000 + pairs[1], when=T2)
    duplicate = answer(round_id, pairs[0], user=3, relation="unrelated")
    deleted = receive(ctx.engine, [deletion_event(2_000_000 + pairs[2])])  # an answer deleted after the close
    with ctx.engine.connect() as conn:
        after = verified_labels(conn)[0]
    assert after == before  # nothing late counts: pairs[1] and pairs[2] used to lose their verified label
    assert (third.labels_added, changed.labels_added, deleted.labels_added, duplicate.labels_added) == (1, 1, 1, 0)
    assert third.late == changed.late == deleted.late == 1
    with ctx.engine.connect() as conn:
        late = conn.execute(select(Label.pair_id, Label.verdict, Label.relation).where(Label.late.is_(True))
                            .order_by(Label.id)).all()
    assert late == [(pairs[0], "label", "unrelated"), (pairs[1], "label", "unrelated"), (pairs[2], "retracted", None)]
    status = rounds.round_status(ctx, round_id)
    assert (status.late_answers, status.verified, status.partly_answered) == (3, SIZE, 0)
    assert status.annotators[0].answers == SIZE  # the late answers are no answers either
    stats = store_stats(ctx)
    assert stats.late_labels == 3 and stats.verified.pairs == len(before)


def test_an_answer_to_an_open_round_is_not_late(ctx, answer):
    """The flag follows the round's state when the answer is processed, nothing else."""
    round_id, pairs = pushed_round(ctx, seed=3)
    report = answer(round_id, pairs[0], user=1)
    assert (report.labels_added, report.late) == (1, 0)
    assert rounds.round_status(ctx, round_id).late_answers == 0


def test_a_close_that_failed_after_marking_the_round_is_finished_by_running_it_again(ctx, answer, monkeypatch):
    round_id, pairs = pushed_round(ctx, seed=3)
    for pair in pairs:
        for user in (1, 2):
            answer(round_id, pair, user=user, relation="complementary")

    def fail(*_args, **_kwargs):
        raise MemoryError("training ran out of memory")

    monkeypatch.setattr(rounds, "retrain_for_round", fail)
    with pytest.raises(MemoryError):
        rounds.close_round(ctx, round_id)
    assert state(ctx, round_id) == RoundState.CLOSED  # answers from now on are late...
    assert answer(round_id, pairs[0], user=3).late == 1
    monkeypatch.undo()
    closed = rounds.close_round(ctx, round_id)  # ...and the close is finished, not refused
    assert closed.metrics.verified == SIZE and not closed.metrics.forced
    with pytest.raises(Conflict, match="already closed"):
        rounds.close_round(ctx, round_id)


def flat(text: str) -> str:
    """Terminal output with its line wrapping undone (Rich wraps at 80 columns when not a terminal)."""
    return " ".join(text.split())


@pytest.mark.parametrize("empty_db_url", ["sqlite"], indirect=True)
def test_round_close_and_list_on_the_command_line(ctx, answer, cli, sample, tmp_path):
    round_id, pairs = pushed_round(ctx, seed=3)
    for pair in pairs[:5]:
        answer(round_id, pair, user=1)
    status = flat(cli("round", "status", str(round_id)).stdout)
    assert re.search(r"pending \(nobody answered\) +│ 3 ", status) and re.search(r"partly answered +│ 5 ", status)
    assert "LLM votes split" in status and "disputed by llm" not in status

    refused = flat(cli("round", "close", str(round_id), expect=2).stderr)
    assert "3 unanswered" in refused and "5 partly answered" in refused and "--force" in refused
    missing = tmp_path / "nope.csv"
    assert "nope.csv: no such file" in flat(cli("round", "close", "--force", "--test", missing, expect=2).stderr)

    closed = cli("round", "close", str(round_id), "--force", "--test", sample.test)
    (row,) = json.loads(cli("round", "list", "--json").stdout)
    classifier = row["metrics"]["classifier"]
    # One answer per pair verifies nothing: the classifier that selected the round is kept, and scored.
    assert row["closed_classifier_version"] == classifier["version"] == row["classifier_version"]
    assert classifier["retrained"] is False and classifier["test_set"] == str(sample.test)
    f1 = classifier["test_macro_f1"]
    assert 0.0 <= f1 <= 1.0
    assert (f"no label changed since classifier {classifier['version']}; not retrained; held-out macro-F1 {f1:.3f}"
            in flat(closed.stdout))
    assert "closed with --force: 3 unanswered, 5 partly answered" in flat(closed.stderr)
    table = flat(cli("round", "list").stdout)
    assert "(kept)" in table and f"{f1:.3f}" in table

"""Disputed pairs go to an adjudication project in the real Label Studio; rulings decide them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import typer
from sqlalchemy import select, update
from support.service import (
    API_TOKEN,
    free_port,
    labels,
    seed_round,
    service_settings,
    wait_processed,
)
from typer.testing import CliRunner

from annotator.adjudication import route
from annotator.annotations import answer_result
from annotator.label_studio import ADJUDICATED_PAIR, LabelStudio
from pairloop.cli import ErrorMappingGroup
from pairloop.sample.catalogue import write_sample
from pairloop.server import ServiceThread
from pairloop.usecases import round_steps as steps
from pairloop.usecases import rounds
from pairloop.usecases.context import Context
from store import formats
from store.errors import Conflict
from store.importer import Importer
from store.models import Round, RoundPair, WebhookEvent
from store.states import RoundPairStatus
from store.verified import verified_labels

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]


@dataclass
class PushedRound:
    ctx: Context  # its settings name the session's Label Studio, its overlap and the running service
    round_id: int
    pair_ids: list[int]
    project_id: int
    task_ids: dict[int, int]  # pair id → verification task id
    service: ServiceThread


@pytest.fixture
def pushed_round(db_url, engine, tmp_path, ls, studio_state) -> Iterator[Callable[..., PushedRound]]:
    """A round pushed by the round's push step (which records its overlap), its webhook on a running service."""
    started: list[ServiceThread] = []

    def make(n_pairs: int, overlap: int) -> PushedRound:
        settings = service_settings(db_url, tmp_path / "data", label_studio_url=studio_state.url,
                                    label_studio_token=studio_state.token, annotators_per_pair=overlap)
        round_id, pair_ids = seed_round(db_url, n_pairs)
        running = ServiceThread(settings)
        started.append(running)
        ctx = Context(settings, engine_given=engine)
        project_id = steps.push(ctx, round_id, ls, None)
        task_ids = {t.data["pair_id"]: t.id for t in ls.list_tasks(project_id, with_annotations=False)}
        return PushedRound(ctx, round_id, pair_ids, project_id, task_ids, running)

    yield make
    for running in started:
        running.stop()


def _status(r: PushedRound) -> rounds.RoundStatus:
    return rounds.round_status(r.ctx, r.round_id)


def _verified(engine) -> dict:
    with engine.connect() as conn:
        return verified_labels(conn)[0]


def test_a_disputed_pair_is_routed_once_and_the_ruling_decides_it(pushed_round, annotators, ls, engine, tmp_path):
    r = pushed_round(n_pairs=3, overlap=2)
    alice, bob, judge = annotators(3)
    split, agreed, open_ = r.pair_ids
    alice.create_annotation(r.task_ids[split], answer_result("complementary", 4))
    bob.create_annotation(r.task_ids[split], answer_result("substitute", comment="two of a kind"))
    alices_agreed = alice.create_annotation(r.task_ids[agreed], answer_result("unrelated"))
    bob.create_annotation(r.task_ids[agreed], answer_result("unrelated"))
    alice.create_annotation(r.task_ids[open_], answer_result("unrelated"))  # one answer of two: not disputed
    wait_processed(engine, 5)
    status = _status(r)
    assert (status.disputed, status.partly_answered, status.pending) == (1, 1, 0)

    first = rounds.adjudicate_round(r.ctx, r.round_id)
    assert (first.routed, first.already_routed, first.rulings) == (1, 0, None)
    project = first.adjudication_project
    assert ls.project(project)["maximum_annotations"] == 1
    (task,) = ls.list_tasks(project)
    assert task.data[ADJUDICATED_PAIR] == split and "pair_id" not in task.data
    shown = task.data["answers_summary"]  # the annotators' answers, by email
    assert alice.whoami()["email"] in shown and bob.whoami()["email"] in shown
    assert "complementary (fine 4" in shown and 'substitute ("two of a kind")' in shown
    assert ls.task(task.id)["predictions"] == []  # nothing pre-selected for the adjudicator

    with httpx.Client(base_url=r.service.url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
        again = api.post(f"/rounds/{r.round_id}/adjudicate", timeout=60).json()
    assert (again["routed"], again["rulings"]["labels_added"]) == (0, 0)  # nothing routed twice
    assert len(list(ls.list_tasks(project))) == 1
    status = _status(r)
    assert (status.disputed, status.in_adjudication, status.adjudicated, status.verified) == (0, 1, 0, 1)

    ruling = judge.create_annotation(task.id, answer_result("complementary", 5, "used together"))
    # The adjudication project's webhook delivers the ruling; sync reads it too, storing it once.
    wait_processed(engine, 6)
    synced = rounds.sync_round(r.ctx, r.round_id)
    wait_processed(engine)
    judge_rows = [row for row in labels(engine) if row.ls_annotation_id == ruling["id"]]
    assert [(row.adjudication, row.actor) for row in judge_rows] == [(True, f"label-studio:{judge.whoami()['id']}")]
    assert synced.adjudication.rulings.labels_added in (0, 1)  # 0: the webhook came first
    with engine.connect() as conn:  # a ruling is stored as a ruling, never as an annotator's vote
        assert conn.scalar(select(WebhookEvent.id).where(WebhookEvent.dedupe_key.like(f"ls:{ruling['id']}:%"))) is None
    label = _verified(engine)[split]
    assert (label.relation, label.fine_code, label.basis) == ("complementary", 5, "adjudication")

    status = _status(r)  # annotators by the e-mails adjudication and sync cached: Label Studio is not asked
    assert (status.in_adjudication, status.adjudicated, status.verified) == (0, 1, 2)
    scores = {a.name: (a.adjudicated, a.accuracy_adjudicated) for a in status.annotators}
    assert scores == {alice.whoami()["email"]: (1, 1.0), bob.whoami()["email"]: (1, 0.0)}

    judge.update_annotation(ruling["id"], answer_result("substitute", 1))
    rounds.adjudicate_round(r.ctx, r.round_id)
    wait_processed(engine)
    assert _verified(engine)[split].relation == "substitute"
    assert rounds.adjudicate_round(r.ctx, r.round_id).rulings.labels_added == 0
    with engine.begin() as conn:  # labels beyond the round's, so that closing has enough to retrain on
        Importer(conn).pairs(formats.read_pairs(write_sample(tmp_path / "sample").seed_labels))
    with pytest.raises(Conflict, match=f"1 partly answered \\(pairs {open_}\\)"):  # bob has not answered it
        rounds.close_round(r.ctx, r.round_id)
    bob.create_annotation(r.task_ids[open_], answer_result("unrelated"))
    wait_processed(engine, 8)
    closed = rounds.close_round(r.ctx, r.round_id)
    assert (closed.metrics.verified, closed.metrics.in_adjudication, closed.metrics.adjudicated) == (3, 0, 1)
    assert not closed.metrics.forced and closed.label_studio_note is None
    for project_id in (r.project_id, project):  # Label Studio shows both projects closed
        shown = ls.project(project_id)
        assert shown["title"].endswith(" · closed") and closed.label_studio_projects[project_id] == shown["title"]
        assert "no longer counted" in shown["description"]

    judge.delete_annotation(ruling["id"])  # a ruling withdrawn after the round closed
    alice.update_annotation(alices_agreed["id"], answer_result("substitute"))  # an answer changed after the close
    rounds.adjudicate_round(r.ctx, r.round_id)
    wait_processed(engine)
    late = [(row.pair_id, row.verdict, row.adjudication) for row in labels(engine) if row.late]
    assert sorted(late) == sorted([(split, "retracted", True), (agreed, "label", False)])
    assert _verified(engine)[split].basis == "adjudication"  # neither counts: the round stays as it closed
    status = _status(r)
    assert (status.late_answers, status.in_adjudication, status.verified) == (2, 0, 3)
    assert rounds.adjudicate_round(r.ctx, r.round_id).rulings.labels_added == 0


@pytest.mark.parametrize("empty_db_url", ["sqlite"], indirect=True)
def test_an_import_whose_answer_was_lost_is_not_routed_again(pushed_round, annotators, ls, engine):
    r = pushed_round(n_pairs=2, overlap=2)
    alice, bob = annotators(2)
    disputed = r.pair_ids[0]
    alice.create_annotation(r.task_ids[disputed], answer_result("complementary"))
    bob.create_annotation(r.task_ids[disputed], answer_result("unsure"))
    wait_processed(engine, 2)
    project = ls.create_project("adjudication", None, overlap=1, adjudication=True)
    steps.remember(engine, r.round_id, adjudication_project=project)
    assert route(engine, ls, r.round_id, project, [disputed]).routed == [disputed]  # the status update "lost"

    report = rounds.adjudicate_round(r.ctx, r.round_id)
    assert (report.routed, report.already_routed) == (0, 1)
    assert [t.data[ADJUDICATED_PAIR] for t in ls.list_tasks(project)] == [disputed]
    with engine.connect() as conn:
        status = conn.scalar(select(RoundPair.status).where(RoundPair.pair_id == disputed))
    assert status == RoundPairStatus.ADJUDICATING


@pytest.mark.parametrize("empty_db_url", ["sqlite"], indirect=True)
def test_label_studio_unreachable_is_one_line_and_exit_1(cli, db_url, engine, monkeypatch):
    round_id, _pair_ids = seed_round(db_url, 1)
    with engine.begin() as conn:
        conn.execute(update(Round).where(Round.id == round_id).values(ls_project_id=1))
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_URL", dead)
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_TOKEN", "some-token")
    result = cli("round", "adjudicate", str(round_id), expect=1)
    assert result.stderr.startswith(f"error: cannot reach Label Studio at {dead}")
    assert "The round keeps its state" in result.stderr and "Traceback" not in result.stderr

    # Any other command that reaches Label Studio gets the same treatment from the common handler.
    app = typer.Typer(cls=ErrorMappingGroup)
    app.command("talk")(lambda: LabelStudio(dead, "some-token").whoami())
    app.command("quiet")(lambda: None)
    talked = CliRunner().invoke(app, ["talk"])
    assert talked.exit_code == 1
    assert talked.stderr.strip().startswith(f"error: cannot reach Label Studio at {dead}")
    assert len(talked.stderr.strip().splitlines()) == 1

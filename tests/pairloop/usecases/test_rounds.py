"""Acquisition rounds end to end: the real Label Studio, the real service, the embedded LLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.service import free_port, service_settings

from annotator.label_studio import LabelStudio, LabelStudioUnavailable
from pairloop.sample.annotators import SimulatedAnnotator, answer_round, truth_by_pair, wait_for_webhooks
from pairloop.sample.catalogue import write_sample
from pairloop.server import ServiceThread
from pairloop.usecases import round_steps as steps
from pairloop.usecases.context import Context
from pairloop.usecases.rounds import close_round, round_status, start_round, sync_round
from store import formats
from store.db import make_engine
from store.errors import Conflict
from store.importer import Importer
from store.models import Label, LlmProposal, RoundPair

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]

PEOPLE = (SimulatedAnnotator("r1@pairloop.test", 0.0, 0.0),
          SimulatedAnnotator("r2@pairloop.test", 0.0, 0.0))


@pytest.fixture
def llm_model_cache() -> Path:
    """Where the dequantised embedded model is kept between runs (as the LLM tests do)."""
    return Path(os.environ.get("PAIRLOOP_TEST_MODEL_CACHE", REPO / ".pairloop" / "test-models"))


@pytest.fixture
def loop(sqlite_url, tmp_path, studio_state, llm_model_cache):
    """A store holding the sample catalogue, wired to the session's Label Studio: (context, engine)."""
    sample = write_sample(tmp_path / "sample")
    settings = service_settings(sqlite_url, tmp_path / "data", label_studio_url=studio_state.url,
                                label_studio_token=studio_state.token, annotators_per_pair=2,
                                test_set=sample.test, llm_model_cache=llm_model_cache)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        importer = Importer(conn)
        importer.items(formats.read_items(sample.catalogue))
        importer.pairs(formats.read_pairs(sample.seed_labels))
        importer.pairs(formats.read_pairs(sample.pool))
    yield Context(settings, engine_given=engine), engine
    engine.dispose()


def count(engine, stmt) -> int:
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def test_a_round_from_selection_to_close(loop, studio_state):
    ctx, engine = loop
    with ServiceThread(ctx.settings):
        started = start_round(ctx, "margin", 6, seed=3, llm="local")
        round_id, project, status = started.round, started.label_studio_project, started.status
        assert status.state == "verifying" and status.pairs == 6
        assert started.proposals.pairs == 6
        # The embedded model is weak: the gate, calibrated on no human evidence yet, accepts nothing.
        assert started.proposals.auto_accepted == 0 and status.pending == 6
        admin = LabelStudio(studio_state.url, studio_state.token)
        tasks = list(admin.list_tasks(project))
        assert len(tasks) == 6 and {t.data["round_id"] for t in tasks} == {round_id}
        assert count(engine, select(func.count()).select_from(LlmProposal)) == 6

        truths = truth_by_pair(engine, seed=7)
        answered = answer_round(studio_state.url, project, PEOPLE, truths, seed=1)
        assert answered == {p.email: 6 for p in PEOPLE}
        assert wait_for_webhooks(engine, round_id, 12) == 12

    status = round_status(ctx, round_id)
    assert (status.verified, status.pending, status.without_majority) == (6, 0, 0)
    assert (status.disputed, status.in_adjudication, status.adjudicated) == (0, 0, 0)
    assert status.inter_annotator_alpha == 1.0  # two error-free annotators
    assert status.llm_vs_human.pairs > 0  # readable proposals compared with the verdicts
    sync = sync_round(ctx, round_id)
    assert sync.processing.labels_added == 0  # the webhook already delivered everything
    assert sync.adjudication.model_dump() == {"round": round_id, "adjudication_project": None, "rulings": None,
                                              "routed": 0, "already_routed": 0}  # nothing disputed: no project

    closed = close_round(ctx, round_id)
    assert closed.metrics.verified == 6 and 0.0 <= closed.metrics.classifier.test_macro_f1 <= 1.0
    assert closed.metrics.classifier.n_labels == 30 + 6
    with pytest.raises(Conflict, match="already closed"):
        close_round(ctx, round_id)


def test_label_studio_down_keeps_the_round_and_a_retry_pushes_each_pair_once(loop, studio_state):
    ctx, engine = loop
    dead = ctx.settings.model_copy(update={"label_studio_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(LabelStudioUnavailable, match="The round keeps its state"):
        start_round(Context(dead, engine_given=engine), "random", 5, seed=2, llm="none")
    with engine.connect() as conn:
        round_id = steps.unfinished_round(conn)
        assert steps.get_round(conn, round_id).ls_project_id is None
    assert count(engine, select(func.count()).select_from(RoundPair)
                 .where(RoundPair.ls_task_id.is_not(None))) == 0

    resumed = start_round(ctx, "random", 5, seed=2, llm="none")
    assert resumed.resumed and resumed.round == round_id
    again = start_round(ctx, "random", 5, seed=2, llm="none")  # a new round: the first is done
    assert again.round != round_id and not again.resumed
    admin = LabelStudio(studio_state.url, studio_state.token)
    assert len(list(admin.list_tasks(resumed.label_studio_project))) == 5
    assert count(engine, select(func.count()).select_from(Label).where(Label.source == "llm")) == 0

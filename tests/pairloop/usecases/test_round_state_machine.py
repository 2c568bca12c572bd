"""The round state machine on the real store (SQLite and PostgreSQL), where Label Studio is not
needed: selection, LLM proposals through the trust gate, status figures, closing, resuming and
the errors of each state. Label Studio itself is exercised by tests/labelstudio."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from support.service import free_port, seed_round

from annotator.label_studio import LabelStudioUnavailable
from annotator.llm import Proposal
from annotator.llm.base import PairText, ProposalStatus
from annotator.llm.cache import propose_cached
from pairloop.sample.annotators import truth_by_pair
from pairloop.sample.catalogue import write_sample
from pairloop.settings import Settings
from pairloop.usecases import round_steps as steps
from pairloop.usecases import rounds
from pairloop.usecases.context import Context
from store import formats
from store.errors import Conflict, NotFound
from store.importer import Importer
from store.models import Label, Round, RoundPair
from store.states import RoundPairStatus, RoundState
from store.taxonomy import LabelSource, Relation
from store.verified import verified_labels

SIZE = 6


class ScriptedLabeller:
    """A real :class:`annotator.llm.Labeller` that answers from the sample's truth table instead
    of a language model: agreed and confident, except on the ``disputed`` pairs."""

    model_name = "scripted"
    prompt_version = "truth-v1"

    def __init__(self, truths: dict[int, tuple[str, int]], disputed: set[int]):
        self.truths = truths
        self.disputed = disputed
        self.asked: list[int] = []

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]:
        answers = []
        for text in pairs:
            pair_id = int(text.key)
            self.asked.append(pair_id)
            relation, code = self.truths[pair_id]
            sure = pair_id not in self.disputed
            answers.append(Proposal(
                key=text.key, status=ProposalStatus.AGREED if sure else ProposalStatus.DISPUTED,
                relation=Relation(relation), fine_code=code, confidence=0.97 if sure else 0.5,
                rationale="from the truth table", model=self.model_name, prompt_version=self.prompt_version))
        return answers


@pytest.fixture
def ctx(db_url, engine, tmp_path) -> Context:
    """The sample catalogue in the store (30 verified seed labels, an unlabelled pool); a Label
    Studio that is not there; a trust gate that 30 right answers out of 30 can open."""
    sample = write_sample(tmp_path / "sample")
    with engine.begin() as conn:
        importer = Importer(conn)
        importer.items(formats.read_items(sample.catalogue))
        importer.pairs(formats.read_pairs(sample.seed_labels))
        importer.pairs(formats.read_pairs(sample.pool))
    settings = Settings(database_url=db_url, data_dir=tmp_path / "data", test_set=sample.test,
                        label_studio_url=f"http://127.0.0.1:{free_port()}", label_studio_token="no-server-here",
                        llm_target_precision=0.9)
    return Context(settings, engine_given=engine)


def _count(ctx: Context, stmt) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def _pair_statuses(ctx: Context, round_id: int) -> dict[int, str]:
    with ctx.engine.connect() as conn:
        return dict(conn.execute(select(RoundPair.pair_id, RoundPair.status)
                                 .where(RoundPair.round_id == round_id)).all())


def _state(ctx: Context, round_id: int) -> str:
    with ctx.engine.connect() as conn:
        return conn.execute(select(Round.state).where(Round.id == round_id)).scalar_one()


def test_selection_proposals_gate_status_and_close(ctx):
    round_id = steps.select_pairs(ctx, "random", SIZE, seed=3)
    assert _state(ctx, round_id) == RoundState.LABELLING
    selected = _pair_statuses(ctx, round_id)
    assert len(selected) == SIZE and set(selected.values()) == {RoundPairStatus.SELECTED}

    sure = set(sorted(selected)[::2])
    labeller = ScriptedLabeller(truth_by_pair(ctx.engine, seed=7), disputed=set(selected) - sure)
    with ctx.engine.connect() as conn:  # the LLM answered the seed pairs before: the gate's evidence
        seed_pairs = sorted(verified_labels(conn)[0])
    propose_cached(ctx.engine, labeller, seed_pairs)
    report = steps.propose(ctx, round_id, labeller)
    assert report.gate["threshold"] == 0.97 and report.pairs == SIZE
    assert report.auto_accepted == len(sure) and report.by_status["agreed"] == len(sure)
    assert _pair_statuses(ctx, round_id) == {
        p: RoundPairStatus.AUTO_ACCEPTED if p in sure else RoundPairStatus.PROPOSED for p in selected}
    llm_labels = select(func.count()).select_from(Label).where(Label.source == LabelSource.LLM.value,
                                                                 Label.round_id == round_id)
    assert _count(ctx, llm_labels) == SIZE

    again = steps.propose(ctx, round_id, labeller)  # nothing selected is left: nothing asked, nothing added
    assert again.pairs == 0 and _count(ctx, llm_labels) == SIZE
    assert sorted(labeller.asked) == sorted(seed_pairs + list(selected))

    status = rounds.round_status(ctx, round_id)
    assert (status.round, status.state, status.strategy, status.seed) == (round_id, RoundState.LABELLING, "random", 3)
    assert (status.pairs, status.verified, status.auto_accepted) == (SIZE, len(sure), len(sure))
    assert (status.pending, status.disputed_by_llm, status.disputed, status.in_adjudication) == (0, SIZE - len(sure),
                                                                                                 0, 0)
    assert status.label_studio_project is None and status.annotators == [] and status.llm_vs_human.pairs == 0
    assert status.metrics["selected"] == SIZE  # the selection's figures while the round is open

    with pytest.raises(Conflict, match=f"round {round_id} is labelling: finish it with `pairloop round start`"):
        rounds.close_round(ctx, round_id)
    steps.set_state(ctx.engine, round_id, RoundState.VERIFYING)  # what the push leaves (it needs Label Studio)
    closed = rounds.close_round(ctx)  # the newest round
    assert closed.round == round_id and _state(ctx, round_id) == RoundState.CLOSED
    assert closed.metrics.verified == len(sure) and closed.metrics.classifier.n_labels == 30 + len(sure)
    assert 0.0 <= closed.metrics.classifier.test_macro_f1 <= 1.0
    with ctx.engine.connect() as conn:
        recorded = conn.execute(select(Round.metrics).where(Round.id == round_id)).scalar_one()
    assert recorded == closed.metrics.model_dump(mode="json")
    assert set(recorded) == {"pairs", "verified", "auto_accepted", "pending", "partly_answered", "without_majority",
                             "disputed", "in_adjudication", "flagged_in_adjudication", "adjudicated", "unsure",
                             "inter_annotator_alpha", "llm_vs_human", "annotators", "classifier", "forced"}
    assert set(recorded["classifier"]) >= {"version", "retrained", "n_labels", "test_macro_f1"}
    assert recorded["forced"] is False and recorded["classifier"]["retrained"] is True
    assert rounds.round_status(ctx, round_id).metrics == recorded
    with pytest.raises(Conflict, match="already closed"):
        rounds.close_round(ctx, round_id)

    (listed,) = rounds.list_rounds(ctx)
    assert (listed.round, listed.id, listed.state, listed.metrics) == (round_id, round_id, RoundState.CLOSED, recorded)
    assert listed.closed_classifier_version == closed.metrics.classifier.version != listed.classifier_version


def test_a_start_that_cannot_reach_label_studio_keeps_the_round_and_resumes_it(ctx):
    with pytest.raises(LabelStudioUnavailable, match="The round keeps its state: run `pairloop round start` again"):
        rounds.start_round(ctx, "random", SIZE, seed=5, llm="none")
    with ctx.engine.connect() as conn:
        round_id = steps.unfinished_round(conn)
    assert round_id is not None and _state(ctx, round_id) == RoundState.LABELLING
    selected = _pair_statuses(ctx, round_id)
    assert len(selected) == SIZE and set(selected.values()) == {RoundPairStatus.SELECTED}

    with pytest.raises(LabelStudioUnavailable):  # still unreachable: the same round is taken up, nothing selected
        rounds.start_round(ctx, "margin", 10, llm="none")
    assert _count(ctx, select(func.count()).select_from(Round)) == 1
    assert _pair_statuses(ctx, round_id) == selected
    assert _count(ctx, select(func.count()).select_from(Label).where(Label.source == LabelSource.LLM.value)) == 0


def test_unknown_rounds_and_steps_the_state_does_not_allow(ctx):
    with pytest.raises(NotFound, match="no rounds yet: start one with `pairloop round start`"):
        rounds.round_status(ctx)
    with pytest.raises(NotFound, match="no round 99"):
        rounds.close_round(ctx, 99)
    assert rounds.list_rounds(ctx) == []

    round_id = steps.select_pairs(ctx, "random", SIZE, seed=1)
    for step in (rounds.sync_round, rounds.adjudicate_round):  # refused before Label Studio is asked
        with pytest.raises(Conflict, match=f"round {round_id} has nothing in Label Studio yet \\(state labelling\\)"):
            step(ctx, round_id)
    with pytest.raises(NotFound, match="no round 99"):
        rounds.sync_round(ctx, 99)


@pytest.mark.parametrize("empty_db_url", ["sqlite"], indirect=True)
def test_round_commands_report_as_before(cli, db_url):
    round_id, pair_ids = seed_round(db_url, 3)
    listed = cli("round", "list", "--json").stdout
    assert f'"round": {round_id}' in listed and f'"id": {round_id}' in listed
    status = cli("round", "status", "--json").stdout
    for key in ("round", "state", "strategy", "seed", "classifier_version", "closed_classifier_version",
                "label_studio_project", "adjudication_project", "pairs", "verified", "auto_accepted", "pending",
                "partly_answered", "unsure", "disputed_by_llm", "without_majority", "disputed", "in_adjudication",
                "adjudicated", "annotators", "inter_annotator_alpha", "llm_vs_human", "late_answers", "metrics"):
        assert f'"{key}": ' in status
    assert f"round {round_id} · verifying · test" in cli("round", "status", str(round_id)).stdout
    assert "no round 7" in cli("round", "close", "7", expect=2).stderr
    assert "has nothing in Label Studio yet" in cli("round", "sync", expect=2).stderr


def test_ids_seeds_and_strategies_beyond_what_the_store_keeps_are_user_errors(cli, db_url):
    """A 32-bit Integer column: a round id or seed past it is exit 2 with a message, on both
    databases (PostgreSQL used to raise a DataError traceback)."""
    seed_round(db_url, 3)
    for too_big in ("3000000000", str(2**63)):
        assert f"no round {too_big}" in cli("round", "status", too_big, expect=2).stderr
    assert "the seed must be a whole number" in cli("round", "start", "--seed", "3000000000", expect=2).stderr
    assert "unknown strategy 'nope'" in cli("round", "start", "--strategy", "nope", expect=2).stderr

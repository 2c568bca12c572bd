"""Pre-annotation that does not mislead: a round pre-selects the LLM's answers in Label Studio only
for a proposer that earned it on human labels, and otherwise shows them as a suggestion with
nothing pre-selected (the real Label Studio, a real round)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from support.service import service_settings

from annotator.agreement import Judged, agreement, store_report
from annotator.interface import PROPOSAL_HEADERS
from annotator.llm import Proposal, ProposalStatus
from annotator.llm.cache import store
from annotator.push import PRESELECT, SUGGEST, Measured, preannotation_policy
from pairloop.sample.catalogue import write_sample
from pairloop.usecases import round_steps as steps
from pairloop.usecases.context import Context
from pairloop.usecases.rounds import round_status
from store import formats
from store.db import make_engine
from store.importer import Importer
from store.models import Round
from store.taxonomy import RELATIONS, Relation
from store.verified import current_votes, decide

MODEL, PROMPT = "test-proposer", "test-prompt-v1"


def proposal(pair_id: int, relation: str, confidence: float = 0.61) -> Proposal:
    return Proposal(str(pair_id), ProposalStatus.AGREED, Relation(relation), None, confidence, "a reason",
                    MODEL, PROMPT)


def test_the_policy_needs_kappa_on_enough_pairs_and_a_beaten_majority():
    def decide_on(*measured: Measured):
        return preannotation_policy(MODEL, PROMPT, measured, min_kappa=0.6, min_pairs=100)

    assert decide_on().policy == SUGGEST and "no measured agreement" in decide_on().reason
    few = decide_on(Measured("report", 40, 0.95, 0.9, 0.5))
    assert few.policy == SUGGEST and "40 human-labelled pairs" in few.reason and "100 needed" in few.reason
    weak = decide_on(Measured("report", 300, 0.267, 0.0, 0.607))  # the embedded SmolLM2 on FBL2023
    assert weak.policy == SUGGEST and "kappa 0.000" in weak.reason and weak.kappa == 0.0
    below_majority = decide_on(Measured("report", 300, 0.80, 0.62, 0.90))
    assert below_majority.policy == SUGGEST and "majority relation (0.900)" in below_majority.reason
    good = decide_on(Measured("report", 150, 0.88, 0.75, 0.5))
    assert good.preselects and good.pairs == 150 and good.measured_on == "report"
    # The largest measurement decides, good or bad: an old small good one does not outvote it.
    assert decide_on(Measured("old", 120, 0.9, 0.8, 0.5), Measured("new", 400, 0.4, 0.1, 0.5)).policy == SUGGEST
    assert decide_on(Measured("old", 120, 0.4, 0.1, 0.5), Measured("new", 400, 0.9, 0.8, 0.5)).preselects
    assert preannotation_policy(None, None, [], 0.6, 100).policy == "none"


@pytest.fixture
def seeded(sqlite_url, tmp_path):
    """The sample catalogue with its 30 verified seed labels (10 per relation)."""
    sample = write_sample(tmp_path / "sample")
    settings = service_settings(sqlite_url, tmp_path / "data", annotators_per_pair=1,
                                llm_preselect_min_pairs=20, llm_preselect_min_kappa=0.6)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        importer = Importer(conn)
        importer.items(formats.read_items(sample.catalogue))
        importer.pairs(formats.read_pairs(sample.seed_labels))
        importer.pairs(formats.read_pairs(sample.pool))
    yield Context(settings, engine_given=engine)
    engine.dispose()


@pytest.fixture
def catalogue(seeded, studio_state):
    """The same, wired to the session's Label Studio."""
    settings = seeded.settings.model_copy(update={"label_studio_url": studio_state.url,
                                                  "label_studio_token": studio_state.token})
    return Context(settings, engine_given=seeded.engine)


def verified(ctx: Context) -> dict[int, str]:
    with ctx.engine.connect() as conn:
        votes = current_votes(conn)
    labels = {p: decide(p, v, ctx.settings.majority_rule, ctx.settings.min_agreeing) for p, v in votes.items()}
    return {p: label.relation.value for p, label in labels.items() if label is not None}


def pushed_round(ctx: Context, propose) -> tuple[int, list[dict]]:
    """A round selected by the real strategy, its pairs given proposals of the test proposer (as
    ``propose(pair id)`` says), pushed by the round's push step: (round id, its tasks as Label
    Studio holds them)."""
    round_id = steps.select_pairs(ctx, "margin", 4, seed=1)
    with ctx.engine.connect() as conn:
        pair_ids = steps.round_pair_ids(conn, round_id)
    with ctx.engine.begin() as conn:
        store(conn, [propose(p) for p in pair_ids])
    studio = ctx.studio()
    project = steps.push(ctx, round_id, studio, (MODEL, PROMPT))
    tasks = [studio.task(t.id) for t in studio.list_tasks(project, with_annotations=False)]
    assert len(tasks) == 4 and {t["data"]["round_id"] for t in tasks} == {round_id}
    return round_id, tasks


@pytest.mark.labelstudio
def test_a_proposer_that_has_not_earned_it_preselects_nothing_and_is_shown_as_a_suggestion(catalogue):
    ctx = catalogue
    # Human evidence: the proposer said "complementary" on every verified seed pair (kappa 0).
    with ctx.engine.begin() as conn:
        store(conn, [proposal(p, "complementary") for p in verified(ctx)])
    round_id, tasks = pushed_round(ctx, lambda p: proposal(p, "complementary", 0.61))
    for task in tasks:
        assert task["predictions"] == []  # nothing pre-selected
        assert task["data"]["llm_summary"].startswith("complementary, confidence 0.61")  # the suggestion, as text
    studio = ctx.studio()
    with ctx.engine.connect() as conn:
        project = steps.get_round(conn, round_id).ls_project_id
    config = studio._client.projects.get(id=project).label_config
    assert PROPOSAL_HEADERS["suggest"] in config and PROPOSAL_HEADERS["preselect"] not in config

    status = round_status(ctx, round_id)
    policy = status.preannotation
    assert policy.policy == SUGGEST and (policy.model, policy.prompt_version) == (MODEL, PROMPT)
    assert policy.measured_on == "the store's verified labels" and policy.pairs == 30 and policy.kappa == 0.0
    assert "kappa 0.000 on 30 human-labelled pairs" in policy.reason
    assert round_status(ctx, round_id).model_dump(mode="json")["preannotation"]["policy"] == "suggest"


@pytest.mark.labelstudio
def test_a_proposer_that_earned_it_is_preselected(catalogue):
    ctx = catalogue
    # Human evidence: the proposer agreed with the humans on every verified seed pair (kappa 1).
    with ctx.engine.begin() as conn:
        store(conn, [proposal(p, relation, 0.9) for p, relation in verified(ctx).items()])
    round_id, tasks = pushed_round(ctx, lambda p: proposal(p, "substitute", 0.83))
    for task in tasks:
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == f"{MODEL}@{PROMPT}" and prediction["score"] == pytest.approx(0.83)
        assert {r["from_name"]: r["value"]["choices"] for r in prediction["result"]} == {"relation": ["substitute"]}
    with ctx.engine.connect() as conn:
        round_ = steps.get_round(conn, round_id)
    assert ctx.studio().project(round_.ls_project_id)["model_version"] == f"{MODEL}@{PROMPT}"
    policy = round_status(ctx, round_id).preannotation
    assert policy.preselects and policy.kappa == 1.0 and policy.pairs == 30

    # The policy is the round's: decided once, recorded, kept when the push runs again, even
    # after new evidence (a larger report with kappa 0) would decide otherwise for the next round.
    judged = [Judged(proposal(i, "complementary"), RELATIONS[i % 3]) for i in range(60)]
    with ctx.engine.begin() as conn:
        store_report(conn, agreement(judged))
    assert steps.preannotation(ctx, MODEL, PROMPT).policy == SUGGEST
    steps.push(ctx, round_id, ctx.studio(), (MODEL, PROMPT))
    with ctx.engine.connect() as conn:
        params = conn.execute(select(Round.params).where(Round.id == round_id)).scalar_one()
    assert params["preannotation"]["policy"] == PRESELECT and round_status(ctx, round_id).preannotation.preselects


def test_an_agreement_report_larger_than_the_store_evidence_decides(seeded):
    ctx = seeded
    with ctx.engine.begin() as conn:
        store(conn, [proposal(p, relation, 0.9) for p, relation in verified(ctx).items()])  # kappa 1 on 30
    assert steps.preannotation(ctx, MODEL, PROMPT).preselects
    # A report on 60 file pairs where the proposer always answers one relation: kappa 0.
    judged = [Judged(proposal(i, "complementary"), RELATIONS[i % 3]) for i in range(60)]
    with ctx.engine.begin() as conn:
        report_id = store_report(conn, agreement(judged))
    policy = steps.preannotation(ctx, MODEL, PROMPT)
    assert policy.policy == SUGGEST and policy.measured_on == f"agreement report #{report_id}" and policy.pairs == 60

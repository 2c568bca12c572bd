"""Provisioning and bulk push against the real Label Studio: visible predictions, no duplicates."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select
from support.cut_proxy import CutProxy
from support.label_studio import MODEL_VERSION
from support.service import free_port, seed_round

from annotator.interface import COMMENT, FINE_CODE, RELATION
from annotator.label_studio import LabelStudio, LabelStudioUnavailable, Proposal
from annotator.push import push_round_pairs
from store.models import RoundPair
from store.taxonomy import FINE_CODES

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]


def _recorded(engine, round_id) -> dict[int, int | None]:
    with engine.connect() as conn:
        return dict(conn.execute(select(RoundPair.pair_id, RoundPair.ls_task_id)
                                 .where(RoundPair.round_id == round_id)).all())


def _pairs_in_project(ls: LabelStudio, project_id: int) -> Counter:
    return Counter(t.data["pair_id"] for t in ls.list_tasks(project_id, with_annotations=False))


def test_project_has_the_interface_overlap_and_model_version(ls):
    project_id = ls.create_project("provisioning", MODEL_VERSION, overlap=3)
    project = ls.project(project_id)
    assert (project["model_version"], project["maximum_annotations"]) == (MODEL_VERSION, 3)
    config = ls._client.projects.get(id=project_id).label_config
    for name in (RELATION, FINE_CODE, COMMENT, "item_1", "item_2", "$llm_summary", "unsure"):
        assert name in config
    assert all(description in config for description in FINE_CODES.values())


def test_bulk_push_in_chunks_with_visible_predictions(ls, db_url, engine):
    round_id, pairs = seed_round(db_url, 20)
    project_id = ls.create_project("push", MODEL_VERSION, overlap=1)
    proposals = {p: Proposal("substitute", 1, 0.91, "both are tents") for p in pairs[:15]}
    chunks: list[int] = []
    report = push_round_pairs(engine, ls, round_id, project_id, pairs, MODEL_VERSION, proposals,
                              chunk_size=7, advance=chunks.append)
    assert chunks == [0, 7, 7, 6] and report.pushed == 20
    assert _recorded(engine, round_id) == report.task_ids and len(set(report.task_ids.values())) == 20
    assert _pairs_in_project(ls, project_id) == Counter(pairs)
    with_proposal = ls.task(report.task_ids[pairs[0]])
    assert with_proposal["data"]["pair_id"] == pairs[0] and with_proposal["data"]["round_id"] == round_id
    data = with_proposal["data"]
    assert (data["item_1_title"], data["item_1_image"], data["item_2_image"]) == (
        "item 0", "http://127.0.0.1/img.png", "")
    assert "both are tents" in with_proposal["data"]["llm_summary"]
    (prediction,) = with_proposal["predictions"]
    # Annotators see a prediction only when its model_version is the project's.
    assert prediction["model_version"] == ls.project(project_id)["model_version"] == MODEL_VERSION
    assert prediction["score"] == pytest.approx(0.91)
    choices = {r["from_name"]: r["value"]["choices"] for r in prediction["result"]}
    assert choices == {RELATION: ["substitute"], FINE_CODE: ["1"]}
    assert ls.task(report.task_ids[pairs[-1]])["predictions"] == []
    again = push_round_pairs(engine, ls, round_id, project_id, pairs, MODEL_VERSION, proposals)
    assert (again.pushed, again.already, again.task_ids) == (0, 20, report.task_ids)
    assert ls.project(project_id)["task_number"] == 20


def test_unreachable_label_studio_fails_cleanly_with_nothing_pushed(db_url, engine):
    round_id, pairs = seed_round(db_url, 5)
    gone = LabelStudio(f"http://127.0.0.1:{free_port()}", "0" * 40)
    with pytest.raises(LabelStudioUnavailable, match="cannot reach Label Studio"):
        push_round_pairs(engine, gone, round_id, 1, pairs, MODEL_VERSION)
    assert set(_recorded(engine, round_id).values()) == {None}


def test_label_studio_going_away_mid_push_then_retry_pushes_nothing_twice(ls, studio_state, db_url, engine):
    round_id, pairs = seed_round(db_url, 25)
    project_id = ls.create_project("cut", MODEL_VERSION)
    proxy = CutProxy(studio_state.port)
    through_proxy = LabelStudio(proxy.url, studio_state.token)

    def cut_after_first_chunk(n: int) -> None:
        if n:
            proxy.cut()

    with pytest.raises(LabelStudioUnavailable):
        push_round_pairs(engine, through_proxy, round_id, project_id, pairs, MODEL_VERSION,
                         chunk_size=10, advance=cut_after_first_chunk)
    recorded = _recorded(engine, round_id)
    assert sum(t is not None for t in recorded.values()) == 10
    assert ls.project(project_id)["task_number"] == 10
    retry = push_round_pairs(engine, ls, round_id, project_id, pairs, MODEL_VERSION, chunk_size=10)
    assert (retry.already, retry.recovered, retry.pushed) == (10, 0, 15)
    assert _pairs_in_project(ls, project_id) == Counter(pairs)


def test_a_chunk_whose_answer_was_lost_is_recovered_not_pushed_again(ls, db_url, engine):
    """Label Studio imported a chunk but the answer never arrived: the retry lists the project."""
    round_id, pairs = seed_round(db_url, 12)
    project_id = ls.create_project("lost answer", MODEL_VERSION)
    with engine.connect() as conn:
        from annotator.push import pair_tasks

        lost = pair_tasks(conn, pairs[:5], round_id, {})
    ls.import_chunk(project_id, lost, MODEL_VERSION)  # task ids never recorded
    retry = push_round_pairs(engine, ls, round_id, project_id, pairs, MODEL_VERSION)
    assert (retry.already, retry.recovered, retry.pushed) == (0, 5, 7)
    assert _pairs_in_project(ls, project_id) == Counter(pairs)
    assert _recorded(engine, round_id) == retry.task_ids

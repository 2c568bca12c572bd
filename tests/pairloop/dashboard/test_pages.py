"""The dashboard's pages over HTTP on a store with every kind of content (the browser tests' rounds
run without an LLM and without agreement reports): what each page shows, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from support.dashboard import login
from support.seeded import agreement_report, answer, close, propose, set_pairs
from support.service import seed_round, service_settings

from pairloop.api.main import create_app
from store.models import Round
from store.repository import remember_names
from store.states import RoundPairStatus


@pytest.fixture
def store(db_url, engine, tmp_path):
    """Two closed rounds (the second with a held-out report), an open one with answers, proposals
    that the humans contradict and names for its annotators; an agreement report."""
    report = tmp_path / "metrics.json"
    report.write_text(json.dumps({"per_class": {"complementary": {"f1": 0.71}, "unrelated": {"f1": 0.93}}}))
    first, _ = seed_round(db_url, 2)
    second, _ = seed_round(db_url, 2)
    close(engine, first, {"pairs": 2, "verified": 2, "classifier": {"version": "c0002-a", "test_macro_f1": 0.61}})
    close(engine, second, {"pairs": 2, "verified": 2, "classifier": {
        "version": "c0003-b", "test_macro_f1": 0.66, "test_report": str(report)}})
    open_id, pairs = seed_round(db_url, 4)
    with engine.begin() as conn:
        conn.execute(Round.__table__.update().where(Round.id == open_id).values(ls_project_id=21))
        remember_names(conn, {"label-studio:1": "ada@example.org", "label-studio:2": "ben@example.org"})
    set_pairs(engine, open_id, RoundPairStatus.PUSHED, pairs)
    answer(engine, open_id, pairs[0], "complementary", "complementary")
    answer(engine, open_id, pairs[1], "unrelated", "unrelated")
    answer(engine, open_id, pairs[2], "substitute")
    propose(engine, pairs[0], "complementary")
    propose(engine, pairs[1], "substitute")
    agreement_report(engine, "qwen-7b", 0.74, 0.91)
    settings = service_settings(db_url, tmp_path / "data", label_studio_url="http://ls.example:8080",
                                label_studio_token="t")
    return settings, (first, second, open_id), pairs


@pytest.fixture
def client(store) -> Iterator[TestClient]:
    with TestClient(create_app(store[0]), follow_redirects=False) as client:
        login(client)
        yield client


def text(client: TestClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response.text


def test_the_rounds_page_lists_rounds_and_counts_open_ones_in_their_fragment(client, store):
    _, (first, second, open_id), _ = store
    page = text(client, "/")
    assert [int(r) for r in re.findall(r'<tr id="round-(\d+)"', page)] == [open_id, second, first]
    assert f'data-fragment="/dashboard/fragments/rounds/{open_id}" data-load' in page
    assert "counting…" in page and "as recorded when it closed" in page
    row = text(client, f"/dashboard/fragments/rounds/{open_id}")
    assert f'<tr id="round-{open_id}"' in row and "data-load" not in row
    counts = dict((name, int(n)) for n, name in re.findall(r"<span>(\d+)</span> ([a-z -]+)</li>", row))
    assert (counts["verified"], counts["partly answered"], counts["pending"]) == (2, 1, 1)
    assert 'href="http://ls.example:8080/projects/21/data"' in row
    for action in ("sync", "adjudicate", "close"):
        assert f'action="/dashboard/rounds/{open_id}/{action}"' in row


def test_the_learning_curve_draws_a_point_per_closed_round_with_per_class_lines(client, store):
    _, (first, second, _), _ = store
    page = text(client, "/dashboard/curve")
    assert re.findall(r'class="point main" data-round="(\d+)" data-labels="(\d+)"', page) == \
        [(str(first), "2"), (str(second), "4")]
    assert 'data-series="complementary"' in page and 'data-series="unrelated"' in page
    assert f"<title>round {second} · 4 labels acquired · classifier c0003-b · macro-F1 0.660</title>" in page


def test_annotators_show_their_names_accuracy_and_confusion(client, store):
    _, (_, _, open_id), _ = store
    page = text(client, f"/dashboard/annotators?round={open_id}")
    assert "ada@example.org" in page and "ben@example.org" in page  # their cached e-mails
    assert page.count('<table class="confusion">') == 2
    assert "100.0 %" in page  # ada agreed with every verified label


def test_the_llm_pages_show_agreement_reports_and_the_disagreements_with_both_items(client, store):
    _, (_, _, open_id), pairs = store
    llm = text(client, "/dashboard/llm")
    assert "qwen-7b" in llm and "0.910" in llm and "74.0 %" in llm
    page = text(client, f"/dashboard/llm/disagreements?round={open_id}")
    assert page.count('class="card disagreement"') == 1 and f'data-pair="{pairs[1]}"' in page
    assert "because substitute" in page and "majority of 2" in page
    assert "item 2" in page and "item 3" in page  # both items' titles of the pair


def test_the_queue_shows_pairs_short_of_answers(client, store):
    _, (_, _, open_id), pairs = store
    page = text(client, "/dashboard/queue")
    assert re.findall(r'data-pair="(\d+)"', page) == [str(pairs[2]), str(pairs[3])]
    assert "1 / 3" in page and "0 / 3" in page


def test_pages_of_an_empty_part_say_so(client):
    assert "No snapshot yet" in text(client, "/dashboard/snapshots")
    assert client.get("/dashboard/snapshots/v0001").status_code == 404
    assert client.get("/dashboard/snapshots/diff?old=v0001&new=v0002").status_code == 404

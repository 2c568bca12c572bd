"""The labelling interface against the real Label Studio: it accepts both variants, its data
manager shows plain columns, and in the real page the keys annotators read are the keys that work."""

from __future__ import annotations

import os
import re
import time
from dataclasses import replace

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from support.label_studio import MODEL_VERSION
from support.service import seed_round

from annotator.annotations import read_answer
from annotator.interface import FINE_CODE, RELATION, RELATION_KEYS, UNSURE, UNSURE_KEY, ItemView
from annotator.label_studio import PairTask
from annotator.push import pair_tasks, push_round_pairs
from store.taxonomy import FINE_CODES, Verdict

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!]")
CHROMIUM = os.environ.get("PAIRLOOP_CHROMIUM", "/usr/bin/chromium")  # Playwright downloads no browser


def _data_columns(studio_state, project_id: int) -> list[str]:
    """The task-data columns Label Studio's data manager offers for the project."""
    response = httpx.get(f"{studio_state.url}/api/dm/columns", params={"project": project_id},
                         headers={"Authorization": f"Token {studio_state.token}"}, timeout=30)
    response.raise_for_status()
    return [c["id"] for c in response.json()["columns"] if c.get("parent") == "data"]


def test_the_data_manager_shows_plain_columns_for_both_interfaces(ls, studio_state, db_url, engine):
    round_id, pairs = seed_round(db_url, 3)
    project_id = ls.create_project("plain columns", MODEL_VERSION)  # Label Studio validates the XML here
    push_round_pairs(engine, ls, round_id, project_id, pairs, MODEL_VERSION)
    with engine.connect() as conn:
        disputed = [replace(t, answers="a@x: substitute; b@x: unrelated") for t in pair_tasks(conn, pairs, None, {})]
    adjudication_id = ls.create_project("plain columns, adjudication", None, adjudication=True)
    ls.import_chunk(adjudication_id, disputed, None)
    for project in (project_id, adjudication_id):
        columns = _data_columns(studio_state, project)
        assert {"item_1_title", "item_1_category", "item_2_title", "item_2_description"} <= set(columns)
        tasks = list(ls.list_tasks(project, with_annotations=False))
        assert len(tasks) == 3
        shown = {(c, str(t.data.get(c))) for t in tasks for c in columns}
        assert {(c, v) for c, v in shown if MARKUP.search(v)} == set()
        assert {t.data["item_1_title"] for t in tasks} == {"item 0", "item 2", "item 4"}
        assert {t.data["item_1_category"] for t in tasks} == {"Outdoors > Camping"}


@pytest.fixture
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no chromium at {CHROMIUM}: the browser check of the interface is skipped")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def _annotations(ls, project_id: int, timeout_s: float = 30.0) -> list[dict]:
    """The project's annotations, once the page's submission has landed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        annotations = [a for task in ls.list_tasks(project_id) for a in task.annotations]
        if annotations:
            return annotations
        time.sleep(0.5)
    raise AssertionError(f"no annotation in project {project_id} after {timeout_s} s")


def test_an_annotator_answers_with_the_keys_the_page_shows(ls, studio_state, browser):
    """The trap, in the real page: "s" then "1" gave *complementary* and no fine code; now they
    give substitute, fine code 1."""
    project_id = ls.create_project("keys", MODEL_VERSION)
    pair = PairTask(1, ItemView("item 0", "Outdoors > Camping", "description of item 0", "http://127.0.0.1/img.png"),
                    ItemView("item 1", "Outdoors > Camping"))
    (task_id,) = ls.import_chunk(project_id, [pair], MODEL_VERSION).values()
    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{ls.url}/user/login/")
    page.fill("input[name=email]", studio_state.username)
    page.fill("input[name=password]", studio_state.password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/user/login" not in url)

    page.goto(f"{ls.url}/projects/{project_id}/data")
    page.get_by_text("Outdoors > Camping").first.wait_for()
    grid = page.inner_text("body")
    assert "item 0" in grid and not MARKUP.search(grid)

    page.goto(f"{ls.url}/projects/{project_id}/data?task={task_id}")
    body = page.locator("body")
    for name, key in (*RELATION_KEYS.items(), (UNSURE, UNSURE_KEY)):  # "[key]" beside each choice
        expect(body).to_contain_text(re.compile(rf"{name}\s*\[{key}\]"))
    for code in FINE_CODES:
        expect(body).to_contain_text(re.compile(rf"{code} · [^\n\[]*\[{code}\]"))
    labelling = body.inner_text()
    assert "item 0" in labelling and "description of item 0" in labelling and not MARKUP.search(labelling)

    page.get_by_text("How is item 1 related to item 2?").click()  # focus the page, not a text box
    page.keyboard.press(RELATION_KEYS["substitute"])
    page.keyboard.press("1")
    page.get_by_role("button", name="Submit").click()
    (annotation,) = _annotations(ls, project_id)
    chosen = {r["from_name"]: r["value"]["choices"] for r in annotation["result"]}
    assert chosen == {RELATION: ["substitute"], FINE_CODE: ["1"]}
    answer = read_answer(annotation["result"])
    assert (answer.verdict, answer.relation, answer.fine_code) == (Verdict.LABEL, "substitute", 1)

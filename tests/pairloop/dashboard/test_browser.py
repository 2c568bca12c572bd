"""The dashboard in a real browser (Debian's headless Chromium) against a real ``pairloop serve``
on a store that went through real rounds in the real Label Studio.

Playwright drives the browser rather than Selenium: one pip package, no chromedriver to match to
the browser's version, and console messages, page errors and failed requests arrive as events,
which is what "no console errors" needs. It downloads no browser: ``executable_path`` is the
system's Chromium.

Each page is screenshot into a temporary folder, or into ``$PAIRLOOP_SCREENSHOTS`` when set
(the PNGs in docs/images are made that way, see docs/dashboard.md).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from support.service import API_TOKEN, WEBHOOK_SECRET, free_port

import migrations
from benchmarks._serve import start_serve
from pairloop.sample.annotators import (
    DEFAULT_ADJUDICATOR,
    SimulatedAnnotator,
    answer_round,
    truth_by_pair,
    wait_for_webhooks,
)
from pairloop.sample.catalogue import SampleFiles, write_sample
from pairloop.settings import Settings
from pairloop.usecases import graph, rounds
from pairloop.usecases.context import Context
from pairloop.usecases.curve import STOPPING_WINDOW, learning_curve
from pairloop.usecases.imports import import_items, import_labels
from store.db import make_engine
from store.models import Round
from store.states import RoundState

pytestmark = [pytest.mark.browser, pytest.mark.labelstudio, pytest.mark.slow]
JOB_TIMEOUT_MS = 240_000
CHROMIUM = Path(os.environ.get("PAIRLOOP_CHROMIUM", "/usr/bin/chromium"))
PEOPLE = (SimulatedAnnotator("ada@pairloop.test", 0.05, 0.0), SimulatedAnnotator("ben@pairloop.test", 0.15, 0.05))
ROUND_SIZE = 8
SEED = 7


@dataclass
class Served:
    """A store with rounds played, served by ``pairloop serve``; its settings are the service's."""

    url: str
    settings: Settings
    engine: Engine
    sample: SampleFiles
    truths: dict[int, tuple[str, int]]
    process: subprocess.Popen
    closed_rounds: list[int] = field(default_factory=list)
    open_round: int | None = None

    def context(self) -> Context:
        return Context(self.settings, engine_given=self.engine)


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAIRLOOP_")}
    values = settings.model_dump(exclude_none=True, include={
        "database_url", "data_dir", "service_port", "api_token", "webhook_secret", "label_studio_url",
        "label_studio_token", "annotators_per_pair", "test_set"})
    env.update({f"PAIRLOOP_{name.upper()}": str(value) for name, value in values.items()})
    return env


def serve(settings: Settings) -> subprocess.Popen:
    """``pairloop serve`` on the settings' port, answering /health."""
    return start_serve(_environment(settings), settings.service_port, timeout_s=90)


def wait_for_answers(engine: Engine, round_id: int, expected: int) -> None:
    stored = wait_for_webhooks(engine, round_id, expected)
    assert stored >= expected, f"the webhook stored {stored} of {expected} answers of round {round_id}"


def play_round(served: Served, seed: int) -> int:
    """Start a round (no LLM), let the annotators answer, sync, let the adjudicator decide, sync,
    close: as `make demo` plays one."""
    ctx = served.context()
    started = rounds.start_round(ctx, "margin", ROUND_SIZE, seed, "none")
    answered = answer_round(served.settings.label_studio_url, started.label_studio_project, PEOPLE,
                            served.truths, seed)
    wait_for_answers(served.engine, started.round, sum(answered.values()))
    routed = rounds.sync_round(ctx, started.round).adjudication
    if routed.adjudication_project is not None:
        answer_round(served.settings.label_studio_url, routed.adjudication_project, (DEFAULT_ADJUDICATOR,),
                     served.truths, seed)
        rounds.sync_round(ctx, started.round)
    rounds.close_round(ctx, started.round, force=True)
    return started.round


@pytest.fixture(scope="module")
def served(tmp_path_factory, studio_state) -> Iterator[Served]:
    """Closed rounds (as many as the stopping hint needs to say something) and one more waiting for
    its second annotator; a graph snapshot before and after the rounds; all served by
    ``pairloop serve`` (Label Studio's webhooks go to it)."""
    root = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{root / 'pairloop.db'}"
    migrations.upgrade(url)
    sample = write_sample(root / "sample", seed=SEED)
    settings = Settings(database_url=url, data_dir=root / "data", service_port=free_port(), api_token=API_TOKEN,
                        webhook_secret=WEBHOOK_SECRET, label_studio_url=studio_state.url,
                        label_studio_token=studio_state.token, annotators_per_pair=len(PEOPLE), test_set=sample.test)
    engine = make_engine(url)
    process = serve(settings)
    try:
        ctx = Context(settings, engine_given=engine)
        import_items(ctx, sample.catalogue)
        import_labels(ctx, sample.seed_labels)
        import_labels(ctx, sample.pool)
        graph.extract_entities(ctx)
        graph.take_snapshot(ctx)
        result = Served(f"http://127.0.0.1:{settings.service_port}", settings, engine, sample,
                        truth_by_pair(engine, SEED), process)
        result.closed_rounds = [play_round(result, SEED + n) for n in range(1, STOPPING_WINDOW + 2)]
        graph.take_snapshot(ctx)
        started = rounds.start_round(ctx, "entropy", ROUND_SIZE, SEED + STOPPING_WINDOW + 2, "none")
        answered = answer_round(studio_state.url, started.label_studio_project, PEOPLE[:1], result.truths, SEED)
        wait_for_answers(engine, started.round, sum(answered.values()))
        result.open_round = started.round
        yield result
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        engine.dispose()


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium from the system (Debian's package), never a downloaded one."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`.ci/run` does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@dataclass
class Watched:
    """A browser page whose console errors, uncaught exceptions and failed requests are kept."""

    page: object
    problems: list[str] = field(default_factory=list)


@pytest.fixture
def browser_page(chromium) -> Iterator[Watched]:
    context = chromium.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    watched = Watched(page)
    page.on("console", lambda m: watched.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: watched.problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: watched.problems.append(f"request failed: {r.url} {r.failure}"))
    yield watched
    context.close()


def log_in(watched: Watched, url: str, path: str = "/") -> None:
    """Open ``path``, which leads to the login form; log in with the API token; land on ``path``."""
    page = watched.page
    page.goto(url + path)
    page.fill("#token", API_TOKEN)
    page.click("form[action='/dashboard/login'] button[type=submit]")
    page.wait_for_url(url + path)
    settle(watched)


def settle(watched: Watched) -> None:
    """Wait until the page's fragments are in (leaving earlier would abort their requests)."""
    watched.page.wait_for_function("() => !document.querySelector('[data-load]')")
    watched.page.wait_for_load_state("networkidle")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("PAIRLOOP_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pages(served: Served) -> list[tuple[str, str]]:
    closed = served.closed_rounds[-1]
    return [("rounds", "/"), ("curve", "/dashboard/curve"), ("annotators", f"/dashboard/annotators?round={closed}"),
            ("llm", "/dashboard/llm"), ("disagreements", f"/dashboard/llm/disagreements?round={closed}"),
            ("queue", "/dashboard/queue"), ("snapshots", "/dashboard/snapshots"),
            ("snapshot", "/dashboard/snapshots/v0001"), ("diff", "/dashboard/snapshots/diff?old=v0001&new=v0002")]


def test_every_page_renders_without_console_errors(served, browser_page: Watched, shots):
    page = browser_page.page
    log_in(browser_page, served.url)
    for name, path in pages(served):
        response = page.goto(served.url + path)
        settle(browser_page)
        assert response.status == 200, (path, response.status)
        assert page.locator("main h1").count() == 1, path
        page.screenshot(path=str(shots / f"dashboard-{name}.png"), full_page=True)
    assert browser_page.problems == []

    page.goto(served.url + "/")
    settle(browser_page)
    rows = page.locator("table.rounds tbody tr")
    shown = {int(rows.nth(i).get_attribute("data-round")): rows.nth(i).get_attribute("data-state")
             for i in range(rows.count())}
    assert shown == {**dict.fromkeys(served.closed_rounds, "closed"), served.open_round: "verifying"}
    page.goto(served.url + "/dashboard/queue")  # the open round's pairs wait for their second annotator
    assert page.locator("table.queue tbody tr").count() > 0
    assert page.locator("table.queue tbody tr").first.locator("td").nth(5).inner_text() == f"1 / {len(PEOPLE)}"
    page.goto(served.url + "/dashboard/snapshots/v0002")
    assert page.locator("table.files a[download]").count() >= 2


def test_the_learning_curve_shows_the_stores_points_with_their_round_on_hover(served, browser_page: Watched):
    curve = learning_curve(served.context())
    assert len(curve.points) == len(served.closed_rounds) and all(p.macro_f1 is not None for p in curve.points)
    page = browser_page.page
    log_in(browser_page, served.url, "/dashboard/curve")
    points = page.locator("svg#learning-curve circle.point.main")
    assert points.count() == len(curve.points)
    for point in curve.points:
        marker = page.locator(f"svg#learning-curve circle.point.main[data-round='{point.round}']")
        assert marker.get_attribute("data-labels") == str(point.labels)
        tip = marker.locator("title").text_content()
        assert f"round {point.round}" in tip and f"{point.labels:,} labels" in tip and point.classifier in tip
        marker.hover()
    data = page.evaluate("fetch('/dashboard/data/curve').then(r => r.json())")
    assert [(p["round"], p["labels"]) for p in data["points"]] == [(p.round, p.labels) for p in curve.points]
    page.wait_for_selector("#stopping .hint")  # the stopping hint, loaded after the page
    hint = page.locator("#stopping").inner_text()
    assert "KappaAverage" in hint and hint.count("κ") == STOPPING_WINDOW  # one kappa per successive pair
    assert browser_page.problems == []


def test_without_logging_in_there_is_the_login_page_and_no_data(served, browser_page: Watched):
    page = browser_page.page
    page.goto(served.url + "/dashboard/annotators")
    assert page.url.startswith(served.url + "/dashboard/login?next=")
    assert page.locator("table").count() == 0 and "margin" not in page.content()
    assert page.request.get(served.url + "/dashboard/data/curve").status == 401
    page.fill("#token", "a wrong token")
    page.click("form[action='/dashboard/login'] button[type=submit]")
    assert "That is not the service" in page.locator(".message.error").inner_text()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert "pairloop_session" not in cookies
    log_in(browser_page, served.url)
    session = {c["name"]: c for c in page.context.cookies()}["pairloop_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and API_TOKEN not in session["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it


def _run_action(watched: Watched, served: Served, form: str, force: bool = False) -> str:
    """Submit ``form`` (a selector), confirm, wait for the background job; its fragment's text."""
    page = watched.page
    page.click(f"{form} button[type=submit]")
    assert page.locator("section.confirm").count() == 1  # nothing happens before the confirmation
    if force:
        page.check("input[name=force]")
    page.click("section.confirm button.primary")
    page.wait_for_url(re.compile(r".*/dashboard/jobs/.+"))
    page.wait_for_selector(".job.done, .job.failed", timeout=JOB_TIMEOUT_MS)
    text = page.locator(".job").inner_text()
    assert page.locator(".job.done").count() == 1, text
    return text


def test_a_round_is_started_synced_and_closed_from_the_page(served, browser_page: Watched):
    page = browser_page.page
    log_in(browser_page, served.url)
    page.select_option("form.start select[name=strategy]", "margin")
    page.fill("form.start input[name=size]", "6")
    page.select_option("form.start select[name=llm]", "none")
    done = _run_action(browser_page, served, "form.start")
    round_id = int(re.search(r"round (\d+)", done.split("Done", 1)[1]).group(1))
    with served.engine.connect() as conn:
        row = conn.execute(select(Round.state, Round.ls_project_id).where(Round.id == round_id)).one()
    assert row.state == RoundState.VERIFYING and row.ls_project_id is not None

    answered = answer_round(served.settings.label_studio_url, row.ls_project_id, PEOPLE, served.truths, 11)
    wait_for_answers(served.engine, round_id, sum(answered.values()))
    page.goto(served.url + "/")
    settle(browser_page)
    _run_action(browser_page, served, f"#round-{round_id} form[action$='/sync']")
    with served.engine.connect() as conn:
        assert conn.execute(select(Round.last_synced_at).where(Round.id == round_id)).scalar_one() is not None

    page.goto(served.url + "/")
    settle(browser_page)
    _run_action(browser_page, served, f"#round-{round_id} form[action$='/close']", force=True)
    with served.engine.connect() as conn:
        state, metrics = conn.execute(select(Round.state, Round.metrics).where(Round.id == round_id)).one()
    assert state == RoundState.CLOSED and metrics["classifier"]["test_macro_f1"] is not None
    page.goto(served.url + "/")
    settle(browser_page)
    assert page.locator(f"#round-{round_id}").get_attribute("data-state") == "closed"
    page.goto(served.url + "/dashboard/curve")
    settle(browser_page)
    assert page.locator(f"svg#learning-curve circle.point.main[data-round='{round_id}']").count() == 1
    assert browser_page.problems == []

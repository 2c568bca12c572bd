"""The dashboard's login, session cookie and CSRF protection, over HTTP against the app.

Every route of the dashboard is enumerated from its router, so a new page, fragment or action
is covered without being named here. (The browser tests check the same login in Chromium.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from support.dashboard import csrf_token, login
from support.service import API_TOKEN, free_port, seed_round, service_settings

from pairloop.api.dashboard.auth import CSRF_FIELD, SESSION_COOKIE
from pairloop.api.dashboard.routes import router
from pairloop.api.main import create_app
from store.models import Round

SECRET_STRATEGY = "strategy-only-a-session-may-see"
PATH_VALUES = {"round_id": "1", "action": "close", "job_id": "nojob", "version": "v0001", "name": "nodes.parquet"}


def _path(template: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: PATH_VALUES[m.group(1)], template)


GETS = sorted(_path(r.path) for r in router.routes if "GET" in r.methods and r.path != "/dashboard/login")
POSTS = sorted(_path(r.path) for r in router.routes if "POST" in r.methods and r.path != "/dashboard/login")
DATA = ("/dashboard/data/", "/dashboard/fragments/")


@pytest.fixture
def store(sqlite_url, tmp_path):
    """A store with one round (its strategy a word only a logged-in page shows), and its settings;
    Label Studio is configured on a port nothing listens on."""
    round_id, _ = seed_round(sqlite_url, 3)
    from store.db import make_engine

    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(Round.__table__.update().values(strategy=SECRET_STRATEGY, ls_project_id=7))
    settings = service_settings(sqlite_url, tmp_path / "data", label_studio_url=f"http://127.0.0.1:{free_port()}",
                                label_studio_token="nobody-listens")
    yield settings, engine, round_id
    engine.dispose()


@pytest.fixture
def client(store) -> Iterator[TestClient]:
    with TestClient(create_app(store[0]), follow_redirects=False) as client:
        yield client


def csrf_of(client: TestClient) -> str:
    return csrf_token(client.get("/").text)


def test_the_routes_enumerated_are_the_dashboards():
    assert "/" in GETS and "/dashboard/data/curve" in GETS and "/dashboard/rounds/1/close" in POSTS


@pytest.mark.parametrize("cookie", [None, "not-a-session"])
def test_without_a_session_pages_go_to_the_login_and_data_answers_401_all_without_data(client, cookie):
    if cookie:
        client.cookies.set(SESSION_COOKIE, cookie)
    for path in GETS:
        response = client.get(path, headers={"Authorization": f"Bearer {API_TOKEN}"})  # the API's token is no login
        assert SECRET_STRATEGY not in response.text, path
        if path.startswith(DATA):
            assert response.status_code == 401, path
        else:
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/dashboard/login?next=/"), path
    login_page = client.get(client.get("/dashboard/curve").headers["location"])
    assert login_page.status_code == 200 and 'name="token"' in login_page.text
    assert SECRET_STRATEGY not in login_page.text


def test_login_sets_an_httponly_strict_cookie_holding_no_token_and_shows_the_rounds(client):
    response = login(client)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = SimpleCookie(next(v for v in response.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE)))
    morsel = cookie[SESSION_COOKIE]
    assert morsel["httponly"] and morsel["samesite"].lower() == "strict" and morsel["path"] == "/"
    assert API_TOKEN not in morsel.value and len(morsel.value) >= 40
    page = client.get("/")
    assert page.status_code == 200 and SECRET_STRATEGY in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_wrong_token_is_refused_and_opens_no_session(client):
    response = login(client, token="not-the-token")
    assert response.status_code == 401 and "That is not the service" in response.text
    assert not any(v.startswith(SESSION_COOKIE) for v in response.headers.get_list("set-cookie"))
    assert client.get("/").status_code == 303


def test_the_login_form_needs_its_own_csrf_token(client):
    response = client.post("/dashboard/login", data={"token": API_TOKEN, CSRF_FIELD: "guessed"})
    assert response.status_code == 403
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("next_path, lands", [("/dashboard/queue?offset=0", "/dashboard/queue?offset=0"),
                                              ("//evil.example/", "/"), ("https://evil.example/", "/")])
def test_login_returns_to_the_page_asked_for_on_this_server_only(client, next_path, lands):
    assert login(client, next_path=next_path).headers["location"] == lands


def test_actions_without_the_sessions_csrf_token_are_refused_and_change_nothing(client, store):
    _settings, engine, round_id = store
    login(client)
    with engine.connect() as conn:
        before = conn.execute(select(Round.state, Round.metrics)).all()
    other = TestClient(client.app, follow_redirects=False)  # another session's token is no good either
    login(other)
    stolen = csrf_of(other)
    for path in POSTS:
        for form in ({"confirm": "yes"}, {CSRF_FIELD: "", "confirm": "yes"}, {CSRF_FIELD: stolen, "confirm": "yes"}):
            response = client.post(path, data={**form, "strategy": "margin", "size": "5", "llm": "none"})
            assert response.status_code == 403, (path, form)
    assert client.get("/").status_code == 200  # logout was refused too
    with engine.connect() as conn:
        assert conn.execute(select(Round.state, Round.metrics)).all() == before
        assert conn.scalar(select(func.count()).select_from(Round)) == 1
    assert client.app.state.jobs.recent() == []


def test_an_action_without_a_session_is_refused(client):
    for path in POSTS:
        assert client.post(path, data={CSRF_FIELD: "x", "confirm": "yes"}).status_code == 401, path


def test_logout_ends_the_session_on_the_server(client):
    login(client)
    cookie = client.cookies[SESSION_COOKIE]
    assert client.post("/dashboard/logout", data={CSRF_FIELD: csrf_of(client)}).status_code == 303
    client.cookies.set(SESSION_COOKIE, cookie)  # replaying the old cookie
    assert client.get("/").status_code == 303
    assert client.get("/dashboard/data/curve").status_code == 401


def test_an_action_asks_for_confirmation_then_runs_in_the_background_and_says_label_studio_is_unreachable(
        client, store):
    _settings, engine, round_id = store
    login(client)
    csrf = csrf_of(client)
    confirm = client.post(f"/dashboard/rounds/{round_id}/sync", data={CSRF_FIELD: csrf})
    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in confirm.text
    assert client.app.state.jobs.recent() == []  # nothing ran before the confirmation
    started = client.post(f"/dashboard/rounds/{round_id}/sync", data={CSRF_FIELD: csrf, "confirm": "yes"})
    assert started.status_code == 303 and started.headers["location"].startswith("/dashboard/jobs/")
    fragment = started.headers["location"].replace("/dashboard/jobs/", "/dashboard/fragments/jobs/")
    deadline = time.monotonic() + 30
    while 'data-poll="1000"' in (text := client.get(fragment).text) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert 'class="job failed"' in text and "Unreachable" in text and "Label Studio" in text
    with engine.connect() as conn:
        assert conn.scalar(select(Round.state)) == "verifying"  # the round kept its state


def test_only_a_close_can_be_forced(client, store):
    """A ``force`` field sent with another action (the form shows the box for close only) runs
    that action, never a forced close."""
    _settings, engine, round_id = store
    login(client)
    csrf = csrf_of(client)
    started = client.post(f"/dashboard/rounds/{round_id}/sync", data={CSRF_FIELD: csrf, "confirm": "yes",
                                                                      "force": "yes"})
    assert started.status_code == 303
    job = client.app.state.jobs.recent()[0]
    deadline = time.monotonic() + 30
    while job.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.title == f"sync round {round_id}" and job.unreachable  # Label Studio is not there
    with engine.connect() as conn:
        assert conn.scalar(select(Round.state)) == "verifying"


def test_a_use_case_error_is_a_page_with_its_message_and_status(client):
    login(client)
    response = client.get("/dashboard/annotators?round=999")
    assert response.status_code == 404 and "no round 999" in response.text and "<html" in response.text
    bad = client.post("/dashboard/rounds/start", data={CSRF_FIELD: csrf_of(client), "strategy": "nonsense"})
    assert bad.status_code == 422 and "unknown strategy" in bad.text


def test_static_files_need_no_login_and_pages_load_nothing_from_elsewhere(client):
    assert client.get("/dashboard/static/dashboard.js").status_code == 200
    assert client.get("/dashboard/static/dashboard.css").status_code == 200
    login(client)
    for path in GETS:
        if path.startswith(DATA) or "{" in path:
            continue
        page = client.get(path).text
        sources = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', page)
        assert all(s.startswith("/dashboard/static/") or s.startswith("data:") for s in sources), (path, sources)
        assert "<script>" not in page and "style=" not in page, path

"""`pairloop studio up|status` against the session's real Label Studio, and either kind of token."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotator.label_studio import (
    LabelStudio,
    LabelStudioError,
    LabelStudioUnavailable,
    token_kind,
    user_token,
)
from pairloop import studio
from pairloop.cli import app
from pairloop.settings import get_settings

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]


@pytest.fixture
def run(studio_settings, monkeypatch):
    """Run ``pairloop`` with the environment pointing at the session's Label Studio."""
    for name in ("LABEL_STUDIO_URL", "LABEL_STUDIO_TOKEN"):
        monkeypatch.delenv(f"PAIRLOOP_{name}", raising=False)
    monkeypatch.setenv("PAIRLOOP_DATA_DIR", str(studio_settings.data_dir))
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_HOME", str(studio_settings.label_studio_home))
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_PORT", str(studio_settings.label_studio_port))

    def invoke(*args: str, expect: int = 0):
        get_settings.cache_clear()
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == expect, (result.stdout, result.stderr, result.exception)
        return result

    yield invoke
    get_settings.cache_clear()


def test_up_reuses_the_running_server_and_status_reports_it(run, studio_state):
    again = json.loads(run("studio", "up", "--json").stdout)
    assert again["pid"] == studio_state.pid and again["url"] == studio_state.url
    assert again["token"] == studio_state.token and again["username"] == studio_state.username
    status = json.loads(run("studio", "status", "--json").stdout)
    assert status["running"] and status["installed"] and status["local"]
    assert status["token_kind"] == "legacy" and status["user"]["email"] == studio_state.username
    shown = run("studio", "status").stdout
    assert studio_state.url in shown and "legacy token" in shown


def _listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, local_port = local.split(":")
        if state == "0A" and int(local_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_the_server_listens_on_loopback_only(studio_state):
    assert _listening_addresses(studio_state.port) == {"127.0.0.1"}


def test_existing_server_with_a_personal_access_token(run, studio_state, monkeypatch):
    email = f"engineer-{uuid.uuid4().hex[:6]}@pairloop.test"
    token = user_token(studio_state.url, email, "annotate-4-pairloop")
    assert token_kind(token) == "personal-access-token" and token_kind(studio_state.token) == "legacy"
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_URL", studio_state.url)
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_TOKEN", token)
    status = json.loads(run("studio", "status", "--json").stdout)
    assert status["running"] and not status["local"]
    assert (status["token_kind"], status["user"]["email"]) == ("personal-access-token", email)
    get_settings.cache_clear()
    assert studio.connect(get_settings()).whoami()["email"] == email
    run("studio", "up", expect=1)  # nothing to start for a configured server


def test_a_wrong_token_is_refused_clearly(run, studio_state, monkeypatch):
    with pytest.raises(LabelStudioError, match="401"):
        LabelStudio(studio_state.url, "0" * 40).whoami()
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_URL", studio_state.url)
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_TOKEN", "0" * 40)
    status = json.loads(run("studio", "status", "--json", expect=1).stdout)
    assert not status["running"] and "401" in status["problem"]


def test_an_unreachable_server_is_a_clear_error(run, monkeypatch):
    from support.service import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LabelStudioUnavailable, match="cannot reach Label Studio"):
        LabelStudio(url, "0" * 40).whoami()
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_URL", url)
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_TOKEN", "0" * 40)
    status = json.loads(run("studio", "status", "--json", expect=1).stdout)
    assert "cannot reach Label Studio" in status["problem"]


def test_people_sign_up_once_then_log_in_for_new_tokens(studio_state):
    email = f"annotator-{uuid.uuid4().hex[:6]}@pairloop.test"
    first = user_token(studio_state.url, email, "annotate-4-pairloop")
    again = user_token(studio_state.url, email, "annotate-4-pairloop", sign_up=False)
    assert (token_kind(first), token_kind(again)) == ("personal-access-token", "legacy")
    assert LabelStudio(studio_state.url, first).whoami() == LabelStudio(studio_state.url, again).whoami()
    with pytest.raises(LabelStudioError, match="refused the login"):
        user_token(studio_state.url, email, "not-the-password", sign_up=False)

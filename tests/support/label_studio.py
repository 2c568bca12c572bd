"""Pytest fixtures (a plugin loaded by tests/conftest.py): a real Label Studio for the whole
test session, and projects wired to a real pairloop service.

Label Studio is installed once into ``<repo>/.pairloop/label-studio`` (gitignored; about 90 s
the first time) and reused by later runs; each session starts it on a free loopback port
with a fresh data directory, and stops and deletes it at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.service import free_port, seed_round, service_settings

from annotator.label_studio import LabelStudio, Proposal, user_token
from annotator.push import push_round_pairs
from pairloop import service, studio
from pairloop.server import ServiceThread
from pairloop.settings import Settings

REPO = Path(__file__).resolve().parents[2]
LABEL_STUDIO_HOME = REPO / ".pairloop" / "label-studio"
MODEL_VERSION = "smollm2-135m@prompt-v1"


@pytest.fixture(scope="session")
def studio_settings(tmp_path_factory) -> Iterator[Settings]:
    """Settings of the session's local Label Studio, started (and installed when absent)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("studio"), label_studio_home=LABEL_STUDIO_HOME,
                        label_studio_port=free_port(), label_studio_url=None, label_studio_token=None)
    studio.up(settings, die_with_caller=True)
    yield settings
    # At the end, the restart a second `make demo` does: down, up with the same data and token.
    before = studio.read_state(settings)
    projects = LabelStudio(before.url, before.token).project_ids()
    assert studio.down(settings), "studio down did not find the server running"
    assert not studio.pid_alive(before.pid) and not studio.healthy(before.url)
    after = studio.up(settings, die_with_caller=True)
    assert (after.token, after.data_dir) == (before.token, before.data_dir) and after.pid != before.pid
    assert LabelStudio(after.url, after.token).project_ids() == projects
    assert studio.down(settings, purge=True) and not Path(after.data_dir).exists()


@pytest.fixture(scope="session")
def studio_state(studio_settings) -> studio.StudioState:
    return studio.read_state(studio_settings)


@pytest.fixture(scope="session")
def ls(studio_state) -> LabelStudio:
    """The adapter, as the admin (legacy token)."""
    return LabelStudio(studio_state.url, studio_state.token)


@pytest.fixture
def annotators(studio_state) -> Callable[[int], list[LabelStudio]]:
    """Sign up ``n`` new annotators (as people do, through the sign-up form); each gets an adapter
    authenticated by their own personal access token."""

    def make(n: int) -> list[LabelStudio]:
        people = []
        for _ in range(n):
            email = f"annotator-{uuid.uuid4().hex[:8]}@pairloop.test"
            token = user_token(studio_state.url, email, "annotate-4-pairloop")
            people.append(LabelStudio(studio_state.url, token))
        return people

    return make


@dataclass
class RoundProject:
    """A round in the store whose pairs are tasks of a Label Studio project, with the
    project's webhook pointing at a running pairloop service."""

    settings: Settings
    round_id: int
    pair_ids: list[int]
    project_id: int
    task_ids: dict[int, int]  # pair id → task id
    service: ServiceThread


@pytest.fixture
def round_project(db_url, engine, tmp_path, ls, studio_settings) -> Iterator[Callable[..., RoundProject]]:
    started: list[ServiceThread] = []

    def make(n_pairs: int = 4, overlap: int = 3, webhook: bool = True) -> RoundProject:
        settings = service_settings(db_url, tmp_path / "data")
        round_id, pair_ids = seed_round(db_url, n_pairs)
        project_id = ls.create_project(f"round {round_id} {uuid.uuid4().hex[:6]}", MODEL_VERSION, overlap)
        running = ServiceThread(settings)
        started.append(running)
        if webhook:
            service.register_webhook(settings, ls, project_id)
        proposals = {p: Proposal("complementary", 4, 0.8, "used together") for p in pair_ids}
        report = push_round_pairs(engine, ls, round_id, project_id, pair_ids, MODEL_VERSION, proposals)
        return RoundProject(settings, round_id, pair_ids, project_id, report.task_ids, running)

    yield make
    for running in started:
        running.stop()

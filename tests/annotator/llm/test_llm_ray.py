"""LLM labelling through the Ray actor pool on a real two-node cluster, and several endpoints.

The actor pool must store what one process stores (the embedded model, the llama.cpp server
behind two endpoint URLs), send only uncached pairs, and survive a SIGKILLed actor and a
SIGKILLed driver with every pair labelled exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.ray_cluster import worker_pids

import migrations
from annotator.llm.base import PairText, Proposal
from annotator.llm.cache import cached, propose_cached
from annotator.llm.distributed import RayLabeller, actor_endpoints
from annotator.llm.errors import LlmUnavailable
from annotator.llm.factory import make_labeller
from annotator.llm.openai_api import EndpointFleet
from store.db import make_engine
from store.models import LlmProposal, Pair
from tests.annotator.llm.conftest import chat_reply, free_port
from tests.annotator.llm.test_llm_cache import fbl_pair_ids
from tests.conftest import create_pg_database, datasets_root, drop_pg_database

ACTOR = "LabelActor"
PAIRS = 6


class CountingBatches:
    """Wraps a real batch labeller and records every pair key handed to it (what reaches Ray)."""

    def __init__(self, inner: RayLabeller):
        self.inner = inner
        self.model_name, self.prompt_version = inner.model_name, inner.prompt_version
        self.sent: list[str] = []

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]:
        return self.inner.propose(pairs)

    def propose_batches(self, batches: Iterable[Sequence[PairText]]) -> Iterator[list[Proposal]]:
        def seen() -> Iterator[Sequence[PairText]]:
            for batch in batches:
                self.sent.extend(p.key for p in batch)
                yield batch

        return self.inner.propose_batches(seen())


def fresh_engine(path: Path):
    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    return make_engine(url)


def stored(engine, model: str, prompt_version: str) -> dict[int, Proposal]:
    with engine.connect() as conn:
        ids = [row[0] for row in conn.execute(select(LlmProposal.pair_id))]
        return cached(conn, model, prompt_version, ids)


def assert_same(ours: dict[int, Proposal], theirs: dict[int, Proposal], abs_prob: float) -> None:
    """Same relation, status and fine code; probabilities within ``abs_prob``."""
    assert sorted(ours) == sorted(theirs)
    for pid, a in ours.items():
        b = theirs[pid]
        assert (a.status, a.relation, a.fine_code, a.model) == (b.status, b.relation, b.fine_code, b.model), pid
        assert a.confidence == pytest.approx(b.confidence, abs=abs_prob)
        for va, vb in zip(a.votes, b.votes, strict=True):
            assert va.fine_code == vb.fine_code and (va.probs is None) == (vb.probs is None)
            if va.probs:
                assert va.probs == pytest.approx(vb.probs, abs=abs_prob)


def local_spec(model_cache: Path, votes: int = 3) -> dict:
    """The session's embedded labeller (conftest ``local_labeller``) as a spec for the actors."""
    return {"backend": "local", "votes": votes, "batch_size": 8, "cache_dir": model_cache}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, local_labeller) -> dict[int, Proposal]:
    """The first FBL pairs labelled in this process, three blocks of two, as stored."""
    datasets = datasets_root()
    if datasets is None:
        pytest.skip("../shared/datasets (or $PAIRLOOP_DATASETS) is absent: real-data test skipped")
    engine = fresh_engine(tmp_path_factory.mktemp("reference") / "pairloop.db")
    try:
        ids = fbl_pair_ids(engine, datasets, PAIRS)
        propose_cached(engine, local_labeller, ids, chunk=2)
        return stored(engine, local_labeller.model_name, local_labeller.prompt_version)
    finally:
        engine.dispose()


@pytest.mark.ray
@pytest.mark.llm
def test_the_actor_pool_stores_what_one_process_stores(ray_driver, reference, model_cache, datasets, tmp_path):
    engine = fresh_engine(tmp_path / "pairloop.db")
    ids = fbl_pair_ids(engine, datasets, PAIRS)
    labeller = CountingBatches(RayLabeller(local_spec(model_cache), actors=2))
    progress: list[int] = []
    result = propose_cached(engine, labeller, ids, progress.append, chunk=2)
    assert sorted(labeller.sent) == sorted(map(str, ids)) and progress == [0, 2, 2, 2]
    assert labeller.model_name == "local:SmolLM2-135M-Instruct.Q4_1"
    # Same blocks as in-process (two pairs each, one forward batch): only thread counts differ.
    ours = stored(engine, labeller.model_name, labeller.prompt_version)
    assert_same(ours, reference, abs_prob=1e-4)
    assert_same(result, ours, abs_prob=1e-6)  # what the driver returned is what it stored
    # Stored again: nothing is sent, the cache answers.
    again = CountingBatches(RayLabeller(local_spec(model_cache), actors=2))
    assert propose_cached(engine, again, ids).keys() == result.keys() and again.sent == []
    engine.dispose()


@pytest.mark.ray
@pytest.mark.llm
def test_a_sigkilled_actor_costs_time_not_results(ray_driver, reference, model_cache, datasets, tmp_path):
    engine = fresh_engine(tmp_path / "pairloop.db")
    ids = fbl_pair_ids(engine, datasets, PAIRS)
    killed: list[int] = []

    def kill_after_first_block(n: int) -> None:
        if n and not killed:  # the first block is stored: each actor still holds queued blocks
            killed.append(worker_pids(ACTOR, ray_driver.address)[0])
            os.kill(killed[0], signal.SIGKILL)

    labeller = RayLabeller(local_spec(model_cache), actors=2)
    propose_cached(engine, labeller, ids, kill_after_first_block, chunk=1)
    assert len(killed) == 1 and killed[0] not in worker_pids(ACTOR, ray_driver.address)
    assert_same(stored(engine, labeller.model_name, labeller.prompt_version), reference, abs_prob=1e-4)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LlmProposal)).scalar_one() == PAIRS
    engine.dispose()


@pytest.mark.ray
@pytest.mark.llm
def test_two_endpoints_of_the_llama_cpp_server_send_only_uncached_pairs(ray_driver, llama_server, datasets,
                                                                        tmp_path):
    spec = {"backend": "openai", "model": "smollm2", "base_url": [llama_server, llama_server], "votes": 1,
            "concurrency": 2, "max_retries": 1}
    engine = fresh_engine(tmp_path / "ray.db")
    ids = fbl_pair_ids(engine, datasets, PAIRS)
    first = CountingBatches(RayLabeller(spec, actors=2))
    propose_cached(engine, first, ids[:2], chunk=2)
    rest = CountingBatches(RayLabeller(spec, actors=2))
    propose_cached(engine, rest, ids, chunk=2)
    assert sorted(first.sent) == sorted(map(str, ids[:2]))
    assert sorted(rest.sent) == sorted(map(str, ids[2:]))  # the cached pairs stayed on the driver

    # The same pairs in this process through the fleet of the same two endpoints.
    one_process = fresh_engine(tmp_path / "fleet.db")
    assert fbl_pair_ids(one_process, datasets, PAIRS) == ids
    fleet = make_labeller(**spec)
    assert isinstance(fleet, EndpointFleet) and fleet.model_name == "smollm2"
    propose_cached(one_process, fleet, ids, chunk=2)
    fleet.close()
    theirs = stored(one_process, "smollm2", first.prompt_version)
    assert_same(stored(engine, "smollm2", first.prompt_version), theirs, abs_prob=1e-6)
    engine.dispose()
    one_process.dispose()


@pytest.mark.ray
def test_an_error_in_an_actor_is_raised_by_the_driver_as_itself(ray_driver, datasets, tmp_path):
    """An endpoint down behind the actors: the driver raises LlmUnavailable naming it, stores nothing."""
    down = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    labeller = RayLabeller({"backend": "openai", "model": "any", "base_url": down, "votes": 1, "max_retries": 0},
                           actors=2)
    engine = fresh_engine(tmp_path / "pairloop.db")
    ids = fbl_pair_ids(engine, datasets, 2)
    with pytest.raises(LlmUnavailable, match=r"the LLM endpoint http://127\.0\.0\.1:\d+/v1/chat/completions did "
                       r"not answer after 1 attempts(.|\n)*run the command again to resume"):
        propose_cached(engine, labeller, ids, chunk=1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LlmProposal)).scalar_one() == 0
    engine.dispose()


@pytest.mark.parametrize(("urls", "actors", "shares"), [
    (["u0", "u1"], 4, [["u0"], ["u1"], ["u0"], ["u1"]]),
    (["u0", "u1", "u2"], 2, [["u0", "u2"], ["u1"]]),
    (["u0", "u1", "u2", "u3", "u4"], 2, [["u0", "u2", "u4"], ["u1", "u3"]]),
])
def test_every_endpoint_has_an_actor_whether_actors_or_endpoints_are_more(urls, actors, shares):
    assert [actor_endpoints(urls, i, actors) for i in range(actors)] == shares


def test_a_fleet_deals_each_batch_over_its_endpoints_under_one_model_name(faulty_endpoint):
    """Two fakes of an endpoint (they only count requests): which endpoint answered never shows."""
    reply = chat_reply("A", [("A", -0.1), ("B", -2.5), ("C", -3.0)])
    one, two = faulty_endpoint([reply]), faulty_endpoint([reply])
    fleet = make_labeller("openai", model="any", base_url=[one.base_url, two.base_url], votes=1,
                          prompt_version="fbl9-v1")
    pairs = [PairText(str(i), f"item {i}", f"other {i}") for i in range(5)]
    proposals = fleet.propose(pairs[:3]) + fleet.propose(pairs[3:])
    assert [p.key for p in proposals] == [p.key for p in pairs]
    assert {p.model for p in proposals} == {"any"}
    assert (len(one.requests), len(two.requests)) == (3, 2)  # 0, 2, 4 then 1, 3: round-robin across batches
    fleet.close()


@pytest.fixture
def pg_url(postgres_server) -> Iterator[str]:
    name, url = create_pg_database(postgres_server)
    migrations.upgrade(url)
    try:
        yield url
    finally:
        drop_pg_database(postgres_server, name)


@pytest.mark.ray
@pytest.mark.llm
@pytest.mark.postgres
def test_a_killed_driver_resumes_with_every_pair_labelled_once(ray_cluster, pg_url, model_cache, datasets,
                                                               tmp_path):
    """`pairloop llm label` on the cluster, SIGKILLed once its first block is stored; the rerun
    sends only the pairs it had not stored."""
    env = {**os.environ, "PAIRLOOP_DATABASE_URL": pg_url, "PAIRLOOP_DATA_DIR": str(tmp_path / "data"),
           "PAIRLOOP_RAY_ADDRESS": ray_cluster.address, "PAIRLOOP_LLM_VOTES": "1",
           "PAIRLOOP_LLM_MODEL_CACHE": str(model_cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [str(Path(sys.executable).parent / "pairloop"), "llm", "label", "--input",
               str(datasets / "fbl" / "FBL2023.tsv"), "--limit", "96", "--out", str(tmp_path / "out.csv")]
    engine = make_engine(pg_url)

    def count() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(LlmProposal)).scalar_one()

    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while count() == 0 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    _, stderr = driver.communicate()
    assert driver.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    with engine.connect() as conn:
        pair_ids = [row[0] for row in conn.execute(select(Pair.id))]
        done = {row[0] for row in conn.execute(select(LlmProposal.pair_id))}
    assert 0 < len(done) < len(pair_ids)  # killed half-way

    import ray

    ray.init(address=ray_cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        labeller = CountingBatches(RayLabeller(local_spec(model_cache, votes=1), actors=2))
        result = propose_cached(engine, labeller, pair_ids)
    finally:
        ray.shutdown()
    assert sorted(map(int, labeller.sent)) == sorted(set(pair_ids) - done)  # only the missing pairs
    assert sorted(result) == sorted(pair_ids) and count() == len(pair_ids)  # each pair exactly once
    with engine.connect() as conn:
        per_pair = conn.execute(select(LlmProposal.pair_id, func.count()).group_by(LlmProposal.pair_id)).all()
    assert {n for _, n in per_pair} == {1}
    engine.dispose()

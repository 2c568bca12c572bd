"""The proposal cache on SQLite and PostgreSQL: never pays twice, survives a failure mid-run."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from annotator.llm.cache import propose_cached
from annotator.llm.errors import LlmUnavailable
from annotator.llm.pairs import register_pairs
from store.formats import read_pairs
from store.models import Item, Label, LlmProposal, Pair
from tests.annotator.llm.conftest import Counting

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def fbl_pair_ids(engine, datasets: Path, n: int) -> list[int]:
    rows = []
    for row in read_pairs(datasets / "fbl" / "FBL2023.tsv"):
        rows.append(row)
        if len(rows) == n:
            break
    with engine.begin() as conn:
        return [pid for pid, _ in register_pairs(conn, rows)]


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_the_same_pair_model_and_prompt_version_is_never_paid_twice(engine, memo_labeller, datasets):
    ids = fbl_pair_ids(engine, datasets, 4)
    assert count(engine, Item) == 8 and count(engine, Pair) == 4 and count(engine, Label) == 0
    first = Counting(memo_labeller)
    fresh = propose_cached(engine, first, ids[:3], chunk=2)
    assert first.calls == [[str(ids[0]), str(ids[1])], [str(ids[2])]]

    again = Counting(memo_labeller)
    seen: list[int] = []
    cached = propose_cached(engine, again, ids[:3], progress=seen.append)
    assert again.calls == [] and seen == [3]
    for pid in ids[:3]:
        a, b = fresh[pid], cached[pid]
        assert (a.status, a.relation, a.fine_code, a.rationale) == (b.status, b.relation, b.fine_code, b.rationale)
        assert b.confidence == pytest.approx(a.confidence)
        assert [v.fine_code for v in b.votes] == [v.fine_code for v in a.votes]
        assert b.votes[1].probs == pytest.approx(a.votes[1].probs, abs=1e-6)

    more = Counting(memo_labeller)
    propose_cached(engine, more, ids)
    assert more.calls == [[str(ids[3])]]  # only the new pair
    other_model = Counting(memo_labeller, model_name="local:another-model")
    propose_cached(engine, other_model, ids[:1])
    assert other_model.calls == [[str(ids[0])]]  # the cache key includes the model
    assert count(engine, LlmProposal) == 5


def test_a_failure_mid_run_keeps_what_was_done_and_a_rerun_resumes(engine, memo_labeller, datasets):
    ids = fbl_pair_ids(engine, datasets, 3)
    failing = Counting(memo_labeller, fail_on_call=2)
    with pytest.raises(LlmUnavailable):
        propose_cached(engine, failing, ids, chunk=2)
    assert count(engine, LlmProposal) == 2  # the first chunk is committed, nothing half-written
    resumed = Counting(memo_labeller)
    result = propose_cached(engine, resumed, ids, chunk=2)
    assert resumed.calls == [[str(ids[2])]] and sorted(result) == sorted(ids)
    assert count(engine, LlmProposal) == 3

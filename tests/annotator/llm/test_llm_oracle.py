"""The LLM as the simulator's oracle: agreed proposals are labels, the rest are not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select

from annotator.llm.cache import cached
from annotator.llm.oracle import LlmOracle
from store.models import LlmProposal
from tests.annotator.llm.conftest import Counting, rows_of

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def test_the_llm_oracle_answers_queried_pairs_without_reading_their_labels(engine, memo_labeller, datasets):
    data = pytest.importorskip("classifier.data", reason="the classifier package is not in this checkout")
    pool = data.read_pair_file(datasets / "fbl" / "FBL2023.tsv")
    queries = pool.subset(np.arange(3))
    queries.labels = np.full(3, None, dtype=object)  # what the simulator passes: no answers
    counting = Counting(memo_labeller)
    oracle = LlmOracle(engine, counting)
    answers = oracle(queries)
    assert len(answers) == 3 and counting.calls and len(counting.calls[0]) == 3
    ids = oracle.pair_ids(queries)  # registering again is idempotent: the same store pairs
    with engine.connect() as conn:
        stored = cached(conn, counting.model_name, counting.prompt_version, ids)
    assert answers == [stored[i].relation.value if stored[i].is_label else None for i in ids]
    assert oracle(queries) == answers and len(counting.calls) == 1  # the second ask is free


def test_simulate_with_the_llm_as_oracle(llm_cli, sqlite_url, datasets, tmp_path):
    pytest.importorskip("active_learning.simulation", reason="the simulator is not in this checkout")
    lines = (datasets / "fbl" / "FBL2023.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    files = {}
    for name, part in {"seed": rows[:80], "pool": rows[80:84], "test": rows[100:160]}.items():
        files[name] = tmp_path / f"fbl2023-{name}.tsv"
        files[name].write_text(header + "".join(part), encoding="utf-8")
    out = tmp_path / "sim"
    result = llm_cli("simulate", "--seed-labels", files["seed"], "--pool", files["pool"], "--test", files["test"],
                     "--strategy", "random", "--rounds", 1, "--batch-size", 2, "--oracle", "llm",
                     "--out", out, "--json")
    curve = json.loads(result.stdout)
    assert curve["oracle"] == "llm" and [p["round"] for p in curve["points"]] == [0, 1]
    last = curve["strategies"]["random"]["runs"][0]["points"][-1]
    assert last["asked"] == 2 and rows_of(sqlite_url, LlmProposal) == 2
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        agreed = conn.execute(select(func.count()).where(LlmProposal.status == "agreed")).scalar_one()
    engine.dispose()
    assert last["labels"] == agreed  # only agreed proposals become labels
    assert (out / "curve.png").is_file()

"""An adapted model (`pairloop llm adapt`) as the configured proposer: PAIRLOOP_LLM_MODEL=<adapter
version> builds its ProbeLabeller through the factory and the Context, and its proposals, cached
and written by `pairloop llm label`, carry the version as their model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from annotator.llm.factory import labeller_identity, make_labeller
from annotator.llm.probe import ADAPTERS_DIR, HIDDEN_DIR, Adapter, HiddenStates, ProbeLabeller, fit_probe
from pairloop.settings import Settings
from pairloop.usecases.context import Context
from store.errors import BadInput
from store.models import LlmProposal
from tests.annotator.llm.test_llm_adapt import constructed
from tests.conftest import datasets_root

pytestmark = [pytest.mark.llm, pytest.mark.slow]

TRAIN, HELD_OUT = 32, 16
BUDGET_S = 300  # hidden states of the training pairs, two cores


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("adapted")


@pytest.fixture(scope="module")
def adapter(data_dir, model_cache) -> Adapter:
    """A tiny adapter on the constructed relation, saved in ``data_dir`` as `pairloop llm adapt` saves one."""
    root = datasets_root()
    if root is None:
        pytest.skip("../shared/datasets (or $PAIRLOOP_DATASETS) is absent: real-data test skipped")
    pairs, relations = constructed(root, TRAIN)
    hidden = HiddenStates(cache_dir=data_dir / HIDDEN_DIR, model_cache=model_cache, batch_size=8)
    fitted = fit_probe(hidden.states(pairs, max_seconds=BUDGET_S), [p.key for p in pairs], relations)
    fitted.save(data_dir / ADAPTERS_DIR)
    return fitted


def test_the_configured_adapter_version_proposes_under_its_own_name(adapter, data_dir, model_cache, sqlite_url):
    pairs, relations = constructed(datasets_root(), TRAIN + HELD_OUT)
    held_out, truth = pairs[TRAIN:], relations[TRAIN:]
    assert labeller_identity(model=adapter.version, data_dir=data_dir) == (adapter.version, "fbl9-v2")
    direct = make_labeller(model=adapter.version, data_dir=data_dir, cache_dir=model_cache)
    assert isinstance(direct, ProbeLabeller) and direct.model_name == adapter.version

    settings = Settings(database_url=sqlite_url, data_dir=data_dir, llm_model_cache=model_cache,
                        llm_model=adapter.version)
    with Context(settings) as ctx:
        labeller = ctx.labeller()
    assert isinstance(labeller, ProbeLabeller)
    assert (labeller.model_name, labeller.prompt_version) == (adapter.version, "fbl9-v2")
    assert labeller.states.folder is not None and labeller.states.folder.parent == data_dir / HIDDEN_DIR
    proposals = labeller.propose(held_out)
    assert {(p.model, p.prompt_version) for p in proposals} == {(adapter.version, "fbl9-v2")}
    right = sum(p.relation.value == r for p, r in zip(proposals, truth, strict=True))
    assert right / len(truth) >= 0.8  # the adapter, not the base model's answer letters (chance is 0.5)


def test_an_unknown_adapter_or_another_prompt_is_refused(adapter, data_dir, sqlite_url):
    missing = adapter.version[:-8] + "00000000"
    with Context(Settings(database_url=sqlite_url, data_dir=data_dir, llm_model=missing)) as ctx:
        with pytest.raises(BadInput, match="pairloop llm adapt") as refused:
            ctx.labeller()
    assert refused.value.path == str(data_dir / ADAPTERS_DIR / missing)
    other_prompt = Settings(database_url=sqlite_url, data_dir=data_dir, llm_model=adapter.version,
                            llm_prompt_version="fbl9-v1")
    with Context(other_prompt) as ctx, pytest.raises(BadInput, match="reads pairs in prompt version fbl9-v2"):
        ctx.labeller()


def test_llm_label_writes_and_caches_the_adapted_proposals(adapter, llm_cli, sqlite_url, datasets, tmp_path,
                                                         monkeypatch):
    adapter.save(tmp_path / "data" / ADAPTERS_DIR)  # the CLI's DATA_DIR
    monkeypatch.setenv("PAIRLOOP_LLM_MODEL", adapter.version)
    out = tmp_path / "proposals.csv"
    result = llm_cli("llm", "label", "--input", datasets / "fbl" / "FBL2023.tsv", "--limit", 5, "--out", out,
                     "--json")
    summary = json.loads(result.stdout)
    assert (summary["model"], summary["prompt_version"], summary["pairs"]) == (adapter.version, "fbl9-v2", 5)
    with out.open(encoding="utf-8") as stream:
        written = list(csv.DictReader(stream))
    assert len(written) == 5 and {r["model"] for r in written} == {adapter.version}
    assert {r["status"] for r in written} == {"agreed"}
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        cached = conn.execute(select(LlmProposal.model, LlmProposal.prompt_version)).all()
    engine.dispose()
    assert len(cached) == 5 and set(cached) == {(adapter.version, "fbl9-v2")}


def test_an_adapters_training_pairs_are_never_evidence_of_what_it_earned(adapter, data_dir, sqlite_url, datasets,
                                                                          tmp_path):
    """Agreement and the store's judged pairs leave out the pairs the adapter learnt from (here the
    first three FBL2023 pairs, recorded as a file's item pairs), so they cannot open its gate."""
    from annotator.llm.probe import ADAPTER_FILE
    from pairloop.usecases.llm import agreement
    from pairloop.usecases.round_steps import trained_pairs
    from store.formats import read_pairs

    rows = list(read_pairs(datasets / "fbl" / "FBL2023.tsv"))[:3]
    record_path = data_dir / ADAPTERS_DIR / adapter.version / ADAPTER_FILE
    record = json.loads(record_path.read_text())
    original = record_path.read_text()
    record["trained_on"]["pairs"] = [[[r.item_a.source, r.item_a.external_id], [r.item_b.source, r.item_b.external_id]]
                                     for r in rows]
    record_path.write_text(json.dumps(record))
    try:
        settings = Settings(database_url=sqlite_url, data_dir=data_dir, llm_model=adapter.version)
        with Context(settings) as ctx:
            result = agreement(ctx, datasets / "fbl" / "FBL2023.tsv", limit=5, out=tmp_path / "report")
            assert result.trained_pairs_left_out == 3 and result.pairs == 2
            assert len(trained_pairs(ctx, adapter.version)) == 3
            with pytest.raises(BadInput, match="was trained on"):
                agreement(ctx, datasets / "fbl" / "FBL2023.tsv", limit=3, out=tmp_path / "again")
    finally:
        record_path.write_text(original)

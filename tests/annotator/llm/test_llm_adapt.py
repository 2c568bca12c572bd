"""The probe on the real embedded SmolLM2-135M's hidden states (`pairloop llm adapt`), on a small
bounded budget: it learns a constructed separable relation, its adapter records what it was
trained on, its proposals carry the adapted version, and its measurement never scores a pair
it was trained on."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from annotator.llm.base import PairText, Proposal, ProposalStatus
from annotator.llm.probe import Adapter, HiddenStates, ProbeLabeller, ProbeRecipe, fit_probe
from classifier.data import read_pair_file
from pairloop.settings import Settings
from pairloop.usecases.context import Context
from pairloop.usecases.llm_adapt import adapt, error_overlap, precision_at_coverage
from store.formats import read_pairs
from store.taxonomy import Relation
from store.verified import verified_labels

pytestmark = [pytest.mark.llm, pytest.mark.slow]

VERSION = re.compile(r"^smollm2-135m\+probe-[0-9a-f]{8}$")


@pytest.fixture(scope="session")
def adapt_dir(tmp_path_factory) -> Path:
    """One DATA_DIR for the session: its hidden-state cache serves every test here."""
    return tmp_path_factory.mktemp("adapt")


@pytest.fixture(scope="session")
def hidden(adapt_dir, model_cache) -> HiddenStates:
    return HiddenStates(cache_dir=adapt_dir / "cache" / "llm-hidden", model_cache=model_cache, batch_size=8)


def constructed(datasets: Path, n: int) -> tuple[list[PairText], list[str]]:
    """Real FBL titles, a relation the prompt shows plainly: an item next to itself is a
    ``substitute``, next to another item ``unrelated`` (alternating)."""
    titles = [row.item_a.title for row in read_pairs(datasets / "fbl" / "FBL2023.tsv")][: n + 1]
    pairs, relations = [], []
    for i in range(n):
        same = i % 2 == 0
        pairs.append(PairText(f"c{i}", titles[i], titles[i] if same else titles[i + 1]))
        relations.append("substitute" if same else "unrelated")
    return pairs, relations


def test_the_probe_learns_a_separable_relation_and_names_its_version(datasets, hidden, tmp_path):
    pairs, relations = constructed(datasets, 64)
    states = hidden.states(pairs)
    assert states.shape == (64, 3, 2, 576) and states.dtype == np.float16
    assert np.array_equal(hidden.states(pairs[:5]), states[:5])  # served from the cache
    train, test = slice(0, 40), slice(40, 64)
    keys = [p.key for p in pairs]
    adapter = fit_probe(states[train], keys[train], relations[train], source="constructed")
    assert VERSION.match(adapter.version)
    proposals = ProbeLabeller(adapter, hidden).propose(pairs[test])
    right = [p.relation.value == r for p, r in zip(proposals, relations[test], strict=True)]
    assert sum(right) / len(right) >= 0.8  # chance is 0.5
    for p in proposals:
        assert p.model == adapter.version and p.prompt_version == "fbl9-v2"
        assert p.status is ProposalStatus.AGREED and 0.0 < p.confidence <= 1.0

    # The adapter records its training set, survives a round trip, and is named by it.
    folder = adapter.save(tmp_path)
    record = json.loads((folder / "adapter.json").read_text())
    assert folder.name == adapter.version == record["version"]
    assert record["trained_on"]["count"] == 40 and record["trained_on"]["pairs"] == keys[train]
    assert record["trained_on"]["classes"] == {"substitute": 20, "unrelated": 20}
    assert record["recipe"] == {"layer": 12, "pooling": "mean", "c": 1.0}
    loaded = Adapter.load(folder)
    assert np.allclose(loaded.proba(states[test]), adapter.proba(states[test]))
    shuffled = np.random.default_rng(1).permutation(40)
    again = fit_probe(states[train][shuffled], [keys[i] for i in shuffled], [relations[i] for i in shuffled])
    assert again.version == adapter.version  # the same pairs and relations, in any order
    flipped = ["unrelated" if r == "substitute" else "substitute" for r in relations[train]]
    assert fit_probe(states[train], keys[train], flipped).version != adapter.version
    assert fit_probe(states[train], keys[train], relations[train], recipe=ProbeRecipe(layer=6)).version \
        != adapter.version


def write_rows(source: Path, target: Path, rows: range) -> None:
    with source.open(encoding="utf-8", newline="") as stream:
        lines = list(csv.reader(stream, delimiter="\t"))
    with target.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, delimiter="\t", lineterminator="\n").writerows([lines[0], *(lines[i + 1] for i in rows)])


def test_a_measurement_never_scores_a_pair_it_trained_on(datasets, adapt_dir, sqlite_url, model_cache, tmp_path):
    fbl = datasets / "fbl" / "FBL2023.tsv"
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    write_rows(fbl, train, range(0, 60))
    write_rows(fbl, test, range(30, 110))  # 30 rows shared with training
    trained = set(read_pair_file(train).labelled().keys)
    candidates = read_pair_file(test).labelled()
    shared = sum(key in trained for key in candidates.keys)
    assert shared >= 25
    settings = Settings(database_url=sqlite_url, data_dir=adapt_dir, llm_model_cache=model_cache)
    with Context(settings) as ctx:
        result = adapt(ctx, [train], test=test, test_train_share=0.25, out=tmp_path / "report")
    m = result.measurement
    assert m is not None and VERSION.match(result.version)
    assert m.excluded_trained == shared
    fresh = len(candidates) - shared
    assert m.moved_to_training == round(0.25 * fresh) and m.test_pairs == fresh - m.moved_to_training
    assert result.pairs == len(trained) + m.moved_to_training
    record = json.loads((Path(result.folder) / "adapter.json").read_text())
    trained_keys = {json.dumps(k) for k in record["trained_on"]["pairs"]}
    report = json.loads(Path(m.report).read_text())
    assert len(report["pairs"]) == m.test_pairs
    assert not trained_keys & {json.dumps(p["key"]) for p in report["pairs"]}
    assert sum(map(sum, m.confusion)) == m.test_pairs and m.kappa is not None
    e = m.errors
    assert e.both_wrong <= min(e.probe_error_rate, e.classifier_error_rate)


def test_error_overlap_counts_shared_mistakes():
    truth = ["a", "a", "b", "b", "a", "b", "a", "b"]
    probe = ["a", "b", "b", "a", "a", "b", "b", "b"]  # wrong on 1, 3, 6
    clf = ["b", "b", "b", "a", "a", "a", "a", "b"]  # wrong on 0, 1, 3, 5
    e = error_overlap(truth, probe, clf)
    assert (e.probe_error_rate, e.classifier_error_rate) == (3 / 8, 4 / 8)
    assert e.both_wrong == 2 / 8 and e.both_wrong_if_independent == pytest.approx(3 / 16)
    assert e.probe_right_classifier_wrong == 2 / 8
    assert e.phi == pytest.approx(np.corrcoef([0, 1, 0, 1, 0, 0, 1, 0], [1, 1, 0, 1, 0, 1, 0, 0])[0, 1])


def test_precision_at_coverage_ranks_by_confidence():
    def proposal(relation: str, confidence: float) -> Proposal:
        return Proposal("k", ProposalStatus.AGREED, Relation(relation), None, confidence, None, "m", "v")

    proposals = [proposal("substitute", c) for c in (0.9, 0.8, 0.7, 0.6)]
    truth = ["substitute", "unrelated", "substitute", "unrelated"]
    assert precision_at_coverage(proposals, truth, (0.25, 0.5, 1.0)) == {"25%": 1.0, "50%": 0.5, "100%": 0.5}


def test_adapting_to_the_store_trains_on_its_human_verified_labels(datasets, sqlite_cli, sqlite_url, adapt_dir,
                                                                  model_cache, tmp_path):
    labels = tmp_path / "labels.tsv"
    write_rows(datasets / "fbl" / "FBL2023.tsv", labels, range(0, 50))
    sqlite_cli("import", "labels", labels)
    settings = Settings(database_url=sqlite_url, data_dir=adapt_dir, llm_model_cache=model_cache)
    with Context(settings) as ctx:
        result = adapt(ctx, limit=30)
        with ctx.engine.connect() as conn:
            verified, _ = verified_labels(conn, settings.majority_rule, min_agreeing=settings.min_agreeing)
    assert result.source == "store" and result.pairs == 30 and VERSION.match(result.version)
    record = json.loads((Path(result.folder) / "adapter.json").read_text())
    trained = record["trained_on"]["pairs"]
    assert len(trained) == 30 and set(trained) <= set(verified)  # store pair ids, all verified
    assert record["trained_on"]["classes"] == dict(Counter(verified[p].relation.value for p in trained))

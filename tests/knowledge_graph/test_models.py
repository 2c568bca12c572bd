"""The dual-view GNN and the E-E-I model train on real BundleRec data; the recall evaluation runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from knowledge_graph.bundles import load_domain
from knowledge_graph.eei import EeiModel, route_negatives, session_exposures, train_eei
from knowledge_graph.embeddings import embed
from knowledge_graph.entities import build_dictionary, extract
from knowledge_graph.gnn import GnnResult, build_views, train_gnn
from knowledge_graph.graph import build_graph
from knowledge_graph.recall import GraphRecall

pytestmark = pytest.mark.datasets


@pytest.fixture
def trained(small_bundlerec):
    domain = load_domain(small_bundlerec)
    split = domain.split(0.25, seed=0)
    graph, _ = build_graph(extract(domain.items, build_dictionary(domain.items)), split.train_evidence())
    names = embed([node.entity for node in graph.nodes])
    gnn = train_gnn(graph, names, epochs=20, seed=0)
    return domain, split, graph, gnn


def test_dual_view_gnn_infonce_falls_below_chance(trained, tmp_path):
    _domain, _split, graph, gnn = trained
    views = build_views(graph)
    assert views.substitutable[0].shape[1] > 0 and views.complementary[0].shape[1] > 0
    assert gnn.losses[0] == pytest.approx(gnn.config["chance_loss"], abs=0.3)
    assert gnn.losses[-1] < gnn.losses[0] - 0.2
    assert gnn.embeddings.shape == (len(graph.nodes), 128)
    assert np.allclose(np.linalg.norm(gnn.embeddings[:, :64], axis=1), 1.0, atol=1e-4)
    gnn.save(tmp_path / "gnn.pt")
    assert np.array_equal(GnnResult.load(tmp_path / "gnn.pt").embeddings, gnn.embeddings)


def test_eei_learns_from_session_exposures_and_ranks_the_route(trained, tmp_path):
    domain, split, graph, gnn = trained
    taken = {frozenset((a, b)) for m in split.train_bundles.values() for a in m for b in m if a != b}
    exposures = session_exposures(split.train_sessions.values(), taken)
    assert {e.taken for e in exposures} == {True, False}
    route = GraphRecall(graph)
    exposures += route_negatives(exposures, route.route_items, taken, per_positive=2)
    vectors = dict(zip([i.key for i in domain.items], embed([i.title for i in domain.items]), strict=True))
    model = train_eei(exposures, graph, gnn.table(), vectors, epochs=6, seed=0)
    assert model.history["loss"][-1] < model.history["loss"][0]
    assert 0.0 <= model.history.get("validation_auc", 0.5) <= 1.0
    model.save(tmp_path / "eei.pt")
    loaded = EeiModel.load(tmp_path / "eei.pt").with_items(vectors)
    query = next(item for item in split.train_bundles[next(iter(split.train_bundles))] if route.route_items(item))
    triples = [(t, o, c) for (t, o) in route.entity_route(query) for c in graph.members[o] if c != query][:50]
    assert np.allclose(loaded.score(query, triples), model.score(query, triples))
    ranked = GraphRecall(graph, scorer=loaded).recommend(query, 5)
    assert len(ranked) == 5 and [s for _k, s in ranked] == sorted((s for _k, s in ranked), reverse=True)


@pytest.mark.slow
def test_evaluate_recall_reports_every_method_on_every_slice(sqlite_cli, small_bundlerec, tmp_path):
    out = tmp_path / "recall.json"
    result = json.loads(sqlite_cli("evaluate-recall", "--bundles", small_bundlerec, "--gnn-epochs", 5,
                                   "--eei-epochs", 2, "--out", out, "--json").stdout)
    assert json.loads(out.read_text()) == result
    assert out.with_suffix(".png").stat().st_size > 10_000
    (source,) = result["sources"]
    assert source["source"] == "electronic" and source["kind"] == "bundles" and source["evaluated_on"] == "test"
    slices = source["slices"]
    assert list(slices) == ["all", "complementary", "same-kind", "cold"]
    assert slices["all"]["queries"] > 10 and all(s["queries"] <= slices["all"]["queries"] for s in slices.values())
    for figures_by_method in (s["methods"] for s in slices.values()):
        assert set(figures_by_method) == {"popularity", "cooccurrence", "title-similarity", "graph", "graph+eei",
                                          "hybrid"}
        for figures in figures_by_method.values():
            assert 0.0 <= figures["recall@10"] <= figures["recall@50"] <= 1.0
            assert 0.0 <= figures["ndcg@10"] <= 1.0 and 0.0 <= figures["ndcg@50"] <= 1.0
    assert source["gnn"]["last_loss"] < source["gnn"]["first_loss"]
    assert source["blend"]["rows"] > source["blend"]["positives"] > 0
    validation = json.loads(sqlite_cli("evaluate-recall", "--bundles", small_bundlerec, "--gnn-epochs", 2,
                                       "--eei-epochs", 1, "--k", 10, "--validation", "--json").stdout)["sources"][0]
    assert validation["evaluated_on"] == "validation" and set(validation["slices"]["all"]["methods"]["hybrid"]) == {
        "recall@10", "ndcg@10", "queries"}
    assert validation["train_sessions"] < source["train_sessions"]
    assert sqlite_cli("evaluate-recall", "--bundles", small_bundlerec, "--out", out, expect=2).stderr
    (tmp_path / "empty").mkdir()
    assert "BundleRec" in sqlite_cli("evaluate-recall", "--bundles", tmp_path / "empty", expect=2).stderr
    assert "Instacart" in sqlite_cli("evaluate-recall", "--baskets", tmp_path / "empty", expect=2).stderr
    assert "nothing to evaluate" in sqlite_cli("evaluate-recall", expect=2).stderr

"""Recall routes and ranking metrics on small graphs whose answers can be worked out by hand."""

from __future__ import annotations

import math

import pytest

from knowledge_graph.bundles import BundleDomain
from knowledge_graph.entities import build_dictionary, extract
from knowledge_graph.graph import COMPLEMENTARY, build_graph
from knowledge_graph.metrics import ndcg_at, recall_at, score_rankings
from knowledge_graph.recall import CooccurrenceRecall, GraphRecall
from knowledge_graph.records import Evidence
from store.errors import BadInput


def test_metrics_by_hand():
    assert recall_at(["x", "a", "y", "b"], {"a", "b", "c"}, 2) == pytest.approx(1 / 3)
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at(["x", "a"], {"a", "b"}, 2) == pytest.approx((1 / math.log2(3)) / ideal)
    assert score_rankings({"q": ["a", "b"], "r": ["x", "z"]}, {"q": {"a"}, "r": {"z"}}, (1, 2)) == {
        "recall@1": 0.5, "ndcg@1": 0.5, "recall@2": 1.0, "ndcg@2": pytest.approx(0.5 + 0.5 / math.log2(3), abs=1e-4),
        "queries": 2}


def test_cooccurrence_ranks_by_count_then_popularity():
    recall = CooccurrenceRecall([["a", "b", "c"], ["a", "b"], ["d", "e"], ["d", "f"], ["d", "c"]])
    assert [k for k, _s in recall.recommend("a", 4)] == ["b", "c", "d", "e"]
    assert [k for k, _s in recall.recommend("never-seen", 2)] == ["d", "a"]  # popularity, then name


def test_graph_route_spreads_edge_weight_over_the_items_of_complementary_entities(gadgets):
    extraction = extract(gadgets, build_dictionary(gadgets))
    evidence = [Evidence("s:4", "s:8", COMPLEMENTARY), Evidence("s:5", "s:9", COMPLEMENTARY),
                Evidence("s:4", "s:1", COMPLEMENTARY)]
    graph, _ = build_graph(extraction, evidence)
    route = GraphRecall(graph)
    ranked = route.recommend("s:6", 10)  # a camera: cards (weight 2) before chargers (weight 1)
    keys = [k for k, _s in ranked]
    assert set(keys[:3]) == {"s:7", "s:8", "s:9"} and set(keys[3:]) == {"s:1", "s:2", "s:3"}
    assert "s:6" not in keys and sorted(route.route_items("s:6")) == sorted(keys)
    with pytest.raises(BadInput, match="unknown item"):
        route.recommend("s:404")
    assert route.recommend("s:10") == []  # an item without entities has no route


def test_validation_split_never_reads_the_test_sessions():
    sessions = {f"s{i}": [f"x:{i}a", f"x:{i}b", f"x:{i}c"] for i in range(20)}
    bundles = {f"b{i}": sessions[f"s{i}"][:2] for i in range(20)}
    domain = BundleDomain("toy", [], sessions, bundles, {f"b{i}": f"s{i}" for i in range(20)})
    test = domain.split(0.25, seed=3)
    part = domain.training_part(0.25, seed=3)
    assert set(part.sessions) == set(test.train_sessions) and set(part.bundles) == set(test.train_bundles)
    validation = part.split(0.25, seed=3)
    assert len(validation.test_bundles) == 4 and len(validation.train_bundles) == 11
    tested = {item for members in test.test_bundles.values() for item in members}
    seen = {item for s in (validation.train_sessions, validation.train_bundles, validation.test_bundles)
            for members in s.values() for item in members}
    assert tested and not tested & seen


def test_eei_scores_with_its_first_layer_split_equal_the_whole_net():
    import numpy as np
    import torch

    from knowledge_graph.eei import EeiModel, EeiNet

    rng = np.random.default_rng(0)
    entities = [f"e{i}" for i in range(20)]
    items = {f"i{j}": rng.normal(size=9).astype(np.float32) for j in range(50)}
    model = EeiModel(EeiNet(16, 9, 32), entities, rng.normal(size=(20, 16)).astype(np.float32), item_vectors=items)
    triples = [(entities[a % 20], entities[a * 7 % 20], f"i{a % 50}") for a in range(300)]
    model.net.eval()
    with torch.no_grad():
        whole = torch.sigmoid(model.net(*model._tensors([(*t, "q") for t in triples]))).numpy()
    assert np.allclose(model.score("q", triples), whole, atol=1e-6)
    assert np.allclose(model.score("q", triples[::-1]), whole[::-1], atol=1e-6)  # the kept item part is reused

"""Aggregating labelled pairs into entity edges: shares, confidence, provenance, verification."""

from __future__ import annotations

import pytest

from knowledge_graph.entities import build_dictionary, extract
from knowledge_graph.graph import COMPLEMENTARY, SUBSTITUTE, build_graph, label_set_hash
from knowledge_graph.records import Evidence


@pytest.fixture
def extraction(gadgets):
    return extract(gadgets, build_dictionary(gadgets, min_count=3))


def edge(graph, a, b, relation=COMPLEMENTARY):
    matches = [e for e in graph.edges if e.key == (min(a, b), max(a, b), relation)]
    return matches[0] if matches else None


def test_item_pair_evidence_is_shared_over_entity_pairs(extraction):
    # s:1 has two entities (battery charger, charger), s:4 two (digital slr camera, digital camera).
    evidence = [Evidence("s:1", "s:4", COMPLEMENTARY, source="human", rounds=(3,)),
                Evidence("s:2", "s:5", COMPLEMENTARY, source="llm", rounds=(4,))]
    graph, report = build_graph(extraction, evidence)
    e = edge(graph, "battery charger", "digital slr camera")
    assert e.weight == pytest.approx(0.5)  # a quarter from each of the two item pairs
    assert e.n_item_pairs == 2 and e.confidence == 1.0 and e.verified
    assert e.sources == {"human": 1, "llm": 1} and e.rounds == (3, 4)
    assert e.evidence == ("s:1|s:4", "s:2|s:5")
    assert len(graph.edges) == 4 and report.used == 2
    assert graph.neighbours("digital camera")[0][0] in ("battery charger", "charger")


def test_confidence_weighs_unrelated_answers_and_drops_minority_relations(extraction):
    evidence = [Evidence("s:7", "s:4", COMPLEMENTARY), Evidence("s:8", "s:5", COMPLEMENTARY),
                Evidence("s:9", "s:6", "unrelated"),
                Evidence("memory card", "digital camera", SUBSTITUTE, kind="entity")]
    graph, _ = build_graph(extraction, evidence, min_confidence=0.3)
    comp = edge(graph, "memory card", "digital slr camera")
    assert comp.weight == pytest.approx(1.0) and comp.confidence == pytest.approx(2 / 3, abs=1e-6)
    sub = edge(graph, "memory card", "digital camera", SUBSTITUTE)
    assert sub.n_entity_labels == 1 and sub.weight == 1.0 and sub.confidence == pytest.approx(1 / 2.5)
    strict, _ = build_graph(extraction, evidence, min_confidence=0.5)
    assert edge(strict, "memory card", "digital camera", SUBSTITUTE) is None


def test_unverified_evidence_counts_only_when_asked(extraction):
    evidence = [Evidence("s:1", "s:7", COMPLEMENTARY, source="llm", verified=False)]
    graph, report = build_graph(extraction, evidence)
    assert graph.edges == [] and report.skipped_unverified == 1
    asked, _ = build_graph(extraction, evidence, include_unverified=True)
    assert asked.edges and not any(e.verified for e in asked.edges)
    assert asked.only_verified().edges == []


def test_items_without_entities_are_counted_not_guessed(extraction):
    graph, report = build_graph(extraction, [Evidence("s:10", "s:7", COMPLEMENTARY)])
    assert graph.edges == [] and report.skipped_no_entity == 1


def test_label_set_hash_ignores_order_and_direction():
    a = [Evidence("x", "y", COMPLEMENTARY), Evidence("p", "q", SUBSTITUTE)]
    b = [Evidence("q", "p", SUBSTITUTE), Evidence("y", "x", COMPLEMENTARY)]
    assert label_set_hash(a) == label_set_hash(b) != label_set_hash(a[:1])

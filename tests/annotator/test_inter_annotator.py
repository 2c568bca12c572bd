"""Human agreement: Krippendorff's alpha with gaps, disagreements, annotator accuracy."""

from __future__ import annotations

import krippendorff
import pytest

from annotator.inter_annotator import alpha, human_agreement
from store import formats
from store.importer import Importer
from store.taxonomy import Relation
from store.verified import Vote


def vote(relation: str, actor: str) -> Vote:
    return Vote(Relation(relation), None, "human", False, actor)


def test_alpha_matches_the_reference_with_missing_answers():
    votes = {
        1: [vote("substitute", "a"), vote("substitute", "b")],
        2: [vote("unrelated", "a"), vote("complementary", "b"), vote("unrelated", "c")],
        3: [vote("complementary", "b"), vote("complementary", "c")],
        4: [vote("unrelated", "a"), vote("substitute", "c")],
        5: [vote("unrelated", "c")],  # a single answer carries no agreement information
    }
    nan = float("nan")
    reference = krippendorff.alpha(
        reliability_data=[[1, 2, nan, 2], [1, 0, 0, nan], [nan, 2, 0, 1]], level_of_measurement="nominal")
    assert alpha(votes) == pytest.approx(reference)
    assert alpha({1: [vote("substitute", "a"), vote("substitute", "b")]}) is None


def test_human_agreement_finds_disagreements_and_scores_annotators(engine, tmp_path):
    path = tmp_path / "answers.csv"
    rows = [("A", "B", "substitute", "ann1"), ("A", "B", "substitute", "ann2"), ("A", "B", "unrelated", "ann3"),
            ("C", "D", "complementary", "ann1"), ("C", "D", "unrelated", "ann2"),
            ("E", "F", "unrelated", "ann1"), ("E", "F", "unrelated", "ann3")]
    path.write_text("item_a,item_b,relation,actor,source\n"
                    + "".join(f"{a},{b},{r},{who},human\n" for a, b, r, who in rows), encoding="utf-8")
    with engine.begin() as conn:
        Importer(conn).pairs(formats.read_pairs(path))
    with engine.connect() as conn:
        report = human_agreement(conn)
    assert (report.pairs, report.multi_annotated, len(report.disagreements)) == (3, 3, 1)
    accuracy = {s.actor: (s.answers, s.accuracy) for s in report.annotators}
    assert accuracy == {"ann1": (3, 1.0), "ann2": (2, 1.0), "ann3": (2, 0.5)}
    assert report.alpha is not None and -1.0 <= report.alpha < 1.0

"""Imports of the real datasets in ../shared/datasets (skipped with a reason when absent)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import select

from store.formats.truth import labelled_rows
from store.models import Item, Label, Pair
from store.verified import MajorityRule, verified_labels

pytestmark = pytest.mark.datasets


def _row_counts(path, rule):
    counts = Counter()
    for row, label in labelled_rows(path, rule=rule):
        counts[label.relation.value if label else ("blank" if not row.answers else "no majority")] += 1
    return counts


def test_fbl2023_rows_reproduce_the_datasets_readme(datasets):
    counts = _row_counts(datasets / "fbl" / "FBL2023.tsv", MajorityRule.COARSE)
    assert counts == {"unrelated": 1701, "complementary": 631, "substitute": 411,
                      "no majority": 23, "blank": 34}


def test_fbl2024_dev_rows_reproduce_the_datasets_readme(datasets):
    counts = _row_counts(datasets / "fbl" / "FBL2024-dev.tsv", MajorityRule.COARSE)
    assert counts == {"substitute": 1421, "complementary": 228, "unrelated": 271, "no majority": 33}


def test_fbl2023_import_keeps_every_answer_and_agrees_with_the_file(datasets, cli, engine):
    """Every non-blank answer becomes one human label; pairs seen once keep their row's majority.

    FBL2023 repeats 79 rows (77 with the items swapped): the store holds one row per
    unordered pair and pools those repeats' votes, so it is checked pair by pair.
    """
    path = datasets / "fbl" / "FBL2023.tsv"
    result = cli("import", "labels", path, "--json")
    report = json.loads(result.stdout)
    rows = list(labelled_rows(path))
    answers = sum(len(row.answers) for row, _ in rows)
    assert report["labels_added"] == answers == 3 * 2800 - 136
    seen = Counter(frozenset((r.item_a.external_id, r.item_b.external_id)) for r, _ in rows)
    assert report["pairs_added"] == len(seen)

    with engine.connect() as conn:
        verified, _undecided = verified_labels(conn, MajorityRule.COARSE)
        urls = dict(conn.execute(select(Item.id, Item.external_id)).all())
        pair_of = {frozenset((urls[a], urls[b])): pid
                   for pid, a, b in conn.execute(select(Pair.id, Pair.item_a_id, Pair.item_b_id))}
        human = set(conn.execute(select(Label.source)).scalars())
    assert human == {"human"}
    checked = 0
    for row, label in rows:
        key = frozenset((row.item_a.external_id, row.item_b.external_id))
        if seen[key] == 1:
            stored = verified.get(pair_of[key])
            assert (stored.relation if stored else None) == (label.relation if label else None), row.line
            checked += 1
    assert checked == sum(1 for n in seen.values() if n == 1)

    again = json.loads(cli("import", "labels", path, "--json").stdout)
    assert (again["items_added"], again["pairs_added"], again["labels_added"]) == (0, 0, 0)


def test_bundlerec_import_separates_bundles_from_sessions(datasets, sqlite_cli, tmp_path):
    result = json.loads(sqlite_cli("import", "labels", datasets / "bundlerec" / "electronic", "--json").stdout)
    assert result["items_added"] > 3000
    assert result["labels_added"] > 5000  # within-bundle pairs (one label per bundle)
    assert result["behaviour_added"] > 5000  # shared-session pairs
    stats = json.loads(sqlite_cli("stats", "--json", "--min-agreeing", "1").stdout)
    assert set(stats["labels_by_source"]) == {"human"}
    assert set(stats["labels_by_source"]["human"]) == {"complementary"}
    assert stats["behaviour_by_kind"] == {"co_session": result["behaviour_added"]}

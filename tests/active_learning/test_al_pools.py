"""Candidate pools: KARL's stratified pairs, exclusion of known pairs, reproducible file splits."""

from __future__ import annotations

from collections import Counter

import pytest

from active_learning.pools import split_pair_file, stratified_pairs, without_keys
from classifier.data import read_pair_file
from store.errors import BadInput
from store.formats import detect_format
from store.formats.records import CatalogueItem

FBL_HEADER = ("ITEM_URL_1\tITEM_NAME_1\tITEM_URL_2\tITEM_NAME_2\tANNOTATOR1_ID\tANNOTATOR1_LABEL\t"
              "ANNOTATOR2_ID\tANNOTATOR2_LABEL\tANNOTATOR3_ID\tANNOTATOR3_LABEL\n")


def _catalogue() -> list[CatalogueItem]:
    items = []
    for major in ("Outdoor", "Office"):
        for minor in ("A", "B", "C"):
            items += [CatalogueItem(f"{major}-{minor}-{i}", f"{major} {minor} {i}", f"{major} > {minor}")
                      for i in range(8)]
    return items + [CatalogueItem("loose", "no category")]


def test_stratified_pairs_follow_karl():
    items = _catalogue()
    major = {i.key: i.major_category for i in items}
    pairs = stratified_pairs(items, per_category=3, partners=4, seed=1)
    assert len(pairs) == len(set(pairs)) and len(pairs) <= 6 * 3 * 4
    assert all(a < b for a, b in pairs)  # canonical, no self pairs
    assert all(major[a] == major[b] for a, b in pairs)  # partners from the same major category
    assert not any("loose" in pair for pair in pairs)
    queries_per_category = Counter(key.rsplit("-", 1)[0] for pair in pairs for key in pair)
    assert set(queries_per_category) == {f"{m}-{c}" for m in ("Outdoor", "Office") for c in "ABC"}
    assert stratified_pairs(items, 3, 4, seed=1) == pairs
    assert stratified_pairs(items, 3, 4, seed=2) != pairs


def test_known_pairs_and_their_mirrors_leave_the_pool(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("item_a,item_b,relation\nA,B,substitute\nC,D,\nE,F,\n")
    pool = read_pair_file(path)
    known = read_pair_file(_write(tmp_path / "known.csv", "item_a,item_b,relation\nD,C,unrelated\n"))
    assert [k[0][1] for k in without_keys(pool, known.keys).keys] == ["A", "E"]


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_split_is_stratified_reproducible_and_keeps_the_format(tmp_path):
    rows = [f"u{i}\tテント{i}\tv{i}\t寝袋{i}\t1\t{code}\t2\t{code}\t3\t8\n"
            for i, code in enumerate(["1"] * 20 + ["4"] * 20 + ["8"] * 40)]
    rows.append("u0\tテント0\tv0\t寝袋0\t4\t1\t5\t1\t6\t1\n")  # pair 0 again: it must follow pair 0
    source = _write(tmp_path / "FBL2023-mini.tsv", FBL_HEADER + "".join(rows))
    parts = split_pair_file(source, [0.75, 0.25], ["pool", "test"], tmp_path / "a", seed=3)
    again = split_pair_file(source, [0.75, 0.25], ["pool", "test"], tmp_path / "b", seed=3)
    assert [n for _p, n in parts] == [60, 20]
    assert [p.read_text() for p, _n in parts] == [p.read_text() for p, _n in again]
    pool, test = (read_pair_file(p) for p, _n in parts)
    assert detect_format(parts[0][0]) == "fbl2023"
    assert pool.classes() == {"substitute": 15, "complementary": 15, "unrelated": 30}
    assert test.classes() == {"substitute": 5, "complementary": 5, "unrelated": 10}
    assert not set(pool.keys) & set(test.keys)
    assert sum("u0\t" in p.read_text() for p, _n in parts) == 1
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["FBL2023-mini-pool.tsv", "FBL2023-mini-test.tsv"]


def test_split_shares_must_add_up(tmp_path):
    source = _write(tmp_path / "p.csv", "item_a,item_b,relation\nA,B,substitute\n")
    with pytest.raises(BadInput, match="add up to 1"):
        split_pair_file(source, [0.5, 0.2], ["a", "b"], tmp_path)
    with pytest.raises(BadInput, match="names must differ"):
        split_pair_file(source, [0.5, 0.5], ["a", "a"], tmp_path)

"""``pairloop import pairs``: unlabelled candidate pairs from csv, jsonl, FBL and BundleRec files,
a file's labels left out only on request, and said so (issue #18)."""

from __future__ import annotations

import json
import re

import pytest

from active_learning.pools import store_pool
from store.db import make_engine
from store.verified import MajorityRule

FBL_HEADER = ("ITEM_URL_1\tITEM_NAME_1\tITEM_URL_2\tITEM_NAME_2\tANNOTATOR1_ID\tANNOTATOR1_LABEL\t"
              "ANNOTATOR2_ID\tANNOTATOR2_LABEL\tANNOTATOR3_ID\tANNOTATOR3_LABEL\n")


def stats(cli) -> dict:
    return json.loads(cli("stats", "--json").stdout)


def imported(cli, *args: object) -> dict:
    return json.loads(cli("import", "pairs", *args, "--json").stdout)


def test_a_csv_of_pairs_becomes_the_pool_rounds_select_from(cli, db_url, tmp_path):
    path = tmp_path / "candidates.csv"
    path.write_text("item_a,item_b,title_a,title_b\nA,B,Dome tent,Sleeping bag\nB,C,Sleeping bag,Stove\n"
                    "C,A,Stove,Dome tent\n", encoding="utf-8")
    result = cli("import", "pairs", path)
    assert re.search(r"3 rows read; added 3 items, 3 pairs, 0 labels", " ".join(result.stdout.split()))
    counts = stats(cli)
    assert (counts["items_by_source"], counts["pairs"], counts["labels"]) == ({"catalog": 3}, 3, 0)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert len(store_pool(conn, MajorityRule.COARSE)) == 3
    finally:
        engine.dispose()
    again = imported(cli, path)
    assert (again["rows"], again["items_added"], again["pairs_added"], again["labels_ignored"]) == (3, 0, 0, 0)


def test_a_labelled_csv_is_refused_unless_its_labels_are_ignored_on_request(cli, tmp_path):
    path = tmp_path / "labelled.csv"
    path.write_text("item_a,item_b,relation\nA,B,\nB,C,substitute\nC,D,complementary\n", encoding="utf-8")
    result = cli("import", "pairs", path, expect=2)
    message = " ".join(result.stderr.split())
    assert f"{path}:3: this row has 1 label(s), and `import pairs` stores pairs without labels" in message
    assert "pass --ignore-labels" in message and "pairloop import labels" in message
    assert (stats(cli)["items"], stats(cli)["pairs"]) == (0, 0)  # the unlabelled row 2 was not kept either

    result = cli("import", "pairs", path, "--ignore-labels")
    assert "added 4 items, 3 pairs, 0 labels, 0 behaviour records; 2 labels in the file ignored" in " ".join(
        result.stdout.split())
    assert (stats(cli)["pairs"], stats(cli)["labels"]) == (3, 0)


def test_fbl_answers_are_ignored_on_request_and_counted(cli, tmp_path):
    path = tmp_path / "FBL2024-dev.tsv"
    path.write_text(FBL_HEADER
                    + "https://x/p/1/\tTent\thttps://x/p/2/\tTent 2\ta\t1\tb\t1\tc\t\n"
                    + "https://x/p/2/\tTent 2\thttps://x/p/3/\tStove\ta\t2\tb\t3\tc\t2\n", encoding="utf-8")
    result = cli("import", "pairs", path, expect=2)
    assert f"{path}:2: this row has 2 label(s)" in " ".join(result.stderr.split())
    report = imported(cli, path, "--ignore-labels")
    assert (report["items_added"], report["pairs_added"], report["labels_added"], report["labels_ignored"]) == (
        3, 2, 0, 5)
    assert stats(cli)["items_by_source"] == {"askul": 3}


def test_jsonl_pairs(cli, tmp_path):
    path = tmp_path / "candidates.jsonl"
    path.write_text('{"item_a": 7, "item_b": 8, "title_a": "Printer", "title_b": "Ink"}\n', encoding="utf-8")
    report = imported(cli, path, "--source", "shop")
    assert (report["items_added"], report["pairs_added"], report["labels_ignored"]) == (2, 1, 0)
    assert stats(cli)["items_by_source"] == {"shop": 2}


def test_bundlerec_bundles_become_candidates_on_request(cli, tmp_path):
    folder = tmp_path / "electronic"
    folder.mkdir()
    (folder / "item_titles.csv").write_text("item ID,titles\n1,Camera\n2,Battery\n3,Charger\n", encoding="utf-8")
    (folder / "item_categories.csv").write_text('item ID,categories\n1,"[[Electronics,Camera]]"\n',
                                                encoding="utf-8")
    (folder / "bundle_item.csv").write_text("bundle ID,item ID\nb1,1\nb1,2\nb1,3\n", encoding="utf-8")
    (folder / "session_item.csv").write_text("session ID,item ID\ns1,1\ns1,2\n", encoding="utf-8")
    result = cli("import", "pairs", folder, expect=2)
    assert "this row has 1 label(s)" in result.stderr
    report = imported(cli, folder, "--ignore-labels")
    assert (report["items_added"], report["pairs_added"], report["labels_ignored"], report["behaviour_added"]) == (
        3, 3, 3, 0)
    assert stats(cli)["items_by_source"] == {"bundlerec-electronic": 3}


def test_a_format_without_pairs_says_so(sqlite_cli, tmp_path):
    folder = tmp_path / "instacart"
    folder.mkdir()
    (folder / "products.csv").write_text("product_id,product_name,aisle_id,department_id\n1,Milk,1,1\n",
                                         encoding="utf-8")
    result = sqlite_cli("import", "pairs", folder, expect=2)
    assert "format instacart has no pairs (it has items and behaviour)" in result.stderr


@pytest.mark.datasets
def test_fbl2023_labels_then_fbl2024_dev_candidates_share_their_items(sqlite_cli, datasets, tmp_path):
    """The issue's walk on the real files: FBL2023 as seed labels, FBL2024-dev's pairs as
    unlabelled candidates; the 236 items the files share are stored once."""
    fbl = datasets / "fbl"
    sqlite_cli("import", "labels", fbl / "FBL2023.tsv")
    before = stats(sqlite_cli)
    report = imported(sqlite_cli, fbl / "FBL2024-dev.tsv", "--ignore-labels")
    assert (report["rows"], report["items_added"], report["pairs_added"]) == (1953, 2217 - 236, 1953)
    assert (report["labels_added"], report["labels_ignored"]) == (0, 5859)  # every non-blank answer of the file
    after = stats(sqlite_cli)
    assert after["items_by_source"] == {"askul": 2023 + 2217 - 236}
    assert (after["pairs"], after["labels"]) == (before["pairs"] + report["pairs_added"], before["labels"])

    # The same pairs as the CSV a user writes from the TSV (plain URLs, no source): refused, then mapped.
    rows = [line.split("\t") for line in (fbl / "FBL2024-dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    path = tmp_path / "candidates.csv"
    path.write_text("item_a,item_b\n" + "".join(f"{r[0]},{r[2]}\n" for r in rows), encoding="utf-8")
    result = sqlite_cli("import", "pairs", path, expect=2)
    assert "2,217 items would be added under the default source 'catalog'" in " ".join(result.stderr.split())
    report = imported(sqlite_cli, path, "--source", "askul")
    assert (report["items_added"], report["pairs_added"]) == (0, 0)
    assert stats(sqlite_cli)["items_by_source"] == {"askul": 2023 + 2217 - 236}


"""``pairloop graph recommend`` on a Japanese catalogue: items where verified labels support
them, and a reason (exit 0) when there are none; an item the snapshot does not know exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from knowledge_graph.entities import TITLE, Extraction, Mention
from knowledge_graph.graph import COMPLEMENTARY, build_graph
from knowledge_graph.records import Evidence
from knowledge_graph.snapshots import write_snapshot

URL = "https://www.askul.co.jp/p/{}/"
ITEMS = {
    "P1": "ゼブラ 油性ボールペン ジムノック 0.7mm 黒 10本",
    "P2": "三菱鉛筆 油性ボールペン ジェットストリーム 0.5mm 黒 10本",
    "P3": "パイロット ボールペン アクロボール 0.7mm 青 1本",
    "R1": "三菱鉛筆 ボールペン替芯 ジェットストリーム用 0.5mm 黒 10本",
    "R2": "ゼブラ ボールペン替え芯 ジムノック用 0.7mm 黒 10本",
    "R3": "パイロット 替芯 アクロボール用 0.7mm 青 1本",
    "S1": "スマイル 使い切りパイルスリッパ ネイビー 1袋（10足入）",
    "S2": "スマイル 使い切りパイルスリッパ ブラウン 1袋（10足入）",
    "S3": "アスクル パイルスリッパ グレー 1足（直送品）",
    "X": "ハヤブサ FS426-150-4 TG アカキン 1個",
}
# FBL2024 codes, three annotators agreeing: 1 substitute, 2 complementary, 3 other.
PAIRS = [("P1", "R2", 2), ("P2", "R1", 2), ("P3", "R3", 2), ("P1", "P2", 1), ("S1", "S2", 1), ("S2", "S3", 1),
         ("X", "P1", 3)]
HEADER = ("ITEM_URL_1\tITEM_NAME_1\tITEM_URL_2\tITEM_NAME_2\tANNOTATOR1_ID\tANNOTATOR1_LABEL\t"
          "ANNOTATOR2_ID\tANNOTATOR2_LABEL\tANNOTATOR3_ID\tANNOTATOR3_LABEL")


def key(item: str) -> str:
    return f"askul:{URL.format(item)}"


def fbl_file(folder: Path, pairs=PAIRS) -> Path:
    lines = [HEADER] + [f"{URL.format(a)}\t{ITEMS[a]}\t{URL.format(b)}\t{ITEMS[b]}\t1\t{code}\t2\t{code}\t3\t{code}"
                        for a, b, code in pairs]
    path = folder / "FBL2024-mini.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def as_json(result) -> dict:
    return json.loads(result.stdout)


def test_recommend_answers_with_items_or_says_why_not(cli, tmp_path):
    cli("import", "labels", fbl_file(tmp_path))
    entities = as_json(cli("graph", "entities", "--json"))
    assert entities["by_script"] == {"japanese": {"items": 10, "matched": 9, "coverage": 0.9}}
    cli("graph", "snapshot")

    pen = as_json(cli("graph", "recommend", key("P1"), "--json"))
    assert pen["entities"] == ["ボールペン"] and pen["reason"] is None and pen["explanation"] is None
    assert {row["item"] for row in pen["items"]} == {key("R1"), key("R2"), key("R3")}
    assert {tuple(row["entities"]) for row in pen["items"]} == {("替え芯",)}
    refill = as_json(cli("graph", "recommend", URL.format("R3"), "--json"))  # the external id alone will do
    assert {row["item"] for row in refill["items"]} == {key("P1"), key("P2"), key("P3")}

    slipper = as_json(cli("graph", "recommend", key("S3"), "--json"))  # only substitute edges
    assert slipper["items"] == [] and slipper["reason"] == "no_complementary_edge"
    assert "パイルスリッパ" in slipper["explanation"]
    assert "no complementary edge" in cli("graph", "recommend", key("S3")).stdout

    nameless = as_json(cli("graph", "recommend", key("X"), "--json"))
    assert nameless["entities"] == [] and nameless["reason"] == "no_entity"
    assert "graph entities --report" in cli("graph", "recommend", key("X")).stdout

    unknown = cli("graph", "recommend", key("NOPE"), expect=2).stderr
    assert f"unknown item '{key('NOPE')}'" in unknown and "v0001" in unknown

    # Three verified complementary pairs and no behaviour: nothing to learn a blend on, and it says so.
    few = cli("hybrid", "train", expect=2).stderr
    assert "too few verified complementary item pairs" in few and "--target behaviour" in few
    assert "too few behaviour pairs" in cli("hybrid", "train", "--target", "behaviour", expect=2).stderr


def test_an_item_imported_after_the_snapshot_is_unknown_with_a_hint(cli, tmp_path):
    cli("import", "labels", fbl_file(tmp_path, PAIRS[:3]))
    cli("graph", "entities")
    cli("graph", "snapshot")
    (tmp_path / "later").mkdir()
    cli("import", "labels", fbl_file(tmp_path / "later", PAIRS[4:6]))
    failed = cli("graph", "recommend", key("S1"), expect=2).stderr
    assert "not in snapshot v0001" in failed and "graph snapshot" in failed


def test_complementary_entities_without_other_items(cli, tmp_path):
    """An edge to an entity no other item maps to (a judged entity pair) offers no item."""
    extraction = Extraction({key("P1"): (Mention("ボールペン", TITLE),),
                             key("S1"): (Mention("パイルスリッパ", TITLE),)})
    graph, _ = build_graph(extraction, [Evidence("ボールペン", "替え芯", COMPLEMENTARY, kind="entity")])
    folder = tmp_path / "hand-made"
    write_snapshot(graph, folder, version="hand", parent_version=None, created_at="2026-12-05T00:00:00+00:00")
    cli("import", "labels", fbl_file(tmp_path, PAIRS[:1]))
    found = as_json(cli("graph", "recommend", key("P1"), "--snapshot", folder, "--json"))
    assert found["items"] == [] and found["reason"] == "no_candidate_items" and "替え芯" in found["explanation"]
    assert as_json(cli("graph", "recommend", key("S1"), "--snapshot", folder, "--json"))["reason"] == (
        "no_complementary_edge")

"""Japanese product titles: SudachiPy's compounds, head-final terms, brands, refills; coverage on FBL."""

from __future__ import annotations

import subprocess
import sys

import pytest

from knowledge_graph.entities import TITLE, EntityDictionary, Mention, build_dictionary, coverage_by_script, extract
from knowledge_graph.japanese import build_terms, is_japanese, title_runs
from knowledge_graph.records import CatalogueItem
from knowledge_graph.tagger import training_examples
from store.formats.fbl import guess_scheme, read_fbl
from tests.conftest import REPO

PENS = {
    "p1": "ゼブラ 油性ボールペン ジムノック 0.7mm 黒 10本",
    "p2": "三菱鉛筆 油性ボールペン ジェットストリーム 0.5mm 黒 10本",
    "p3": "パイロット ボールペン アクロボール 0.7mm 青 1本",
    "r1": "三菱鉛筆 ボールペン替芯 ジェットストリーム用 0.5mm 黒 10本",
    "r2": "ゼブラ ボールペン替え芯 ジムノック用 0.7mm 黒 10本",
    "r3": "パイロット 替芯 アクロボール用 0.7mm 青 1本",
    "s1": "スマイル 使い切りパイルスリッパ ネイビー 1袋（10足入）",
    "s2": "スマイル 使い切りパイルスリッパ ブラウン 1袋（10足入）",
    "s3": "アスクル パイルスリッパ グレー 1足（直送品）",
    "x": "ハヤブサ FS426-150-4 TG アカキン 1個",
}
TAPES = {
    "t1": "プラス 修正テープ ホワイパースライド 5mm",
    "t2": "コクヨ 修正テープ ケシピコ 5mm",
    "t3": "トンボ鉛筆 修正テープ モノYX 5mm",
    "t4": "プラス 修正テープ ホワイパースライド 詰め替えテープ 5mm",
    "t5": "トンボ鉛筆 修正テープ モノYX 詰め替えカートリッジ 6mm",
    "t6": "コクヨ 修正テープ ケシピコ 詰め替えタイプ 5mm",
    "k1": "コクヨ 領収証 B6 50枚",
    "k2": "コクヨ キャンパスノート B5",
    "k3": "コクヨ キャンパスノート A4",
}
# Japanese titles with a Latin brand: read as English, they put "heroe" in the dictionary.
TAGS = {f"h{n}": f"名札ケース チャック式 {n}0枚 HEROES オリジナル" for n in range(1, 4)}


def catalogue(titles: dict[str, str]) -> list[CatalogueItem]:
    return [CatalogueItem(key, title, None) for key, title in titles.items()]


def test_a_japanese_title_is_placed_under_its_head_noun():
    items = catalogue(PENS)
    extraction = extract(items, build_dictionary(items))
    # 油性ボールペン is a ボールペン: not the brand before it, nor the colour or the count after it.
    assert {extraction.entities_of(k) for k in ("p1", "p2", "p3")} == {("ボールペン",)}
    # 替芯 and 替え芯 are one word in two spellings: the pen's refill, one entity.
    assert {extraction.mentions[k] for k in ("r1", "r2", "r3")} == {(Mention("替え芯", TITLE),)}
    assert {extraction.entities_of(k) for k in ("s1", "s2", "s3")} == {("パイルスリッパ",)}
    assert extraction.entities_of("x") == ()  # a brand, a model code and a product line: nothing to name
    assert coverage_by_script(items, extraction) == {"japanese": {"items": 10, "matched": 9, "coverage": 0.9}}


def test_runs_stop_at_counters_particles_modifiers_and_latin_codes():
    def texts(title: str) -> list[str]:
        return [run.text for run in title_runs(title)]

    assert texts("エステー トイレの消臭力スプレー アップルミント") == ["エステー", "消臭力スプレー", "アップルミント"]
    # "1ケース" is a count and "1・2用" says what the cartridge is for.
    assert texts("ゼブラ 蛍光オプテックス1・2用カートリッジ ピンク RWK8-P 1ケース（3本入）") == [
        "ゼブラ", "蛍光オプテックス", "カートリッジ", "ピンク"]
    assert "ボールペン" not in texts("ボールペン替芯 ジェットストリーム単色ボールペン用 0.5mm 黒")
    # An unknown katakana word is cut where a known noun ends it; a long common noun shows its head.
    assert title_runs("アスクル ノック式ゲルインクボールペン 0.5mm")[-1].head == "ボールペン"
    assert title_runs("無印良品 撥水 ペン差し付きショルダーバッグ 黒")[2].head == "バッグ"


def test_brands_and_refills():
    items = catalogue(TAPES)
    dictionary = build_dictionary(items)
    extraction = extract(items, dictionary)
    assert {extraction.entities_of(k) for k in ("t1", "t2", "t3")} == {("修正テープ",)}
    # A refill is an entity of its own, so that an edge can join it to what it refills;
    # a refillable body ("詰め替えタイプ") is the product itself.
    assert {extraction.entities_of(k) for k in ("t4", "t5")} == {("修正テープ(詰め替え)",)}
    assert extraction.entities_of("t6") == ("修正テープ",)
    # コクヨ opens every title, is never modified and is a proper noun: a brand, not what k1–k3 are.
    assert "コクヨ" in dictionary.japanese.brands and "コクヨ" not in dictionary.japanese.terms
    assert {extraction.entities_of(k) for k in ("k1", "k2", "k3")} == {()}


def test_latin_titles_keep_their_path_in_a_mixed_catalogue(gadgets):
    mixed = gadgets + catalogue(TAGS)
    dictionary = build_dictionary(mixed)
    assert "heroe" not in dictionary.terms  # Japanese titles no longer feed the English dictionary
    alone = extract(gadgets, build_dictionary(gadgets)).mentions
    assert {k: v for k, v in extract(mixed, dictionary).mentions.items() if k in alone} == alone
    assert not any(is_japanese(item.title) for item in gadgets) and all(is_japanese(t) for t in TAGS.values())


def test_the_english_tagger_neither_trains_on_nor_tags_japanese_titles():
    assert training_examples(catalogue(TAGS), EntityDictionary(terms=frozenset({"heroe"}))) == []


def test_sudachipy_is_loaded_by_the_first_japanese_title_only():
    code = (
        "import sys\n"
        "import pairloop.cli\n"
        "from knowledge_graph.entities import build_dictionary, extract\n"
        "from knowledge_graph.records import CatalogueItem\n"
        "items = [CatalogueItem('s:1', 'EN-EL15 Battery Charger', None)]\n"
        "extract(items, build_dictionary(items))\n"
        "assert 'sudachipy' not in sys.modules, 'loaded without a Japanese title'\n"
        "items.append(CatalogueItem('s:2', 'ゼブラ 油性ボールペン 黒', None))\n"
        "extract(items, build_dictionary(items))\n"
        "assert 'sudachipy' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def fbl_items(datasets) -> list[CatalogueItem]:
    found = {}
    for name in ("FBL2023.tsv", "FBL2024-dev.tsv"):
        path = datasets / "fbl" / name
        for row in read_fbl(path, guess_scheme(path)):
            for record in (row.item_a, row.item_b):
                found[record.external_id] = CatalogueItem(record.external_id, record.title, None)
    return list(found.values())


@pytest.mark.datasets
def test_fbl_items_are_placed(datasets):
    items = fbl_items(datasets)
    extraction = extract(items, build_dictionary(items))
    report = extraction.report()
    assert report["items"] == 4004 and report["coverage"] >= 0.8  # see docs/results/fbl-entities/README.md
    assert 300 < report["entities"] < report["items"] / 4  # concepts, not one entity per item
    by_title = {item.title: extraction.entities_of(item.key) for item in items}
    refills = [e for title, e in by_title.items() if title.startswith("ボールペン替芯")]
    assert refills and all(e and e[0].endswith("替え芯") for e in refills)
    pens = [e for title, e in by_title.items() if title.startswith("油性ボールペン ")]
    assert pens and all(e and e[0].endswith("ボールペン") for e in pens)


@pytest.mark.datasets
def test_split_mode_c_keeps_brand_names_whole(datasets):
    titles = [item.title for item in fbl_items(datasets)]
    dictionaries = {mode: build_terms(titles, mode=mode) for mode in ("B", "C")}
    pencils = {mode: sum(d.term(t) == "鉛筆" for t in titles) for mode, d in dictionaries.items()}
    # Mode B reads 三菱鉛筆 and トンボ鉛筆 as 三菱|鉛筆: every item of theirs becomes a pencil.
    assert pencils["B"] > 100 > 10 > pencils["C"]

"""``pairloop simulate`` and ``pairloop pool``: the DESIGN.md contract, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json

import pytest

from pairloop.settings import get_settings

JAPANESE_POOL = ("item_a,item_b,title_a,title_b\n"
                 "J1,J2,池田工業社 けんだま 45670,池田工業社 けん玉 サムライ ブルー\n"
                 "J3,J4,油性ボールペン ジェットストリーム単色,ゲルインクボールペン サラサクリップ\n")


def _simulate(cli, sample, split, out, *extra, expect=0):
    return cli("simulate", "--seed-labels", sample.seed_labels, "--pool", split["pool"], "--test", split["test"],
               "--out", out, *extra, expect=expect)


def test_simulate_writes_the_contracted_curve(sqlite_cli, sample, sample_split, tmp_path):
    out = tmp_path / "sim"
    _simulate(sqlite_cli, sample, sample_split, out, "--strategy", "margin", "--rounds", "3", "--batch-size", "10",
              "--seed", "5")
    curve = json.loads((out / "curve.json").read_text())
    assert curve["strategy"] == "margin" and curve["seed"] == 5
    assert [p["round"] for p in curve["points"]] == [0, 1, 2, 3]
    assert [p["labels"] for p in curve["points"]] == [0, 10, 20, 30]
    assert all(0.0 <= p["macro_f1"] <= 1.0 for p in curve["points"])
    assert (out / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["curve.json", "curve.png"]


def test_several_strategies_and_repeats_share_seeds_and_show_the_spread(sqlite_cli, sample, sample_split, tmp_path):
    out = tmp_path / "sim"
    result = _simulate(sqlite_cli, sample, sample_split, out, "--strategy", "dynamic,random", "--rounds", "2",
                       "--batch-size", "10", "--repeats", "2", "--id-test", sample_split["test"])
    curve = json.loads((out / "curve.json").read_text())
    assert curve["strategy"] == "dynamic" and curve["seeds"] == [0, 1]
    assert set(curve["strategies"]) == {"dynamic", "random"}
    for name in ("dynamic", "random"):
        runs = curve["strategies"][name]["runs"]
        assert [run["seed"] for run in runs] == [0, 1]
        assert runs[0]["points"][0]["macro_f1"] == curve["strategies"]["random"]["runs"][0]["points"][0]["macro_f1"]
        last = curve["strategies"][name]["points"][-1]
        assert last["macro_f1_min"] <= last["macro_f1"] <= last["macro_f1_max"]
        assert "id_macro_f1" in last
    assert "shift" in curve["strategies"]["dynamic"]["runs"][0]["points"][1]
    assert "| dynamic |" in result.stdout and "rounds below random" in result.stdout


@pytest.mark.parametrize(("case", "message"), [
    ("japanese_pool", "the pool shares no items with the featuriser's vocabulary"),
    ("empty_pool", "the pool is empty"),
    ("batch_too_large", "a batch of 5000 pairs is larger than the pool"),
    ("one_class_test", "the test file has a single class"),
    ("unknown_strategy", "unknown strategy 'cleverest'"),
])
def test_bad_input_exits_2_and_writes_nothing(sqlite_cli, sample, sample_split, tmp_path, case, message):
    split = dict(sample_split)
    extra = ["--rounds", "1", "--batch-size", "10"]
    if case == "japanese_pool":
        extra = ["--rounds", "1", "--batch-size", "1"]
        split["pool"] = tmp_path / "pool.csv"
        split["pool"].write_text(JAPANESE_POOL, encoding="utf-8")
    elif case == "empty_pool":
        split["pool"] = tmp_path / "pool.csv"
        split["pool"].write_text("item_a,item_b,relation\n")
    elif case == "batch_too_large":
        extra = ["--batch-size", "5000"]
    elif case == "one_class_test":
        lines = sample.truth.read_text().splitlines()
        split["test"] = tmp_path / "test.csv"
        split["test"].write_text("\n".join([lines[0]] + [x for x in lines if ",unrelated," in x][:30]) + "\n")
    else:
        extra += ["--strategy", "margin,cleverest"]
    out = tmp_path / "sim"
    result = _simulate(sqlite_cli, sample, split, out, *extra, expect=2)
    assert message in result.stderr
    if case in ("japanese_pool", "empty_pool"):
        assert str(split["pool"]) in result.stderr
    assert not out.exists()


def test_pool_build_writes_karls_pairs_once(cli, sample):
    cli("import", "items", sample.catalogue)
    first = json.loads(cli("pool", "build", "--per-category", "5", "--partners", "4", "--json").stdout)
    assert first["items"] == 300 and first["candidates"] == first["pairs_added"] > 0
    again = json.loads(cli("pool", "build", "--per-category", "5", "--partners", "4", "--json").stdout)
    assert again["pairs_added"] == 0


def test_pool_build_needs_categories(cli, tmp_path):
    catalogue = tmp_path / "items.csv"
    catalogue.write_text("external_id,title\nA,tent\nB,sleeping bag\n")
    cli("import", "items", catalogue)
    assert "no items with a category path" in cli("pool", "build", expect=2).stderr


def test_pool_split_cli(sqlite_cli, sample, tmp_path):
    parts = json.loads(sqlite_cli("pool", "split", sample.truth, "--shares", "0.9,0.1", "--names", "a,b",
                                  "--out-dir", tmp_path, "--json").stdout)
    assert [p["pairs"] for p in parts] == [2700, 300]
    assert "add up to 1" in sqlite_cli("pool", "split", sample.truth, "--shares", "0.9,0.2",
                                       "--out-dir", tmp_path, expect=2).stderr


def test_help_texts_name_every_strategy_and_encoder():
    """The help texts name them without importing the engines; they must not drift apart."""
    from active_learning.strategies import STRATEGIES
    from classifier.encoders import ENCODERS
    from pairloop.usecases.simulation import STRATEGY_NAMES
    from pairloop.usecases.training import FEATURE_NAMES

    assert STRATEGY_NAMES.split(", ") == list(STRATEGIES)
    assert FEATURE_NAMES.split(", ") == list(ENCODERS)


@pytest.fixture(autouse=True)
def _fresh_settings():
    yield
    get_settings.cache_clear()

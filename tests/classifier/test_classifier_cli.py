"""``pairloop train`` and ``pairloop evaluate`` against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from test_classifier_features import JAPANESE

from pairloop.settings import get_settings


@pytest.fixture
def one_annotator(monkeypatch):
    """The sample files carry one answer per pair: let one agreeing answer verify a label."""
    monkeypatch.setenv("PAIRLOOP_MIN_AGREEING", "1")
    get_settings.cache_clear()


def test_train_then_evaluate_writes_metrics_and_confusion_matrix(cli, one_annotator, sample, tmp_path):
    cli("import", "labels", sample.seed_labels)
    trained = json.loads(cli("train", "--json", "--cv", "3").stdout)
    assert trained["version"].startswith("c0001-")
    assert trained["n_labels"] == 30
    assert trained["metrics"]["classes"] == {"complementary": 10, "substitute": 10, "unrelated": 10}
    assert 0.0 <= trained["metrics"]["cv"]["macro_f1"] <= 1.0

    out = tmp_path / "eval"
    report = json.loads(cli("evaluate", "--test", sample.truth, "--out", out, "--json").stdout)
    assert report["version"] == trained["version"]
    assert report["n"] == 3000
    assert set(report["per_class"]) == {"complementary", "substitute", "unrelated"}
    assert sum(map(sum, report["confusion"]["matrix"])) == 3000
    assert report["macro_f1"] > 0.6, report  # 30 seed labels; chance is about 0.33
    assert json.loads((out / "metrics.json").read_text())["macro_f1"] == report["macro_f1"]
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "metrics.json"]


def test_evaluate_refuses_a_one_class_test_file_and_writes_nothing(cli, one_annotator, sample, tmp_path):
    cli("import", "labels", sample.seed_labels)
    cli("train")
    one_class = tmp_path / "one_class.csv"
    lines = sample.truth.read_text().splitlines()
    one_class.write_text("\n".join([lines[0]] + [x for x in lines[1:] if ",substitute," in x][:20]) + "\n")
    out = tmp_path / "eval"
    result = cli("evaluate", "--test", one_class, "--out", out, expect=2)
    assert "one_class.csv" in result.stderr and "single class, substitute (20)" in result.stderr
    assert not out.exists()


def test_evaluate_refuses_a_test_file_in_another_language(cli, one_annotator, sample, tmp_path):
    cli("import", "labels", sample.seed_labels)
    cli("train")
    japanese = tmp_path / "ja.csv"
    rows = [f"J{i},J{i + 1},{JAPANESE[i]},{JAPANESE[i + 1]},{rel}"
            for i, rel in zip(range(0, 6, 2), ["substitute", "substitute", "unrelated"], strict=True)]
    japanese.write_text("item_a,item_b,title_a,title_b,relation\n" + "\n".join(rows) + "\n")
    result = cli("evaluate", "--test", japanese, "--out", tmp_path / "eval", expect=2)
    assert "shares no items with the featuriser's vocabulary" in result.stderr
    assert not (tmp_path / "eval").exists()


def test_train_without_labels_is_a_clear_error(cli):
    result = cli("train", expect=2)
    assert "has no labelled pairs" in result.stderr

"""``pairloop labels suspects``: verified labels flipped on purpose in the store are flagged, and
flagging changes nothing in the store (SQLite and PostgreSQL); ``--by-annotator`` points at the
annotator whose answers are wrong most often."""

from __future__ import annotations

import csv
import json

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import aliased
from support.noisy_labels import truth_rows, write_noisy_labels

from classifier.label_errors import detection
from pairloop.sample.catalogue import write_sample
from pairloop.settings import get_settings
from store.db import make_engine
from store.models import Item, Pair
from store.taxonomy import RELATIONS


def write_noisy_labels_file(tmp_path, pairs: int = 300, share: float = 0.1) -> tuple:
    """The sample catalogue's noisy labels file (:func:`support.noisy_labels.write_noisy_labels`) and
    each pair's (given, true) label by its item ids."""
    path = tmp_path / "labels.csv"
    return path, write_noisy_labels(write_sample(tmp_path / "sample").truth, path, pairs, share)


def pair_items(db_url: str) -> dict[int, frozenset]:
    """Each stored pair's two items (their external ids) by pair id."""
    a, b = aliased(Item), aliased(Item)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Pair.id, a.external_id, b.external_id)
                                .join(a, Pair.item_a_id == a.id).join(b, Pair.item_b_id == b.id))
            return {pid: frozenset((x, y)) for pid, x, y in rows}
    finally:
        engine.dispose()


def test_suspects_flags_the_flipped_verified_labels_and_changes_nothing(cli, db_url, tmp_path):
    path, labels = write_noisy_labels_file(tmp_path)
    cli("import", "labels", path)
    before = cli("stats", "--json").stdout
    result = json.loads(cli("labels", "suspects", "--folds", "4", "--json").stdout)
    assert cli("stats", "--json").stdout == before  # no label added, no verified label changed

    assert result["verified"] == 300 and result["folds"] == 4 and result["ranked_by"] == "self_confidence"
    assert result["flagged"] == len(result["suspects"]) > 0
    items = pair_items(db_url)
    wrong = [pid for pid, ends in items.items() if labels[ends][0] != labels[ends][1]]
    found = detection([s["pair_id"] for s in result["suspects"]], wrong)
    assert found.wrong == 30 and found.precision >= 0.7 and found.recall >= 0.7, found
    for suspect in result["suspects"]:
        given, true = labels[items[suspect["pair_id"]]]
        assert suspect["given"] == given and 0.0 <= suspect["quality"] <= 1.0
    assert [s["quality"] for s in result["suspects"]] == sorted(s["quality"] for s in result["suspects"])

    table = cli("labels", "suspects", "--folds", "4", "--limit", "3").stdout
    assert f"{result['flagged']} of 300 verified labels flagged" in " ".join(table.split())


def write_annotators(tmp_path, error_rates: dict[str, float], pairs: int = 300, everyone: bool = False) -> tuple:
    """``pairs`` of the sample's truth, each answered by one annotator in turn (``everyone``: by
    all), each answer wrong (another relation) with its annotator's error rate: the labels file,
    and the wrong answers per annotator."""
    rng = np.random.default_rng(1)
    path, wrong = tmp_path / "annotators.csv", dict.fromkeys(error_rates, 0)
    rows = truth_rows(write_sample(tmp_path / "sample").truth, pairs)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        for index, row in enumerate(rows):
            for actor in list(error_rates) if everyone else [list(error_rates)[index % len(error_rates)]]:
                answer = row
                if rng.random() < error_rates[actor]:
                    other = str(rng.choice([r for r in RELATIONS if r != row["relation"]]))
                    answer, wrong[actor] = {**row, "relation": other, "fine_code": ""}, wrong[actor] + 1
                writer.writerow({**answer, "actor": actor})
    return path, wrong


def test_by_annotator_points_at_the_noisiest_annotator(sqlite_cli, tmp_path, monkeypatch):
    """One answer per pair (a single annotator verifies): the flags doubt the noisy annotator's
    answers far more often than the others'."""
    monkeypatch.setenv("PAIRLOOP_MIN_AGREEING", "1")
    get_settings.cache_clear()
    path, _wrong = write_annotators(tmp_path, {"ada": 0.0, "ben": 0.03, "cleo": 0.3})
    sqlite_cli("import", "labels", path)
    result = json.loads(sqlite_cli("labels", "suspects", "--folds", "4", "--by-annotator", "--json").stdout)

    rows = {row["actor"]: row for row in result["annotators"]}
    assert [row["actor"] for row in result["annotators"]][0] == "cleo" and set(rows) == {"ada", "ben", "cleo"}
    assert all(row["answers"] == 100 and row["against_verified"] == 0 for row in rows.values())
    assert sum(row["on_flagged"] for row in rows.values()) == result["flagged"]
    cleo, others = rows["cleo"], [rows["ada"], rows["ben"]]
    assert all(cleo["doubted_share"] >= 2 * row["doubted_share"] for row in others), rows
    assert all(cleo["same_as_flagged"] >= 2 * row["same_as_flagged"] for row in others), rows
    assert cleo["doubted_share"] == round(cleo["against_suggestion"] / cleo["answers"], 4)

    plain = json.loads(sqlite_cli("labels", "suspects", "--folds", "4", "--json").stdout)
    assert plain["annotators"] is None and plain["suspects"] == result["suspects"]  # the kept flagging
    table = " ".join(sqlite_cli("labels", "suspects", "--folds", "4", "--by-annotator", "--limit", "1").stdout.split())
    assert "per annotator, most doubted first" in table and "cleo" in table
    message = " ".join(sqlite_cli("labels", "suspects", "--by-annotator", "--send", expect=2).stderr.split())
    assert "--by-annotator reports on the flags" in message


def test_by_annotator_where_a_majority_outvotes_the_noisy_annotator(sqlite_cli, tmp_path):
    """Three answers a pair, two agreeing needed: the noisy annotator's wrong answers are outvoted,
    so they show as answers against the verified label, and the flags' verified labels are the
    careful annotators' answers."""
    path, wrong = write_annotators(tmp_path, {"ada": 0.0, "ben": 0.0, "cleo": 0.3}, pairs=200, everyone=True)
    sqlite_cli("import", "labels", path)
    result = json.loads(sqlite_cli("labels", "suspects", "--folds", "4", "--by-annotator", "--json").stdout)

    rows = {row["actor"]: row for row in result["annotators"]}
    assert result["verified"] == 200 and all(row["answers"] == 200 for row in rows.values())
    assert {actor: row["against_verified"] for actor, row in rows.items()} == wrong and wrong["cleo"] > 40
    for careful in (rows["ada"], rows["ben"]):
        assert careful["on_flagged"] == careful["same_as_flagged"] == careful["against_suggestion"] == result["flagged"]


def test_suspects_needs_enough_labels_per_fold(cli, tmp_path):
    assert "no labelled pairs" in cli("labels", "suspects", expect=2).stderr
    path, _labels = write_noisy_labels_file(tmp_path, pairs=12, share=0.0)
    cli("import", "labels", path)
    message = " ".join(cli("labels", "suspects", "--folds", "10", expect=2).stderr.split())
    assert "10 folds need at least 10 labels per relation" in message


def test_noise_experiment_command_writes_its_results(sqlite_cli, tmp_path):
    """The command on a labelled file (no store involved): one run per share, seed and ranking."""
    sample = write_sample(tmp_path / "sample")
    part = tmp_path / "truth-head.csv"
    part.write_text("".join(sample.truth.read_text(encoding="utf-8").splitlines(keepends=True)[:601]),
                    encoding="utf-8")
    out = tmp_path / "out"
    result = json.loads(sqlite_cli("labels", "noise-experiment", "--input", part, "--shares", "0.1,0.2",
                                   "--seeds", "3", "--folds", "3", "--out", out, "--json").stdout)
    assert result["labelled"] == 600 and result["json"] == str(out / "results.json")
    assert [(r["share"], r["seed"], r["ranked_by"]) for r in result["runs"]] == [
        (share, 3, ranking) for share in (0.1, 0.2) for ranking in ("self_confidence", "normalized_margin")]
    assert json.loads((out / "results.json").read_text(encoding="utf-8")) == result
    assert all(r["wrong"] == round(r["share"] * 600) and r["recall"] >= 0.7 for r in result["runs"])
    message = " ".join(sqlite_cli("labels", "noise-experiment", "--input", part, "--shares", "ten",
                                  "--out", out, expect=2).stderr.split())
    assert "--shares takes comma-separated numbers, got 'ten'" in message

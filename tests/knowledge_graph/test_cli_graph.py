"""``pairloop graph ...``, ``gnn train``, ``eei train`` on SQLite and PostgreSQL, with real BundleRec data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.knowledge_graph.conftest import item_of_entity

pytestmark = pytest.mark.datasets


def as_json(result):
    return json.loads(result.stdout)


def test_entities_build_snapshot_diff_recommend(cli, small_bundlerec, tmp_path):
    cli("import", "labels", small_bundlerec)
    entities = as_json(cli("graph", "entities", "--report", "--json"))
    assert entities["coverage"] >= 0.85 and entities["links"] >= entities["matched"]
    assert len(entities["unmatched_items"]) == entities["items"] - entities["matched"]

    # BundleRec bundles are one annotator's answer each: one agreeing answer verifies them.
    built = as_json(cli("graph", "build", "--min-agreeing", 1, "--json"))
    assert built["edges_complementary"] > 50 and built["edges_verified"] == built["edges"]
    assert built["heaviest"][0]["sources"] == {"human": built["heaviest"][0]["sources"]["human"]}
    # The default rule wants two agreeing answers: only pairs found in two bundles qualify.
    strict = as_json(cli("graph", "build", "--json"))
    assert 0 < strict["evidence_used"] < built["evidence_used"]

    first = as_json(cli("graph", "snapshot", "--out", tmp_path / "s1", "--min-agreeing", 1, "--json"))
    assert first["version"] == "v0001" and first["parent_version"] is None
    assert first["label_set_hash"] == built["label_set_hash"] and first["counts"]["edges"] == built["edges"]
    before = {p.name: p.read_bytes() for p in (tmp_path / "s1").iterdir()}
    refused = cli("graph", "snapshot", "--out", tmp_path / "s1", "--min-agreeing", 1, expect=2)
    assert "immutable" in refused.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "s1").iterdir()} == before
    cli("graph", "snapshot", "--out", tmp_path / "s2", "--version", "v0001", "--min-agreeing", 1, expect=2)
    assert not (tmp_path / "s2").exists()

    second = as_json(cli("graph", "snapshot", "--out", tmp_path / "s2", "--min-agreeing", 1, "--json"))
    assert second["version"] == "v0002" and second["parent_version"] == "v0001"
    assert second["checksum"] == first["checksum"]  # same labels, same content
    diff = as_json(cli("graph", "diff", "v0001", tmp_path / "s2", "--json"))
    assert diff["identical"] and diff["edges_added"] == []
    listed = as_json(cli("graph", "snapshots", "--json"))
    assert [s["version"] for s in listed] == ["v0002", "v0001"]

    trigger = next(e["a"] for e in built["heaviest"])
    snapshot = as_json(cli("graph", "recommend", item_of_entity(tmp_path / "s2", trigger), "--k", 5, "--json"))
    assert snapshot["snapshot"] == "v0002" and snapshot["ranked_by"] == "graph"
    assert 0 < len(snapshot["items"]) <= 5 and snapshot["item"] not in {r["item"] for r in snapshot["items"]}
    assert cli("graph", "recommend", "no-such-item", expect=2).stderr.count("unknown item") == 1

    corrupted = tmp_path / "s2" / "edges.jsonl"
    corrupted.chmod(0o644)
    corrupted.write_text(corrupted.read_text().replace("complementary", "substitute", 1))
    failed = cli("graph", "recommend", snapshot["item"], "--snapshot", "v0002", expect=2)
    assert "checksum mismatch" in failed.stderr and "edges.jsonl" in failed.stderr


def test_entity_pairs_are_stored_once_as_pairs(cli, small_bundlerec):
    cli("import", "labels", small_bundlerec)
    cli("graph", "entities")
    made = as_json(cli("graph", "pairs", "--head-head-cap", 10, "--per-tail", 1, "--tail-tail-cap", 5, "--json"))
    assert made["by_segment"]["head×head"] == 10 and made["by_segment"]["tail×tail"] == 5
    stats = as_json(cli("stats", "--json"))
    again = as_json(cli("graph", "pairs", "--head-head-cap", 10, "--per-tail", 1, "--tail-tail-cap", 5, "--json"))
    assert again["pairs"] == made["pairs"]
    assert as_json(cli("stats", "--json"))["pairs"] == stats["pairs"]  # the same pairs, not new ones


def test_bad_input_is_exit_2(cli, tmp_path):
    assert "catalogue is empty" in cli("graph", "entities", expect=2).stderr
    assert "graph entities" in cli("graph", "build", expect=2).stderr
    assert "no graph snapshot yet" in cli("graph", "recommend", "x", expect=2).stderr
    assert "no GNN" not in cli("eei", "train", expect=2).stderr  # no snapshot comes first
    assert not (tmp_path / "data" / "snapshots").exists()


@pytest.mark.slow
def test_gnn_and_eei_train_then_rank_recall(sqlite_cli, small_bundlerec, tmp_path):
    cli = sqlite_cli
    cli("import", "labels", small_bundlerec)
    cli("graph", "entities")
    cli("graph", "snapshot", "--min-agreeing", 1)
    assert "gnn train" in cli("eei", "train", "--min-agreeing", 1, expect=2).stderr
    gnn = as_json(cli("gnn", "train", "--epochs", 15, "--json"))
    assert gnn["last_loss"] < gnn["first_loss"] <= gnn["chance_loss"] + 0.5
    eei = as_json(cli("eei", "train", "--epochs", 4, "--min-agreeing", 1, "--json"))
    assert eei["taken"] > 0 and eei["exposures"] > eei["taken"]
    assert eei["loss"][-1] < eei["loss"][0]
    sampled = as_json(cli("eei", "train", "--epochs", 1, "--min-agreeing", 1, "--max-exposures", 100, "--json"))
    assert sampled["taken"] > 0 and sampled["exposures"] < eei["exposures"]
    item = as_json(cli("graph", "build", "--min-agreeing", 1, "--json"))["heaviest"][0]["a"]
    snap = tmp_path / "data" / "snapshots" / "v0001"
    ranked = as_json(cli("graph", "recommend", item_of_entity(snap, item), "--json"))
    assert ranked["ranked_by"] == "graph+eei" and ranked["items"]
    scores = [r["score"] for r in ranked["items"]]
    assert scores == sorted(scores, reverse=True)
    by_title = as_json(cli("graph", "recommend", ranked["item"], "--route", "title-similarity", "--json"))
    assert by_title["ranked_by"] == "title-similarity" and by_title["items"]
    assert ranked["item"] not in {r["item"] for r in by_title["items"]}
    assert [r["item"] for r in by_title["items"]] != [r["item"] for r in ranked["items"]]
    assert "unknown route" in cli("graph", "recommend", ranked["item"], "--route", "magic", expect=2).stderr


@pytest.mark.llm
@pytest.mark.slow
def test_entity_pairs_get_llm_proposals(sqlite_cli, small_bundlerec, monkeypatch):
    monkeypatch.setenv("PAIRLOOP_LLM_MODEL_CACHE", str(Path(os.environ.get(
        "PAIRLOOP_TEST_MODEL_CACHE", REPO / ".pairloop" / "test-models"))))
    monkeypatch.setenv("PAIRLOOP_LLM_VOTES", "1")
    sqlite_cli("import", "labels", small_bundlerec)
    sqlite_cli("graph", "entities")
    made = as_json(sqlite_cli("graph", "pairs", "--head-head-cap", 3, "--per-tail", 0, "--tail-tail-cap", 0,
                              "--propose", "--json"))
    assert made["pairs"] == 3 and sum(v for k, v in made["proposals"].items() if k != "auto_accepted") == 3
    assert made["proposals"]["auto_accepted"] == 0  # no trust gate was fitted: humans verify
    unverified = as_json(sqlite_cli("graph", "build", "--min-agreeing", 1, "--include-unverified", "--json"))
    verified = as_json(sqlite_cli("graph", "build", "--min-agreeing", 1, "--json"))
    assert unverified["evidence"] >= verified["evidence"]
    again = as_json(sqlite_cli("graph", "pairs", "--head-head-cap", 3, "--per-tail", 0, "--tail-tail-cap", 0, "--json"))
    assert again["already_judged"] >= made["proposals"].get("agreed", 0) + made["proposals"].get("disputed", 0)

"""``pairloop hybrid train`` and ``graph recommend --route hybrid`` on real BundleRec data (SQLite).

The blend is learnt on pairs the routes never saw: the held-out pairs leave the graph's evidence
and what E-E-I learns as taken, and half of their triggers teach while the other half measure.
"""

from __future__ import annotations

import json

import pytest

from pairloop.usecases.hybrid import _halves, _hold_out
from tests.knowledge_graph.conftest import item_of_entity


def as_json(result):
    return json.loads(result.stdout)


def test_hold_out_is_seeded_and_halves_never_share_a_pair():
    pairs = {frozenset((f"i:{a}", f"i:{b}")) for a in range(30) for b in range(a + 1, a + 4)}
    held = _hold_out(pairs, 0.2, seed=3)
    assert held == _hold_out(pairs, 0.2, seed=3) != _hold_out(pairs, 0.2, seed=4)
    assert len(held) == round(len(pairs) * 0.2) and held <= pairs
    teach, measure = _halves(held, seed=3, limit=1000)

    def pairs_of(half):
        return {frozenset((trigger, partner)) for trigger, partners in half.items() for partner in partners}

    assert pairs_of(teach) and pairs_of(measure) and not pairs_of(teach) & pairs_of(measure)
    assert pairs_of(teach) | pairs_of(measure) == held
    few, _other = _halves(held, seed=3, limit=4)
    assert len(few) == 4 and few.items() <= teach.items()


@pytest.mark.datasets
@pytest.mark.slow
def test_hybrid_is_learnt_measured_and_served(sqlite_cli, small_bundlerec, tmp_path):
    cli = sqlite_cli
    cli("import", "labels", small_bundlerec)
    cli("graph", "entities")
    cli("graph", "snapshot", "--min-agreeing", 1)
    entity = as_json(cli("graph", "build", "--min-agreeing", 1, "--json"))["heaviest"][0]["a"]
    asked = item_of_entity(tmp_path / "data" / "snapshots" / "v0001", entity)
    refused = cli("graph", "recommend", asked, "--route", "hybrid", expect=2).stderr
    assert "no hybrid blend" in refused and "hybrid train" in refused
    # The snapshot was taken with one agreeing answer; under the default rule its labels differ.
    assert "no longer give snapshot v0001" in cli("hybrid", "train", expect=2).stderr

    later = tmp_path / "later.csv"  # an item imported after the snapshot is none of its business
    later.write_text("external_id,title\nnew-1,USB-C Charging Cable 2m\n")
    cli("import", "items", later)
    cli("graph", "entities")
    trained = as_json(cli("hybrid", "train", "--min-agreeing", 1, "--gnn-epochs", 5, "--eei-epochs", 2, "--json"))
    assert trained["target"] == "verified" and trained["snapshot"] == "v0001"
    assert trained["held_out_pairs"] == round(trained["target_pairs"] * 0.2)
    assert min(trained["blend_triggers"], trained["measured_triggers"]) >= 10
    assert set(trained["measured"]) == {"popularity", "cooccurrence", "title-similarity", "graph", "graph+eei",
                                        "hybrid"}
    assert all(0.0 <= f["recall@10"] <= 1.0 for f in trained["measured"].values())

    served = as_json(cli("graph", "recommend", asked, "--k", 5, "--json"))
    assert served["ranked_by"] == "hybrid" and len(served["items"]) == 5
    assert asked not in {row["item"] for row in served["items"]}
    scores = [row["score"] for row in served["items"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    graph_only = as_json(cli("graph", "recommend", asked, "--route", "graph", "--json"))
    assert graph_only["ranked_by"] == "graph"

    behaviour = as_json(cli("hybrid", "train", "--min-agreeing", 1, "--target", "behaviour", "--gnn-epochs", 5,
                            "--eei-epochs", 2, "--json"))
    assert behaviour["target"] == "behaviour" and behaviour["target_pairs"] > trained["target_pairs"]
    assert "choose verified or behaviour" in cli("hybrid", "train", "--target", "clicks", expect=2).stderr

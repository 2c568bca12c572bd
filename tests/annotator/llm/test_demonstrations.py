"""Retrieved demonstrations: the nearest human-verified pairs, shown in each vote's frame, and
never one of the pairs being asked about."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from annotator.llm.base import PairText
from annotator.llm.demonstrations import Demonstration, LeakedDemonstration, neighbours_vote, retrieve
from annotator.llm.pairs import register_pairs
from annotator.llm.prompts import get_template, vote_plans
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.llm import give_demonstrations
from store.formats import read_pairs
from store.taxonomy import Relation, relation_of_fine
from store.verified import verified_labels


def pair(key: str, a: str = "ボールペン", b: str = "替芯") -> PairText:
    return PairText(key, a, b)


def test_a_pool_holding_an_asked_pair_is_refused():
    pool = [Demonstration(pair("1"), 2), Demonstration(pair("2"), 8)]
    with pytest.raises(LeakedDemonstration, match="1 of the pairs being asked"):
        retrieve(["2", "3"], np.eye(2), pool, np.eye(2), k=1)


def test_the_most_similar_pairs_come_first():
    pool = [Demonstration(pair(str(i)), 8) for i in range(4)]
    pool_vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    queries = np.array([[1.0, 0.1], [0.1, 1.0]])
    chosen = retrieve(["a", "b"], queries, pool, pool_vectors, k=2)
    assert [d.pair.key for d in chosen["a"]] == ["0", "2"]
    assert [d.pair.key for d in chosen["b"]] == ["1", "2"]
    assert retrieve(["a"], queries[:1], pool, pool_vectors, k=9)["a"][-1].pair.key == "3"  # k capped


def test_the_neighbours_vote_is_their_majority_relation_a_tie_going_to_the_nearest():
    shown = [Demonstration(pair(str(i)), code) for i, code in enumerate((8, 2, 5, 9))]
    assert neighbours_vote(shown) is Relation.UNRELATED  # 2 unrelated, 2 complementary: the nearest wins
    assert neighbours_vote(shown[1:]) is Relation.COMPLEMENTARY
    assert neighbours_vote([Demonstration.of(pair("5"), Relation.SUBSTITUTE, None)]) is Relation.SUBSTITUTE


def test_a_demonstration_is_shown_in_the_item_and_option_order_of_the_vote():
    template = get_template("fbl9-v3-k4")
    shown = Demonstration(pair("9", "プリンター", "トナー"), 2)  # item a is replenished with item b
    plain, swapped = vote_plans(template, 2)
    assert not plain.reversed and swapped.reversed
    text = template.user(pair("1"), plain, demonstrations=[shown])
    assert text.startswith(f"Item 1: プリンター\nItem 2: トナー\nAnswer: {plain.letter_of(2)}\n\n")
    assert text.endswith("Item 1: ボールペン\nItem 2: 替芯")
    text = template.user(pair("1"), swapped, demonstrations=[shown])
    assert text.startswith(f"Item 1: トナー\nItem 2: プリンター\nAnswer: {swapped.letter_of(3)}\n\n")
    assert template.user(pair("1"), plain) == "Item 1: ボールペン\nItem 2: 替芯"


@pytest.mark.datasets
def test_demonstrations_come_from_verified_labels_never_from_the_asked_pairs(sqlite_cli, datasets, tmp_path):
    """All 60 pairs of a real FBL file are verified in the store; 10 are asked about: the pool is
    the other verified pairs, and each demonstration shows its own human label."""
    lines = (datasets / "fbl" / "FBL2023.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    labelled = tmp_path / "fbl60.tsv"
    labelled.write_text("".join(lines[:61]), encoding="utf-8")
    sqlite_cli("import", "labels", labelled)

    class Asking:  # what give_demonstrations needs of a labeller: its prompt version and a slot
        prompt_version = "fbl9-v3-k4"
        demonstrations = None

    with Context(get_settings()) as ctx:
        with ctx.engine.begin() as conn:
            asked = [pid for pid, _ in register_pairs(conn, list(islice(read_pairs(labelled), 10)))]
            verified, _ = verified_labels(conn)
        labeller = Asking()
        pool = give_demonstrations(ctx, labeller, asked)
    assert set(asked) <= set(verified)  # the asked pairs do have human labels in the store...
    assert pool == len(set(verified) - set(asked))  # ...and none of them is in the pool
    assert set(labeller.demonstrations) == {str(pid) for pid in asked}
    for shown in labeller.demonstrations.values():
        assert len(shown) == 4
        for d in shown:
            assert int(d.pair.key) not in asked
            label = verified[int(d.pair.key)]
            assert relation_of_fine(d.fine_code) is label.relation
            assert d.fine_code == label.fine_code or label.fine_code is None


def test_only_the_local_backend_shows_demonstrations_and_models_are_named():
    from annotator.llm.factory import labeller_identity

    with pytest.raises(ValueError, match="only the local backend"):
        labeller_identity("openai", model="m", base_url="http://127.0.0.1:9/v1", prompt_version="fbl9-v3-k4")
    assert labeller_identity("local", model="gemma3-270m", prompt_version="fbl9-v3-k8") == (
        "local:gemma-3-270m-q4_k_m", "fbl9-v3-k8")
    assert labeller_identity("local")[0] == "local:SmolLM2-135M-Instruct.Q4_1"  # the default is unchanged


def test_rounds_refuse_a_prompt_with_demonstrations_before_asking(sqlite_cli, tmp_path):
    """Only `llm label` and `llm agreement` fetch demonstrations: a round's proposals refuse such a
    prompt version with a clear error (the round stays resumable), never a traceback."""
    from pairloop.usecases.proposals import propose_labels
    from store.errors import BadInput

    class NeverAsked:
        model_name, prompt_version = "local:test", "fbl9-v3-k4"

        def propose(self, pairs):
            raise AssertionError("the model must not be asked")

    sqlite_cli("init")
    with Context(get_settings()) as ctx, pytest.raises(BadInput, match="only `pairloop llm label`"):
        propose_labels(ctx, NeverAsked(), [1], None, scope="1", round_id=1)

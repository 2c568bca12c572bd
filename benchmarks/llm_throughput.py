"""LLM labelling throughput: naive per-pair ``generate`` + parsing vs batched constrained scoring.

The same FBL2023 pairs (default: the first 200), the same embedded SmolLM2-135M-Instruct
(loaded once), the same prompt (fbl9-v1, first vote plan), one run:

- naive: one ``model.generate`` per pair (greedy, up to 8 new tokens) on the whole chat
  prompt, then the first option letter is parsed from the text (or nothing is found);
- pairloop: :class:`annotator.llm.local.LocalLabeller` with one vote, i.e. the shared
  prompt prefix's KV cache reused, pairs batched, each option letter's log-probability read.

Both give one answer per pair, so pairs/s compare like for like. The full three-vote
self-consistency labeller is timed as well (three questions per pair). Goal: ≥ 5× naive.

    .venv/bin/python -m benchmarks.llm_throughput [--pairs 200]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import torch

from annotator.llm.base import PairText
from annotator.llm.local import LocalLabeller
from annotator.llm.prompts import FBL9_V1, LETTERS, vote_plans
from store.formats import read_pairs

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PAIRLOOP_DATASETS", REPO.parent / "shared" / "datasets"))
MODEL_CACHE = Path(os.environ.get("PAIRLOOP_LLM_MODEL_CACHE", REPO / ".pairloop" / "test-models"))
NAIVE_MAX_NEW_TOKENS = 8
ANSWER = re.compile(rf"\b([{LETTERS}])\b")


def fbl_pairs(n: int) -> list[PairText]:
    pairs = []
    for row in read_pairs(DATASETS / "fbl" / "FBL2023.tsv"):
        if len(pairs) == n:
            break
        pairs.append(PairText(str(row.line), row.item_a.title, row.item_b.title))
    return pairs


@torch.inference_mode()
def naive(labeller: LocalLabeller, pairs: list[PairText]) -> tuple[float, list[int | None]]:
    """One greedy generation per pair on the full prompt; the answer parsed from the text."""
    model, tokenizer = labeller.scorer.model, labeller.scorer.tokenizer
    plan = vote_plans(FBL9_V1, 1)[0]
    answers: list[int | None] = []
    start = time.perf_counter()
    for pair in pairs:
        text = tokenizer.apply_chat_template(FBL9_V1.messages(pair, plan), tokenize=False,
                                             add_generation_prompt=True)
        ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NAIVE_MAX_NEW_TOKENS,
                             do_sample=False, pad_token_id=tokenizer.eos_token_id)
        reply = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        found = ANSWER.search(reply)
        answers.append(plan.code_of(found.group(1)) if found else None)
    return time.perf_counter() - start, answers


def constrained(labeller: LocalLabeller, pairs: list[PairText]) -> tuple[float, list[int | None]]:
    start = time.perf_counter()
    proposals = labeller.propose(pairs)
    return time.perf_counter() - start, [p.fine_code for p in proposals]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="FBL2023 pairs to label (the first N).")
    args = parser.parse_args(argv or [])
    if not (DATASETS / "fbl" / "FBL2023.tsv").is_file():
        print(f"skipped: {DATASETS / 'fbl' / 'FBL2023.tsv'} is absent")
        return
    pairs = fbl_pairs(args.pairs)
    one_vote = LocalLabeller(votes=1, cache_dir=MODEL_CACHE)
    three_votes = LocalLabeller(votes=3, cache_dir=MODEL_CACHE)
    load = os.getloadavg()[0]
    print(f"{len(pairs)} FBL2023 pairs, {one_vote.model_name}, {torch.get_num_threads()} torch threads, "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")

    naive_s, naive_answers = naive(one_vote, pairs)
    ours_s, our_answers = constrained(one_vote, pairs)
    votes_s, _ = constrained(three_votes, pairs)

    parsed = sum(a is not None for a in naive_answers)
    same = sum(a == b for a, b in zip(naive_answers, our_answers, strict=True) if a is not None)
    naive_rate, ours_rate, votes_rate = len(pairs) / naive_s, len(pairs) / ours_s, len(pairs) / votes_s
    print(f"naive generate + parse : {naive_rate:8.2f} pairs/s ({naive_s:.1f} s); "
          f"a letter was found in {parsed}/{len(pairs)} replies, {same} of them equal the constrained answer")
    print(f"constrained, 1 vote    : {ours_rate:8.2f} pairs/s ({ours_s:.1f} s); an answer for every pair")
    print(f"constrained, 3 votes   : {votes_rate:8.2f} pairs/s ({votes_s:.1f} s); self-consistency")
    print(f"ratio (1 vote / naive) : {ours_rate / naive_rate:8.2f}x (goal ≥ 5x)")
    print(f"ratio (3 votes / naive): {votes_rate / naive_rate:8.2f}x (three questions per pair against one)")
    final_load = os.getloadavg()[0]
    if max(load, final_load) > (os.cpu_count() or 1):
        print(f"note: the machine was busy (load {load:.1f} → {final_load:.1f}); both paths ran under it")


if __name__ == "__main__":
    main(sys.argv[1:])

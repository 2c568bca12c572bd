"""LLM labelling throughput: naive per-pair ``generate`` + parsing vs batched constrained scoring.

The same FBL2023 pairs (default: the first 200), the same model (``--model``: an embedded
model's name, default SmolLM2-135M-Instruct; loaded once), the same prompt
(``--prompt-version``, default the project's default; first vote plan), one run:

- naive: one ``model.generate`` per pair (greedy, up to 8 new tokens) on the whole prompt
  (the same tokens the constrained path reads), then the first option letter is parsed from
  the text (or nothing is found);
- pairloop: :class:`annotator.llm.local.LocalLabeller` with one vote, i.e. the shared
  prompt prefix's KV cache reused, pairs batched, each option letter's log-probability read.

Both give one answer per pair, so pairs/s compare like for like. The full three-vote
self-consistency labeller is timed as well (three questions per pair). Goal: ≥ 5× naive.

A prompt version with demonstrations (``fbl9-v3-k4``) shows each pair k human-labelled FBL2023
pairs from after the timed ones (taken in file order, not retrieved: the time depends on their
length, not on which they are).

The machine is shared, so the paths take turns over chunks of 32 pairs (their order
rotating from chunk to chunk) instead of running one after the other: a change of load
then hits all of them alike. Each path first labels one pair untimed (warm-up; for the
constrained paths this computes the shared prefixes, one forward pass each, once per
process). Wall-clock and CPU time (all threads) are both reported.

    .venv/bin/python -m benchmarks.llm_throughput [--pairs 200] [--prompt-version fbl9-v2] [--model gemma3-270m]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from annotator.llm.base import PairText
from annotator.llm.demonstrations import Demonstration
from annotator.llm.loading import DEFAULT_EMBEDDED, EMBEDDED_MODELS
from annotator.llm.local import LocalLabeller
from annotator.llm.prompts import (
    DEFAULT_PROMPT_VERSION,
    LETTERS,
    TEMPLATES,
    PromptTemplate,
    vote_plans,
)
from store.formats import read_pairs
from store.formats.truth import labelled_rows

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PAIRLOOP_DATASETS", REPO.parent / "shared" / "datasets"))
MODEL_CACHE = Path(os.environ.get("PAIRLOOP_LLM_MODEL_CACHE", REPO / ".pairloop" / "test-models"))
NAIVE_MAX_NEW_TOKENS = 8
ANSWER = re.compile(rf"\b([{LETTERS}])\b")
CHUNK = 32
Answers = list[int | None]


def fbl_pairs(n: int) -> list[PairText]:
    pairs = []
    for row in read_pairs(DATASETS / "fbl" / "FBL2023.tsv"):
        if len(pairs) == n:
            break
        pairs.append(PairText(str(row.line), row.item_a.title, row.item_b.title))
    return pairs


def give_demonstrations(labeller: LocalLabeller, pairs: list[PairText]) -> None:
    """k labelled pairs from after ``pairs`` for each pair (a window sliding one pair a time)."""
    shots = labeller.template.shots
    asked = {p.key for p in pairs}
    pool = [Demonstration.of(PairText(str(row.line), row.item_a.title, row.item_b.title), truth.relation,
                             truth.fine_code)
            for row, truth in labelled_rows(DATASETS / "fbl" / "FBL2023.tsv")
            if truth is not None and str(row.line) not in asked][len(pairs) : 2 * len(pairs) + shots]
    labeller.demonstrations = {p.key: pool[i : i + shots] for i, p in enumerate(pairs)}


@torch.inference_mode()
def naive(labeller: LocalLabeller, pairs: list[PairText], new_tokens: list[int]) -> Answers:
    """One greedy generation per pair on the full prompt; the answer parsed from the text.
    How many tokens each reply took is appended to ``new_tokens``."""
    model, tokenizer, template = labeller.scorer.model, labeller.scorer.tokenizer, labeller.template
    plan = vote_plans(template, 1)[0]
    answers: Answers = []
    system = template.system(plan)
    prefix = labeller.scorer.prefix(system).ids
    for pair in pairs:
        user = template.user(pair, plan, demonstrations=labeller.shown(pair))
        ids = torch.tensor([prefix + labeller.scorer.encode_user(system, user)])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NAIVE_MAX_NEW_TOKENS,
                             do_sample=False, pad_token_id=tokenizer.eos_token_id)
        new_tokens.append(out.shape[1] - ids.shape[1])
        reply = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        found = ANSWER.search(reply)
        answers.append(plan.code_of(found.group(1)) if found else None)
    return answers


def constrained(labeller: LocalLabeller, pairs: list[PairText]) -> Answers:
    return [p.fine_code for p in labeller.propose(pairs)]


def prompt_tokens(labeller: LocalLabeller, pairs: list[PairText]) -> tuple[int, float]:
    """The shared prefix's tokens and the mean of each pair's own (items, question, end of turn)."""
    template: PromptTemplate = labeller.template
    plan = vote_plans(template, 1)[0]
    system = template.system(plan)
    own = [len(labeller.scorer.encode_user(system, template.user(p, plan, demonstrations=labeller.shown(p))))
           for p in pairs]
    return len(labeller.scorer.prefix(system).ids), sum(own) / len(own)


@dataclass
class Timed:
    """One labelling path and the time it has spent so far."""

    label: Callable[[list[PairText]], Answers]
    wall_s: float = 0.0
    cpu_s: float = 0.0
    answers: Answers = field(default_factory=list)

    def run(self, pairs: list[PairText]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.answers += self.label(pairs)
        self.wall_s += time.perf_counter() - wall
        self.cpu_s += time.process_time() - cpu


def take_turns(paths: list[Timed], pairs: list[PairText]) -> None:
    """Every path labels each chunk; who goes first rotates, so load drifts hit all alike."""
    for turn, start in enumerate(range(0, len(pairs), CHUNK)):
        chunk = pairs[start : start + CHUNK]
        for k in range(len(paths)):
            paths[(turn + k) % len(paths)].run(chunk)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="FBL2023 pairs to label (the first N).")
    parser.add_argument("--prompt-version", default=DEFAULT_PROMPT_VERSION, choices=sorted(TEMPLATES))
    parser.add_argument("--model", default=DEFAULT_EMBEDDED, help="An embedded model's name "
                        f"({', '.join(EMBEDDED_MODELS)}), a model folder or a GGUF file.")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both paths (default: torch's own choice). On a machine "
                             "other jobs share, 1 keeps spinning thread pools from stalling either path.")
    args = parser.parse_args(argv or [])
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (DATASETS / "fbl" / "FBL2023.tsv").is_file():
        print(f"skipped: {DATASETS / 'fbl' / 'FBL2023.tsv'} is absent")
        return
    pairs = fbl_pairs(args.pairs)
    one_vote, three_votes = (LocalLabeller(args.model, votes=votes, prompt_version=args.prompt_version,
                                           cache_dir=MODEL_CACHE) for votes in (1, 3))
    for labeller in (one_vote, three_votes):
        give_demonstrations(labeller, pairs)
    load = os.getloadavg()[0]
    print(f"{len(pairs)} FBL2023 pairs, {one_vote.model_name}, prompt {args.prompt_version}, "
          f"{torch.get_num_threads()} torch threads, "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")

    shared, own = prompt_tokens(one_vote, pairs)
    print(f"prompt: {shared} shared tokens (instructions and options) + {own:.0f} of the pair's own on average")
    replies: list[int] = []
    plain = Timed(lambda chunk: naive(one_vote, chunk, replies))
    ours = Timed(lambda chunk: constrained(one_vote, chunk))
    votes = Timed(lambda chunk: constrained(three_votes, chunk))
    for path in (plain, ours, votes):
        path.label(pairs[:1])
    replies.clear()
    take_turns([plain, ours, votes], pairs)

    n = len(pairs)
    parsed = sum(a is not None for a in plain.answers)
    same = sum(a == b for a, b in zip(plain.answers, ours.answers, strict=True) if a is not None)
    calibrated = " (which is calibrated; the naive reply is not)" if one_vote.template.calibrated else ""
    print(f"naive generate + parse : {n / plain.wall_s:8.2f} pairs/s ({plain.wall_s:.1f} s, "
          f"{n / plain.cpu_s:.2f} pairs per CPU-second); a letter was found in {parsed}/{n} replies, "
          f"{same} of them equal the constrained answer{calibrated}; {sum(replies) / n:.1f} tokens a reply")
    print(f"constrained, 1 vote    : {n / ours.wall_s:8.2f} pairs/s ({ours.wall_s:.1f} s, "
          f"{n / ours.cpu_s:.2f} pairs per CPU-second); an answer for every pair")
    print(f"constrained, 3 votes   : {n / votes.wall_s:8.2f} pairs/s ({votes.wall_s:.1f} s, "
          f"{n / votes.cpu_s:.2f} pairs per CPU-second); self-consistency")
    print(f"ratio (1 vote / naive) : {plain.wall_s / ours.wall_s:8.2f}x wall, "
          f"{plain.cpu_s / ours.cpu_s:.2f}x CPU (goal ≥ 5x)")
    print(f"ratio (3 votes / naive): {plain.wall_s / votes.wall_s:8.2f}x wall, "
          f"{plain.cpu_s / votes.cpu_s:.2f}x CPU (three questions per pair against one)")
    print(f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} CPUs "
          f"(this benchmark's own {torch.get_num_threads()} torch threads count in it)")


if __name__ == "__main__":
    main(sys.argv[1:])

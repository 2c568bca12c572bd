"""The local backend: a causal LM in this process (transformers), labels by constrained choice."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from annotator.llm.base import Ballot, PairText, Proposal
from annotator.llm.calibration import divide_prior
from annotator.llm.consensus import combine
from annotator.llm.demonstrations import Demonstration
from annotator.llm.loading import DEFAULT_EMBEDDED, EMBEDDED_MODELS, embedded_gguf, load_causal_lm, local_model_name
from annotator.llm.prompts import (
    CONTENT_FREE,
    DEFAULT_PROMPT_VERSION,
    LETTERS,
    VotePlan,
    get_template,
    vote_plans,
)
from annotator.llm.scoring import ChoiceScorer
from store.taxonomy import mirror_fine


class LocalLabeller:
    """Asks every pair ``votes`` times (item order and option order permuted) and combines them.

    ``model``: an embedded model's name (``smollm2-135m``, ``gemma3-270m``), a model folder or a
    GGUF file; None is the embedded SmolLM2-135M-Instruct. ``cache_dir``: where a GGUF file's
    dequantised copy is kept between runs (and a chunked embedded model's joined file).
    A prompt version with demonstrations needs :attr:`demonstrations` set before :meth:`propose`.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        votes: int = 3,
        prompt_version: str = DEFAULT_PROMPT_VERSION,
        batch_size: int = 16,
        cache_dir: Path | None = None,
    ):
        name = str(model) if model else DEFAULT_EMBEDDED
        embedded = EMBEDDED_MODELS.get(name)
        source = embedded_gguf(name, cache_dir) if embedded else Path(name)
        self.model_name = local_model_name(model)
        self.prompt_version = prompt_version
        self.template = get_template(prompt_version)
        self.plans = vote_plans(self.template, votes)
        lm, tokenizer = load_causal_lm(source, cache_dir)
        self.scorer = ChoiceScorer(lm, tokenizer, LETTERS[: len(self.template.definitions)], batch_size,
                                   chat=embedded.chat if embedded else True)
        self._priors: dict[VotePlan, list[float]] = {}
        self.demonstrations: Mapping[str, Sequence[Demonstration]] | None = None  # by pair key, best first

    def shown(self, pair: PairText) -> Sequence[Demonstration]:
        """The demonstrations shown before ``pair`` (never the pair itself)."""
        if not self.template.shots:
            return ()
        if self.demonstrations is None or pair.key not in self.demonstrations:
            raise ValueError(f"prompt version {self.prompt_version} shows demonstrations, and none were "
                             f"retrieved for pair {pair.key} (`pairloop llm label|agreement` retrieve them)")
        shown = self.demonstrations[pair.key][: self.template.shots]
        if any(d.pair.key == pair.key for d in shown):
            raise ValueError(f"pair {pair.key} would be shown as its own demonstration")
        return shown

    def _prior(self, plan: VotePlan) -> list[float]:
        """The letter probabilities for a content-free pair under ``plan`` (one forward pass, once)."""
        if plan not in self._priors:
            system = self.template.system(plan)
            encoded = self.scorer.encode_user(system, self.template.user(CONTENT_FREE, plan))
            self._priors[plan] = [math.exp(lp) for lp in self.scorer.score(system, [encoded])[0]]
        return self._priors[plan]

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]:
        if not pairs:
            return []
        started = time.perf_counter()
        shown = [self.shown(p) for p in pairs]
        ballots: list[list[Ballot]] = [[] for _ in pairs]
        tokens = [0] * len(pairs)
        for plan in self.plans:
            system = self.template.system(plan)
            prefix_len = len(self.scorer.prefix(system).ids)
            encoded = [self.scorer.encode_user(system, self.template.user(p, plan, demonstrations=shown[i]))
                       for i, p in enumerate(pairs)]
            for i, logprobs in enumerate(self.scorer.score(system, encoded)):
                letter_probs = [math.exp(lp) for lp in logprobs]
                if self.template.calibrated:
                    letter_probs = divide_prior(letter_probs, self._prior(plan))
                # Read the answer back in the pair's own a → b frame.
                probs = {
                    mirror_fine(code) if plan.reversed else code: p
                    for code, p in zip(plan.option_order, letter_probs, strict=True)
                }
                best = max(probs, key=probs.__getitem__)
                ballots[i].append(Ballot(plan.reversed, plan.option_order, best, probs))
                tokens[i] += prefix_len + len(encoded[i])
        latency = (time.perf_counter() - started) / len(pairs)  # amortised over the batch
        return [
            combine(p.key, b, self.model_name, self.prompt_version, latency, t, 0)
            for p, b, t in zip(pairs, ballots, tokens, strict=True)
        ]

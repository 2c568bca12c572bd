"""Constrained choice with a local causal LM: the log-probability of each allowed answer token.

Nothing is generated and nothing is parsed. All questions that share a system message
(one per vote plan) share its prompt prefix: its KV cache is computed once and expanded
over each batch, so a batch only runs the per-pair part of the prompt. Batches are
right-padded (causal attention never looks ahead, so padding needs no mask) and the
hidden state at each row's last real token goes through the LM head.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jinja2 import TemplateError

SENTINEL = "\x00PAIRLOOP-USER\x00"


@dataclass(frozen=True)
class Prefix:
    ids: list[int]
    tail: str  # what the chat template puts after the user's text (end of turn, assistant start)
    kv: tuple[tuple[torch.Tensor, torch.Tensor], ...]


PLAIN_TAIL = "\nAnswer:"  # a base model completes this with " A", " B", ...


class ChoiceScorer:
    """Scores single-token answers after a (system, user) prompt: through the tokenizer's chat
    template when it has one and ``chat`` is true, else as plain text ending in "Answer:"."""

    def __init__(self, model, tokenizer, answers: Sequence[str], batch_size: int = 16, chat: bool = True):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.chat = chat and bool(getattr(tokenizer, "chat_template", None))
        self.answer_ids = [self._single_token(a if self.chat else f" {a}") for a in answers]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._prefixes: dict[str, Prefix] = {}

    def _single_token(self, answer: str) -> int:
        ids = self.tokenizer.encode(answer, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(f"answer {answer!r} is {len(ids)} tokens for this tokenizer; expected 1")
        return ids[0]

    def split_template(self, system: str) -> tuple[str, str]:
        """The chat text before and after the user's message."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": SENTINEL}]
        if self.chat:
            try:
                text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except TemplateError:  # templates without a system role: put it in the user turn
                merged = [{"role": "user", "content": f"{system}\n\n{SENTINEL}"}]
                text = self.tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
        else:
            text = f"{system}\n\n{SENTINEL}{PLAIN_TAIL}"
        before, after = text.split(SENTINEL)
        return before, after

    @torch.inference_mode()
    def prefix(self, system: str) -> Prefix:
        if system not in self._prefixes:
            before, tail = self.split_template(system)
            # A chat template writes its own BOS; plain text gets the tokenizer's (Gemma needs it).
            ids = self.tokenizer.encode(before, add_special_tokens=not self.chat)
            # The base model only: the LM head over every prefix token is wasted work (Gemma's
            # vocabulary is 262k wide).
            out = self.model.base_model(input_ids=torch.tensor([ids]), use_cache=True)
            kv = tuple((layer.keys, layer.values) for layer in out.cache.layers)
            self._prefixes[system] = Prefix(ids, tail, kv)
        return self._prefixes[system]

    def encode_user(self, system: str, user: str) -> list[int]:
        return self.tokenizer.encode(user + self.prefix(system).tail, add_special_tokens=False)

    def batches(self, system: str, users: Sequence[list[int]], batch_size: int | None = None
                ) -> Iterator[tuple[list[int], torch.Tensor, Any]]:
        """The encoded user texts in batches, shortest first: each batch's positions in ``users``,
        its right-padded token ids, and the system prefix's KV cache expanded over it."""
        from transformers import DynamicCache

        prefix = self.prefix(system)
        size = batch_size or self.batch_size
        order = sorted(range(len(users)), key=lambda i: len(users[i]))
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            n, width = len(rows), max(len(users[i]) for i in rows)
            ids = torch.full((n, width), self.pad_id, dtype=torch.long)
            for r, i in enumerate(rows):
                ids[r, : len(users[i])] = torch.tensor(users[i])
            cache = DynamicCache(
                ddp_cache_data=[(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in prefix.kv],
                config=self.model.config,
            )
            yield rows, ids, cache

    @torch.inference_mode()
    def score(self, system: str, users: Sequence[list[int]]) -> list[list[float]]:
        """Log-probabilities of the answers (renormalised over them) for each encoded user text."""
        scores: list[list[float]] = [[] for _ in users]
        base = self.model.base_model
        head = self.model.get_output_embeddings()
        for rows, ids, cache in self.batches(system, users):
            hidden = base(input_ids=ids, cache=cache, use_cache=True).last_hidden_state
            last = hidden[torch.arange(len(rows)), torch.tensor([len(users[i]) - 1 for i in rows])]
            logits = head(last)[:, self.answer_ids].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            for r, i in enumerate(rows):
                scores[i] = logprobs[r].tolist()
        return scores

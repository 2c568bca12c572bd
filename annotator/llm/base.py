"""The one interface every LLM backend implements: proposals for a batch of pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from store.taxonomy import Relation


class ProposalStatus(StrEnum):
    AGREED = "agreed"  # every vote gave the same relation (KARL's self-consistency filter)
    DISPUTED = "disputed"  # the votes differ, or one could not be read: humans decide
    UNLABELLED = "unlabelled"  # no vote could be read: never a label


@dataclass(frozen=True)
class PairText:
    """What the LLM sees about one pair, in the caller's item order (a → b)."""

    key: str
    title_a: str
    title_b: str
    category_a: str | None = None
    category_b: str | None = None
    description_a: str | None = None
    description_b: str | None = None


@dataclass(frozen=True)
class Ballot:
    """One vote: how the question was put, and the answer read back in the a → b frame.

    ``probs`` maps fine codes to probabilities (constrained choice); it is None when the
    backend answered in JSON without log-probabilities. ``fine_code`` None: unreadable.
    """

    reversed: bool
    option_order: tuple[int, ...]
    fine_code: int | None
    probs: dict[int, float] | None = None
    rationale: str | None = None
    mode: str = "logprobs"  # "logprobs" | "json"
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "reversed": self.reversed,
            "option_order": list(self.option_order),
            "fine_code": self.fine_code,
            "probs": {str(k): round(v, 6) for k, v in self.probs.items()} if self.probs else None,
            "rationale": self.rationale,
            "mode": self.mode,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ballot:
        probs = data.get("probs")
        return cls(
            reversed=bool(data["reversed"]),
            option_order=tuple(data["option_order"]),
            fine_code=data.get("fine_code"),
            probs={int(k): float(v) for k, v in probs.items()} if probs else None,
            rationale=data.get("rationale"),
            mode=data.get("mode", "logprobs"),
            error=data.get("error"),
        )


@dataclass
class Proposal:
    """An LLM's proposal for one pair; ``fine_code`` reads item a → item b of its PairText."""

    key: str
    status: ProposalStatus
    relation: Relation | None
    fine_code: int | None
    confidence: float | None
    rationale: str | None
    model: str
    prompt_version: str
    votes: list[Ballot] = field(default_factory=list)
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def is_label(self) -> bool:
        """Only an agreed proposal may ever become a label (and only through the trust gate)."""
        return self.status is ProposalStatus.AGREED


class Labeller(Protocol):
    """A model + prompt version that proposes labels for batches of pairs."""

    model_name: str
    prompt_version: str

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]: ...


BACKENDS = ("local", "openai")


def make_labeller(
    backend: str = "local",
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    votes: int = 3,
    prompt_version: str | None = None,
    timeout_s: float = 60.0,
    max_retries: int = 3,
    backoff_s: float = 1.0,
    concurrency: int = 4,
    answer_mode: str = "auto",
    batch_size: int = 16,
    cache_dir: Path | None = None,
) -> Labeller:
    """A labeller for ``backend``: "local" (a model folder or GGUF file in this process; no
    model: the embedded SmolLM2) or "openai" (an OpenAI-compatible endpoint at ``base_url``)."""
    from annotator.llm.prompts import DEFAULT_PROMPT_VERSION

    version = prompt_version or DEFAULT_PROMPT_VERSION
    if backend == "local":
        from annotator.llm.local import LocalLabeller

        return LocalLabeller(model, votes=votes, prompt_version=version, batch_size=batch_size,
                             cache_dir=cache_dir)
    if backend == "openai":
        from annotator.llm.openai_api import OpenAiLabeller

        if not base_url or not model:
            raise ValueError("the openai backend needs a base URL and a model name")
        if answer_mode not in ("auto", "json"):
            raise ValueError(f"unknown answer mode {answer_mode!r} (expected auto or json)")
        return OpenAiLabeller(base_url, model, api_key=api_key, votes=votes, prompt_version=version,
                              timeout_s=timeout_s, max_retries=max_retries, backoff_s=backoff_s,
                              concurrency=concurrency, answer_mode=answer_mode)  # type: ignore[arg-type]
    raise ValueError(f"unknown LLM backend {backend!r} (expected one of {', '.join(BACKENDS)})")

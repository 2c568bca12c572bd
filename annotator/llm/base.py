"""The one interface every LLM backend implements: proposals for a batch of pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
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

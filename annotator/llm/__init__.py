"""LLM label extension: backends behind one interface, prompts, self-consistency, a cache."""

from annotator.llm.base import (
    BACKENDS,
    Ballot,
    Labeller,
    PairText,
    Proposal,
    ProposalStatus,
)
from annotator.llm.cache import propose_cached
from annotator.llm.factory import make_labeller
from annotator.llm.errors import LlmError, LlmRequestRejected, LlmUnavailable

__all__ = [
    "BACKENDS",
    "Ballot",
    "Labeller",
    "LlmError",
    "LlmRequestRejected",
    "LlmUnavailable",
    "PairText",
    "Proposal",
    "ProposalStatus",
    "make_labeller",
    "propose_cached",
]

"""LLM label extension: backends behind one interface, prompts, self-consistency, a cache."""

from annotator.llm.base import Ballot, Labeller, PairText, Proposal, ProposalStatus
from annotator.llm.cache import propose_cached
from annotator.llm.errors import LlmError, LlmRequestRejected, LlmUnavailable
from annotator.llm.factory import BACKENDS, make_labeller

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

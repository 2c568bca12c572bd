"""Errors from LLM backends: kinds of :class:`store.errors.PairloopError` (exit code 1)."""

from __future__ import annotations

from store.errors import PairloopError, ServiceFailed, ServiceUnavailable


class LlmError(PairloopError):
    """The LLM could not be asked. Proposals stored before the error stay cached: retry resumes."""


class LlmUnavailable(LlmError, ServiceUnavailable):
    """The endpoint was down, timed out or kept refusing (rate limit, 5xx) through every retry."""


class LlmRequestRejected(LlmError, ServiceFailed):
    """The endpoint rejected the request itself (bad key, unknown model): retrying cannot help."""

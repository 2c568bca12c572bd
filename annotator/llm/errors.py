"""Errors from LLM backends that callers turn into one clear line (exit code 1)."""

from __future__ import annotations


class LlmError(Exception):
    """The LLM could not be asked. Proposals stored before the error stay cached: retry resumes."""


class LlmUnavailable(LlmError):
    """The endpoint was down, timed out or kept refusing (rate limit, 5xx) through every retry."""


class LlmRequestRejected(LlmError):
    """The endpoint rejected the request itself (bad key, unknown model): retrying cannot help."""

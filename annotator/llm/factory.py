"""Build the configured labeller: the one place that knows every backend."""

from __future__ import annotations

from pathlib import Path

from annotator.llm.base import Labeller

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

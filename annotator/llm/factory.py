"""Build the configured labeller: the one place that knows every backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from annotator.llm.base import Labeller

BACKENDS = ("local", "openai")


def endpoints(base_url: str | Sequence[str] | None) -> list[str]:
    """The OpenAI-compatible endpoints named by ``base_url`` (one URL, or several)."""
    if base_url is None:
        return []
    return [base_url] if isinstance(base_url, str) else list(base_url)


def labeller_identity(
    backend: str = "local",
    *,
    model: str | None = None,
    base_url: str | Sequence[str] | None = None,
    prompt_version: str | None = None,
    answer_mode: str = "auto",
) -> tuple[str, str]:
    """(model name, prompt version) of the labeller these arguments build, which keys its cached
    proposals; checks the arguments as :func:`make_labeller` does (ValueError), loads nothing."""
    from annotator.llm.prompts import DEFAULT_PROMPT_VERSION, get_template

    version = prompt_version or DEFAULT_PROMPT_VERSION
    get_template(version)
    if backend == "local":
        from annotator.llm.loading import local_model_name

        return local_model_name(model), version
    if backend == "openai":
        if not endpoints(base_url) or not model:
            raise ValueError("the openai backend needs a base URL and a model name")
        if answer_mode not in ("auto", "json"):
            raise ValueError(f"unknown answer mode {answer_mode!r} (expected auto or json)")
        return model, version  # whichever endpoint answers: the cache key never names one
    raise ValueError(f"unknown LLM backend {backend!r} (expected one of {', '.join(BACKENDS)})")


def make_labeller(
    backend: str = "local",
    *,
    model: str | None = None,
    base_url: str | Sequence[str] | None = None,
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
    model: the embedded SmolLM2) or "openai" (OpenAI-compatible endpoints at ``base_url``: one
    URL, or several serving the same model, each with ``concurrency`` requests in flight)."""
    _, version = labeller_identity(backend, model=model, base_url=base_url, prompt_version=prompt_version,
                                   answer_mode=answer_mode)
    if backend == "local":
        from annotator.llm.local import LocalLabeller

        return LocalLabeller(model, votes=votes, prompt_version=version, batch_size=batch_size,
                             cache_dir=cache_dir)
    from annotator.llm.openai_api import EndpointFleet, OpenAiLabeller

    assert model is not None  # labeller_identity checked it
    labellers = [
        OpenAiLabeller(url, model, api_key=api_key, votes=votes, prompt_version=version, timeout_s=timeout_s,
                       max_retries=max_retries, backoff_s=backoff_s, concurrency=concurrency,
                       answer_mode=answer_mode)  # type: ignore[arg-type]
        for url in endpoints(base_url)
    ]
    return labellers[0] if len(labellers) == 1 else EndpointFleet(labellers)

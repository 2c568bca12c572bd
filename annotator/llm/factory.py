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
    data_dir: Path | None = None,
) -> tuple[str, str]:
    """(model name, prompt version) of the labeller these arguments build, which keys its cached
    proposals; checks the arguments as :func:`make_labeller` does (ValueError; BadInput for an
    adapter that is not there), loads nothing."""
    from annotator.llm.probe import is_adapter_version
    from annotator.llm.prompts import DEFAULT_PROMPT_VERSION, get_template

    if backend == "local" and is_adapter_version(model):
        assert model is not None  # is_adapter_version checked it
        return _adapter_identity(model, data_dir, prompt_version)
    version = prompt_version or DEFAULT_PROMPT_VERSION
    if get_template(version).shots and backend != "local":
        raise ValueError(f"prompt version {version} shows retrieved demonstrations: only the local backend has them")
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


def _adapter_identity(version: str, data_dir: Path | None, prompt_version: str | None) -> tuple[str, str]:
    """An adapted model (`pairloop llm adapt`) proposes under its own version, with the prompt
    it was trained to read pairs in."""
    from annotator.llm.probe import find_adapter

    if data_dir is None:
        raise ValueError(f"the adapted model {version} is looked up in the data directory: none was given")
    _, record = find_adapter(data_dir, version)
    if prompt_version not in (None, record["prompt_version"]):
        raise ValueError(f"the adapted model {version} reads pairs in prompt version {record['prompt_version']}, "
                         f"not {prompt_version}: unset PAIRLOOP_LLM_PROMPT_VERSION")
    return version, record["prompt_version"]


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
    data_dir: Path | None = None,
) -> Labeller:
    """A labeller for ``backend``: "local" (an embedded model's name, a model folder or a GGUF
    file, in this process; no model: the embedded SmolLM2; an adapter version: that adapted
    model, found under ``data_dir``) or "openai" (OpenAI-compatible endpoints at ``base_url``: one
    URL, or several serving the same model, each with ``concurrency`` requests in flight)."""
    _, version = labeller_identity(backend, model=model, base_url=base_url, prompt_version=prompt_version,
                                   answer_mode=answer_mode, data_dir=data_dir)
    from annotator.llm.probe import is_adapter_version, probe_labeller

    if backend == "local" and is_adapter_version(model):
        assert model is not None and data_dir is not None  # labeller_identity checked them
        return probe_labeller(data_dir, model, model_cache=cache_dir, batch_size=batch_size)
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

"""The OpenAI-compatible backend (vLLM, Ollama, llama.cpp's server, hosted APIs) over httpx.

Each vote is one chat completion. Where the server offers log-probabilities the answer
is read from the first token's ``top_logprobs`` (constrained choice, ``max_tokens: 1``);
otherwise the model must answer strict JSON, validated against a schema, with one re-ask.
An answer still malformed after the re-ask is an unreadable vote, never a label.
Transport errors, timeouts, 429 and 5xx are retried with exponential backoff; after the
last retry the whole call fails with :class:`LlmUnavailable`.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from annotator.llm.base import Ballot, PairText, Proposal
from annotator.llm.calibration import divide_prior
from annotator.llm.consensus import combine
from annotator.llm.errors import LlmRequestRejected, LlmUnavailable
from annotator.llm.prompts import (
    CONTENT_FREE,
    DEFAULT_PROMPT_VERSION,
    LETTERS,
    VotePlan,
    get_template,
    vote_plans,
)
from store.taxonomy import mirror_fine

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
JSON_MAX_TOKENS = 120
AnswerMode = Literal["auto", "json"]


class JsonAnswer(BaseModel):
    """The only JSON answer accepted: one option letter and a short rationale."""

    model_config = ConfigDict(extra="forbid")
    answer: Literal["A", "B", "C", "D", "E", "F", "G", "H", "I"]
    rationale: str = Field(default="", max_length=500)


class Usage:
    """Token counts and time spent, summed over the requests for one pair."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.seconds = 0.0

    def add(self, response: dict[str, Any], seconds: float) -> None:
        usage = response.get("usage") or {}
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        self.seconds += seconds


class OpenAiLabeller:
    """Labels pairs through ``POST {base_url}/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        votes: int = 3,
        prompt_version: str = DEFAULT_PROMPT_VERSION,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        concurrency: int = 4,
        answer_mode: AnswerMode = "auto",
        top_logprobs: int = 20,
    ):
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.prompt_version = prompt_version
        self.template = get_template(prompt_version)
        self.plans = vote_plans(self.template, votes)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.concurrency = max(1, concurrency)
        self.top_logprobs = top_logprobs
        self._use_logprobs = answer_mode == "auto"
        self._lock = threading.Lock()
        self._priors: dict[VotePlan, list[float]] = {}
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout_s, headers=headers)

    def close(self) -> None:
        self.client.close()

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]:
        if not pairs:
            return []
        with ThreadPoolExecutor(self.concurrency) as pool:
            futures = [pool.submit(self._propose_one, pair) for pair in pairs]
            try:
                return [future.result() for future in futures]
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

    def _propose_one(self, pair: PairText) -> Proposal:
        usage = Usage()
        ballots = [self._ask(pair, plan, usage) for plan in self.plans]
        return combine(pair.key, ballots, self.model_name, self.prompt_version,
                       usage.seconds, usage.prompt_tokens, usage.completion_tokens)

    def _ask(self, pair: PairText, plan: VotePlan, usage: Usage) -> Ballot:
        if self._use_logprobs:
            ballot = self._ask_logprobs(pair, plan, usage)
            if ballot is not None:
                return ballot
        return self._ask_json(pair, plan, usage)

    def _ask_logprobs(self, pair: PairText, plan: VotePlan, usage: Usage) -> Ballot | None:
        """A ballot from the first token's log-probabilities; None when the server gives none."""
        probs = self._read_letters(pair, plan, usage)
        if probs is None:
            return None
        if self.template.calibrated:
            probs = divide_prior(probs, self._prior(plan, usage))
        framed = {_framed(plan, plan.option_order[i]): p for i, p in enumerate(probs)}
        best = max(framed, key=framed.__getitem__)
        return Ballot(plan.reversed, plan.option_order, best, framed)

    def _read_letters(self, pair: PairText, plan: VotePlan, usage: Usage) -> list[float] | None:
        """The option letters' probabilities as the first answer token; None when the server gives
        no log-probabilities (JSON from then on) or no option letter is among the likeliest."""
        payload = self._payload(self.template.messages(pair, plan), max_tokens=1)
        payload.update(logprobs=True, top_logprobs=self.top_logprobs)
        top = _top_logprobs(self._post(payload, usage))
        if top is None:
            with self._lock:
                self._use_logprobs = False
            return None
        return _letter_probs(top, len(plan.option_order))

    def _prior(self, plan: VotePlan, usage: Usage) -> list[float]:
        """The letters' probabilities for a content-free pair, asked once per plan; uniform
        (no calibration) when the server cannot give them."""
        if plan not in self._priors:
            prior = self._read_letters(CONTENT_FREE, plan, usage)
            with self._lock:
                self._priors[plan] = prior or [1.0] * len(plan.option_order)
        return self._priors[plan]

    def _ask_json(self, pair: PairText, plan: VotePlan, usage: Usage) -> Ballot:
        messages = self.template.messages(pair, plan, as_json=True)
        problem = ""
        for attempt in range(2):  # the question, then one re-ask
            response = self._post(self._payload(messages, max_tokens=JSON_MAX_TOKENS), usage)
            content = _content(response)
            try:
                answer = JsonAnswer.model_validate_json(_unfenced(content))
            except ValidationError as exc:
                problem = _validation_summary(exc)
                if attempt == 0:
                    messages = [*messages, {"role": "assistant", "content": content},
                                {"role": "user", "content": f"That answer was invalid ({problem}). "
                                 + self.template.json_instruction}]
                continue
            code = _framed(plan, plan.option_order[LETTERS.index(answer.answer)])
            return Ballot(plan.reversed, plan.option_order, code, None, answer.rationale or None, "json")
        return Ballot(plan.reversed, plan.option_order, None, None, None, "json",
                      error=f"malformed answer after one re-ask: {problem}")

    def _payload(self, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
        return {"model": self.model_name, "messages": messages, "max_tokens": max_tokens,
                "temperature": 0}

    def _post(self, payload: dict[str, Any], usage: Usage) -> dict[str, Any]:
        url = f"{self.base_url}/chat/completions"
        problem, retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._delay(attempt, retry_after))
                retry_after = None
            started = time.perf_counter()
            try:
                response = self.client.post("/chat/completions", json=payload)
            except httpx.TransportError as exc:  # refused, reset, DNS, every kind of timeout
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if response.status_code in RETRYABLE_STATUS:
                problem = f"HTTP {response.status_code} {response.reason_phrase}"
                retry_after = response.headers.get("retry-after")
                continue
            if response.status_code >= 400:
                raise LlmRequestRejected(
                    f"the LLM endpoint {url} rejected the request: HTTP {response.status_code} "
                    f"{response.text[:300]}"
                )
            try:
                body = response.json()
            except json.JSONDecodeError:
                problem = "the response body is not JSON"
                continue
            usage.add(body, time.perf_counter() - started)
            return body
        raise LlmUnavailable(
            f"the LLM endpoint {url} did not answer after {self.max_retries + 1} attempts: {problem}"
        )

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff with jitter; the server's Retry-After wins when it is longer."""
        delay = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(MAX_BACKOFF_S, float(retry_after)))
        return delay


class EndpointFleet:
    """Several OpenAI-compatible endpoints serving the same model, used as one labeller.

    Each batch is dealt over the endpoints round-robin (carrying on where the last batch
    stopped, so one-pair batches rotate too) and every endpoint works its share at once, with
    its own ``concurrency`` in flight. The model name is the fleet's: a proposal's cache key
    never depends on which endpoint answered it.
    """

    def __init__(self, labellers: Sequence[OpenAiLabeller]):
        if not labellers or len({(lab.model_name, lab.prompt_version) for lab in labellers}) != 1:
            raise ValueError("an endpoint fleet needs endpoints serving one model and prompt version")
        self.labellers = list(labellers)
        self.model_name = labellers[0].model_name
        self.prompt_version = labellers[0].prompt_version
        self._next = 0

    def close(self) -> None:
        for labeller in self.labellers:
            labeller.close()

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]:
        n, first = len(self.labellers), self._next
        self._next = (first + len(pairs)) % n
        shares: list[list[int]] = [[] for _ in range(n)]
        for i in range(len(pairs)):
            shares[(first + i) % n].append(i)
        answers: list[Proposal | None] = [None] * len(pairs)
        with ThreadPoolExecutor(n) as pool:
            futures = [(share, pool.submit(labeller.propose, [pairs[i] for i in share]))
                       for labeller, share in zip(self.labellers, shares, strict=True) if share]
            for share, future in futures:
                for i, proposal in zip(share, future.result(), strict=True):
                    answers[i] = proposal
        return [p for p in answers if p is not None]


def _framed(plan: VotePlan, code: int) -> int:
    """A code as asked (possibly with the items swapped) read in the pair's a → b frame."""
    return mirror_fine(code) if plan.reversed else code


def _content(response: dict[str, Any]) -> str:
    try:
        return response["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        return ""


def _unfenced(text: str) -> str:
    """The JSON inside a ```json fence, which chat models add even when told not to."""
    text = text.strip()
    if text.startswith("```"):
        text = text.removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    return text


def _validation_summary(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "json"
    return f"{where}: {error.get('msg', 'invalid')}"


def _top_logprobs(response: dict[str, Any]) -> list[dict[str, Any]] | None:
    try:
        content = response["choices"][0]["logprobs"]["content"]
        return content[0]["top_logprobs"] or None
    except (KeyError, IndexError, TypeError):
        return None


def _letter_probs(top: list[dict[str, Any]], n_options: int) -> list[float] | None:
    """Probabilities over the option letters, renormalised over them.

    Tokens that read as a letter (``A``, `` A``, ``a``) count for it. A letter outside the
    returned top list gets the smallest listed probability, an upper bound on its true
    one, so a model that barely considered the options is not made to look sure.
    """
    found: dict[int, float] = {}
    for entry in top:
        token = str(entry.get("token", "")).strip().upper()
        if len(token) == 1 and token in LETTERS[:n_options]:
            index = LETTERS.index(token)
            found[index] = found.get(index, 0.0) + math.exp(float(entry["logprob"]))
    if not found:
        return None
    floor = min(math.exp(float(entry["logprob"])) for entry in top)
    probs = [found.get(i, floor) for i in range(n_options)]
    total = sum(probs)
    return [p / total for p in probs]

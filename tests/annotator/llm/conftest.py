"""Fixtures for the LLM tests: the embedded model (loaded once), llama.cpp's OpenAI-compatible
server serving the same GGUF file (started once), real FBL pairs, and a misbehaving endpoint.

The dequantised model copy lives in ``.pairloop/test-models`` (git-ignored), so only the
first test session on a machine pays the ~20 s GGUF conversion.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from annotator.llm.base import PairText, Proposal
from annotator.llm.errors import LlmUnavailable
from annotator.llm.loading import embedded_gguf
from annotator.llm.local import LocalLabeller
from store.formats import read_pairs

REPO = Path(__file__).resolve().parents[3]
MODEL_CACHE = Path(os.environ.get("PAIRLOOP_TEST_MODEL_CACHE", REPO / ".pairloop" / "test-models"))
SERVER_START_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def model_cache() -> Path:
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    return MODEL_CACHE


@pytest.fixture(scope="session")
def local_labeller(model_cache) -> LocalLabeller:
    """The embedded SmolLM2-135M-Instruct, three votes, loaded once per session."""
    return LocalLabeller(votes=3, batch_size=8, cache_dir=model_cache)


class SessionMemo:
    """The real labeller, asked at most once per pair text in the whole session: both database
    runs of a test share its answers, so the model's time is spent once."""

    def __init__(self, inner):
        self.inner = inner
        self.model_name, self.prompt_version = inner.model_name, inner.prompt_version
        self.known: dict[tuple, Proposal] = {}

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]:
        def text(p: PairText) -> tuple:
            return dataclasses.astuple(dataclasses.replace(p, key=""))

        new = [p for p in pairs if text(p) not in self.known]
        for pair, proposal in zip(new, self.inner.propose(new), strict=True):
            self.known[text(pair)] = proposal
        return [dataclasses.replace(self.known[text(p)], key=p.key) for p in pairs]


@pytest.fixture(scope="session")
def memo_labeller(local_labeller) -> SessionMemo:
    return SessionMemo(local_labeller)


class Counting:
    """Records which pairs a labeller was asked about; can fail on a chosen call (fault injection)."""

    def __init__(self, inner, model_name: str | None = None, fail_on_call: int | None = None):
        self.inner, self.fail_on_call = inner, fail_on_call
        self.model_name = model_name or inner.model_name
        self.prompt_version = inner.prompt_version
        self.calls: list[list[str]] = []

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]:
        self.calls.append([p.key for p in pairs])
        if len(self.calls) == self.fail_on_call:
            raise LlmUnavailable("the LLM endpoint did not answer (injected)")
        return [dataclasses.replace(p, model=self.model_name) for p in self.inner.propose(pairs)]


def rows_of(url: str, model) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(model)).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def llm_cli(sqlite_cli, model_cache, monkeypatch):
    """The CLI on SQLite, loading the embedded model from the session's dequantised copy."""
    monkeypatch.setenv("PAIRLOOP_LLM_MODEL_CACHE", str(model_cache))
    return sqlite_cli


def fbl_pair_texts(datasets: Path, n: int, start: int = 0) -> list[PairText]:
    rows = read_pairs(datasets / "fbl" / "FBL2023.tsv")
    texts = []
    for i, row in enumerate(rows):
        if i >= start + n:
            break
        if i >= start:
            texts.append(PairText(f"fbl-{row.line}", row.item_a.title, row.item_b.title))
    return texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving the embedded GGUF; yields its /v1 base URL."""
    try:
        import llama_cpp.server.app  # noqa: F401  (needs the [server] extra)
    except ImportError as exc:
        pytest.skip(f"llama-cpp-python[server] is not installed: {exc}")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf()),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server not ready after {SERVER_START_TIMEOUT_S} s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | str = ""
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def chat_reply(content: str, logprobs: list[tuple[str, float]] | None = None) -> Reply:
    """An OpenAI-style chat completion answer, with or without first-token log-probabilities."""
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content},
                              "finish_reason": "stop", "logprobs": None}
    if logprobs is not None:
        top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in logprobs]
        choice["logprobs"] = {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"],
                                           "top_logprobs": top}]}
    return Reply(body={"id": "x", "object": "chat.completion", "choices": [choice],
                       "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107}})


class FaultyEndpoint:
    """A fake of a misbehaving OpenAI-compatible server (fault injection, named as such): it
    answers with the scripted replies in order, repeating the last one, and records requests."""

    def __init__(self, replies: list[Reply]):
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                endpoint.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                reply = endpoint.replies[min(len(endpoint.requests), len(endpoint.replies)) - 1]
                time.sleep(reply.delay_s)
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload.encode())))
                    self.end_headers()
                    self.wfile.write(payload.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty_endpoint() -> Iterator[type[FaultyEndpoint]]:
    """Build endpoints with ``faulty_endpoint([Reply(...), ...])``; all are stopped after the test."""
    made: list[FaultyEndpoint] = []

    def make(replies: list[Reply]) -> FaultyEndpoint:
        endpoint = FaultyEndpoint(replies)
        made.append(endpoint)
        return endpoint

    yield make  # type: ignore[misc]
    for endpoint in made:
        endpoint.close()

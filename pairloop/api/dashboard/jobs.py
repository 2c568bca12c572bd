"""Long dashboard actions (start, sync, adjudicate, close a round) as background jobs.

One worker thread runs them in order, so two round actions never interleave on the store,
and the request that asked returns at once; the page polls the job's fragment. A job
reports its current step through the use case's ``ctx.progress``. What a failed job shows
is the error's own message and kind (the use cases' errors say how to go on).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from pairloop.usecases.progress import Advance, Say
from store.errors import PairloopError, ServiceUnavailable

logger = logging.getLogger("pairloop.dashboard")
KEPT_JOBS = 50


@dataclass
class Job:
    id: str
    title: str
    state: str = "queued"  # queued → running → done | failed
    step: str = ""
    done: int = 0
    total: int | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    result: BaseModel | None = None
    error: str | None = None
    unreachable: bool = False  # Label Studio, the LLM or the database could not be reached

    @property
    def running(self) -> bool:
        return self.state in ("queued", "running")


class JobProgress:
    """The use case's progress, kept on the job for the page to show."""

    def __init__(self, job: Job):
        self.job = job

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Advance]:
        job = self.job
        job.step, job.done, job.total = description, 0, total

        def advance(n: int = 1) -> None:
            job.done += n

        yield advance

    @contextmanager
    def status(self, message: str) -> Iterator[Say]:
        self.job.step, self.job.total = message, None

        def say(text: str) -> None:
            self.job.step = text

        yield say


class JobRunner:
    """Runs submitted jobs one after another on a daemon thread; keeps the newest ``KEPT_JOBS``."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Job, Callable[[JobProgress], BaseModel]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="pairloop-dashboard-jobs", daemon=True)
        self._thread.start()

    def submit(self, title: str, work: Callable[[JobProgress], BaseModel]) -> Job:
        job = Job(id=secrets.token_urlsafe(12), title=title)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT_JOBS:
                oldest = next(iter(self._jobs.values()))
                if oldest.running:
                    break
                self._jobs.popitem(last=False)
        self._queue.put((job, work))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def recent(self, n: int = 10) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))[:n]

    def stop(self) -> None:
        self._queue.put(None)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            job, work = item
            job.state = "running"
            try:
                job.result = work(JobProgress(job))
                job.state = "done"
            except PairloopError as exc:
                job.error, job.unreachable, job.state = str(exc), isinstance(exc, ServiceUnavailable), "failed"
            except Exception as exc:  # a bug: the page says so, the log keeps the traceback
                logger.exception("dashboard job %r failed", job.title)
                job.error, job.state = f"unexpected error: {exc!r}", "failed"
            finally:
                job.finished = time.time()


def summary(job: Job) -> dict[str, Any] | None:
    """The job's result as JSON, for the page's details."""
    return job.result.model_dump(mode="json") if job.result is not None else None

"""The service's inbox worker: one thread that turns stored webhook events into labels.

Requests only store their event and wake the worker, so a delivery is answered in the time
of one insert. The worker shares the process (and SQLite's single writer) with the requests,
so it works in short batches: it lets deliveries gather for a moment after a wake-up, and
pauses between batches while a backlog drains. Labels follow a delivery within ~0.1 s.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from annotator.webhooks import process_pending

BATCH = 20  # events per transaction: short, so deliveries never wait long for the write lock
GATHER_S = 0.05  # after a wake-up, let more deliveries arrive: one batch instead of many of one
PAUSE_S = 0.01  # between batches of a backlog, room for the requests
POLL_S = 5.0  # also picks up events another service process stored
log = logging.getLogger(__name__)


class InboxWorker:
    def __init__(self, engine: Engine):
        self._engine = engine
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="pairloop-inbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """New events are stored: process them soon."""
        self._wake.set()

    def stop(self) -> None:
        """Finish what is stored, then stop."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=60)

    def _drain(self) -> None:
        while process_pending(self._engine, limit=BATCH, retry_failed=False, batch_size=BATCH).processed == BATCH:
            if not self._stopping:
                time.sleep(PAUSE_S)

    def _run(self) -> None:
        while True:
            self._wake.wait(POLL_S)
            if not self._stopping:
                time.sleep(GATHER_S)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # the database went away for a moment: try again on the next wake-up
                log.exception("processing the webhook inbox failed")
            if self._stopping:
                return

"""The service's inbox worker: one thread that turns stored webhook events into labels.

Requests only store their event and wake the worker, so a delivery is answered in the time
of one insert; a single processor also means no write contention between processors.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from annotator.webhooks import process_pending

BATCH = 50  # events per transaction: short, so deliveries never wait long for the write lock
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
        """New events are stored: process them now."""
        self._wake.set()

    def stop(self) -> None:
        """Finish what is stored, then stop."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=60)

    def _drain(self) -> None:
        while process_pending(self._engine, limit=BATCH, retry_failed=False, batch_size=BATCH).processed:
            pass

    def _run(self) -> None:
        while True:
            self._wake.wait(POLL_S)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # the database went away for a moment: try again on the next wake-up
                log.exception("processing the webhook inbox failed")
            if self._stopping:
                return

"""Run the service: in the foreground (`pairloop serve`) or in a background thread (the demo and
the tests talk to it while they work).

This runner sits beside the two front ends rather than in either: the CLI starts the service
through it without importing the API's modules itself.
"""

from __future__ import annotations

import threading
import time
from typing import Self

import uvicorn

from pairloop import service
from pairloop.api.main import create_app
from pairloop.settings import Settings
from store.errors import ServiceUnavailable


def serve(settings: Settings, access_log: bool = False) -> None:
    """Serve the API and the webhooks on ``settings.service_host:service_port`` until interrupted."""
    uvicorn.run(create_app(settings), host=settings.service_host, port=settings.service_port,
                access_log=access_log, log_level="warning")


class ServiceThread:
    """``create_app(settings)`` served by uvicorn on ``settings.service_host:service_port``.

    Use as a context manager, or call :meth:`stop`. The webhook URL Label Studio should call
    is ``pairloop.service.webhook_url(settings)``.
    """

    def __init__(self, settings: Settings, start_timeout_s: float = 30.0):
        self.settings = settings
        self.url = service.service_url(settings)
        config = uvicorn.Config(create_app(settings), host=settings.service_host,
                                port=settings.service_port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="pairloop-service", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServiceUnavailable(f"the pairloop service did not start on {self.url} (port taken? "
                                         "set PAIRLOOP_SERVICE_PORT to a free port)")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

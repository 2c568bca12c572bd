"""Assemble the FastAPI app: ``create_app(settings)``; ``pairloop serve`` runs it with uvicorn."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.responses import Response

from annotator.webhooks import process_pending
from pairloop import service
from pairloop.api import dashboard
from pairloop.api.errors import MAX_ECHOED_INPUT
from pairloop.api.routers import health, labels, metrics, reports, rounds, snapshots, webhooks
from pairloop.api.worker import InboxWorker
from pairloop.settings import Settings
from pairloop.store_access import open_store
from store.errors import PairloopError

# Each declares its routes' auth, error responses and route class (pairloop.api.dependencies.GuardedRoute).
ROUTERS = (health.router, webhooks.router, rounds.router, labels.router, metrics.router, snapshots.router,
           reports.router)


async def pairloop_error(request: Request, exc: Exception) -> Response:
    """The only place errors become HTTP statuses: each kind carries its own (and its message
    says how to go on, as the CLI shows it). The dashboard's pages show it as a page."""
    assert isinstance(exc, PairloopError)
    if dashboard.is_dashboard(request):
        return dashboard.error_page(request, exc)
    return JSONResponse({"detail": str(exc)}, status_code=exc.http_status)


def _echoable(value: Any) -> bool:
    """Whether a refused value can be repeated in a 422: short, and JSON can say it (Python's
    JSON reader accepts 1e999 and lone surrogates, which no response can carry)."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode()
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return False
    return len(text) <= MAX_ECHOED_INPUT


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 (the list of field errors), without repeating a refused value it should not:
    the default handler echoes each one whole (a 60 KB string in, 60 KB back) and fails (a 500)
    on one JSON cannot carry."""
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    for error in errors:
        if not _echoable(error.get("input")):
            del error["input"]
    return JSONResponse({"detail": errors}, status_code=422)


def create_app(settings: Settings) -> FastAPI:
    """The service on the configured store. Events stored but not processed (the process
    died after answering) are processed at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = open_store(settings)
        app.state.engine = engine
        await run_in_threadpool(process_pending, engine)
        app.state.inbox = InboxWorker(engine)
        app.state.inbox.start()
        dashboard.start(app)
        try:
            yield
        finally:
            dashboard.stop(app)
            await run_in_threadpool(app.state.inbox.stop)
            engine.dispose()

    app = FastAPI(
        title="pairloop",
        summary="Label Studio webhooks, the REST API for acquisition rounds, and the dashboard at /.",
        lifespan=lifespan,
    )
    app.add_exception_handler(PairloopError, pairloop_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.state.settings = settings
    app.state.api_token = service.api_token(settings)
    app.state.webhook_secret = service.webhook_secret(settings)
    for router in ROUTERS:
        app.include_router(router)
    dashboard.install(app)
    return app

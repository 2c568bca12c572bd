"""Assemble the FastAPI app: ``create_app(settings)``; ``pairloop serve`` runs it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from annotator.webhooks import process_pending
from pairloop import service
from pairloop.api.routers import health, labels, metrics, rounds, snapshots, webhooks
from pairloop.api.worker import InboxWorker
from pairloop.settings import Settings
from pairloop.store_access import open_store
from store.errors import PairloopError, ServiceUnavailable


async def pairloop_error(_request: Request, exc: Exception) -> JSONResponse:
    """The only place errors become HTTP statuses: each kind carries its own."""
    assert isinstance(exc, PairloopError)
    detail = str(exc)
    if isinstance(exc, ServiceUnavailable):
        detail += " — work done so far is kept; retry to resume"
    return JSONResponse({"detail": detail}, status_code=exc.http_status)


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
        try:
            yield
        finally:
            await run_in_threadpool(app.state.inbox.stop)
            engine.dispose()

    app = FastAPI(
        title="pairloop",
        summary="Label Studio webhooks and the REST API for acquisition rounds.",
        lifespan=lifespan,
    )
    app.add_exception_handler(PairloopError, pairloop_error)
    app.state.settings = settings
    app.state.api_token = service.api_token(settings)
    app.state.webhook_secret = service.webhook_secret(settings)
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(rounds.router)
    app.include_router(labels.router)
    app.include_router(metrics.router)
    app.include_router(snapshots.router)
    return app

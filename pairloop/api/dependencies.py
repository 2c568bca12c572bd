"""What routes depend on: the store's engine, the settings, a use case's context, the two kinds
of authentication, ids, and the route class that checks the caller before reading a body.

REST routers protect themselves with ``dependencies=[Depends(require_api_token)]`` and use
``route_class=GuardedRoute``. All of these are ``async def`` although they never wait: FastAPI
runs a plain ``def`` dependency in its threadpool, a thread hop per dependency per request
(what the webhook's latency is made of).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar

from fastapi import Depends, HTTPException, Path, Request, Response, Security, status
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.types import Message, Receive

from annotator.webhooks import SECRET_HEADER
from pairloop.api.errors import JSON_BODY_LIMIT, WEBHOOK_BODY_LIMIT
from pairloop.settings import Settings
from pairloop.usecases.context import Context
from pairloop.usecases.progress import LoggedProgress
from store.models import MAX_ID

# Long use cases run inside the service log how long each step took instead of drawing bars.
SERVICE_PROGRESS = LoggedProgress(logging.getLogger("pairloop.service"))
_bearer = HTTPBearer(
    scheme_name="ApiToken", auto_error=False,
    description="The API token (PAIRLOOP_API_TOKEN, or DATA_DIR/secrets/api-token).",
)
_webhook_key = APIKeyHeader(
    name=SECRET_HEADER, scheme_name="WebhookSecret", auto_error=False,
    description="The secret Label Studio was told to send (PAIRLOOP_WEBHOOK_SECRET, or "
                "DATA_DIR/secrets/webhook-secret).",
)


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_context(request: Request) -> Context:
    """A use case's context on the service's settings and engine (kept open: the service owns it)."""
    state = request.app.state
    return Context(state.settings, SERVICE_PROGRESS, engine_given=state.engine)


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ContextDep = Annotated[Context, Depends(get_context)]


def id_path(what: str) -> Any:
    """A path parameter holding a row id: the columns are 32-bit, so a larger number is a 422
    (the same on SQLite and PostgreSQL) rather than a query the database refuses."""
    return Path(ge=1, le=MAX_ID, description=f"The {what}'s id (ids run from 1 to {MAX_ID}).")


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def require_api_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> None:
    """401 unless the request carries ``Authorization: Bearer <api token>``."""
    if credentials is None or not _same(credentials.credentials, request.app.state.api_token):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


async def require_webhook_secret(request: Request, secret: Annotated[str | None, Security(_webhook_key)]) -> None:
    """401 unless the request carries the shared secret Label Studio was told to send."""
    if not _same(secret, request.app.state.webhook_secret):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"missing or wrong {SECRET_HEADER} header")


_CREDENTIALS = {require_api_token: _bearer, require_webhook_secret: _webhook_key}


def _too_large(limit: int) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"request body over {limit} bytes")


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive`` refusing a body that grows over ``limit`` (a chunked one has no Content-Length)."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _too_large(limit)
        return message

    return capped


class GuardedRoute(APIRoute):
    """A route that refuses a wrong caller and an oversized body before anything reads the body.

    FastAPI reads and parses a request's body before it solves the route's dependencies, so an
    unauthenticated 50 MB POST would be read, then refused. This runs the route's credential
    check (its ``require_api_token`` or ``require_webhook_secret`` dependency) first; then a 413
    for a body over ``body_limit``, from its Content-Length at once or while it streams in. The
    check runs again as a dependency: that is where OpenAPI learns of it.
    """

    body_limit: ClassVar[int] = JSON_BODY_LIMIT

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks = [(d.dependency, _CREDENTIALS[d.dependency]) for d in self.dependencies
                  if d.dependency in _CREDENTIALS]
        limit = self.body_limit

        async def guarded(request: Request) -> Response:
            for check, scheme in checks:
                await check(request, await scheme(request))
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise _too_large(limit)
            return await handler(Request(request.scope, _capped(request.receive, limit)))

        return guarded


class WebhookRoute(GuardedRoute):
    body_limit = WEBHOOK_BODY_LIMIT

"""What routes depend on: the store's engine, the settings, a use case's context, and the two
kinds of authentication.

REST routers protect themselves with ``dependencies=[Depends(require_api_token)]``. All of these
are ``async def`` although they never wait: FastAPI runs a plain ``def`` dependency in its
threadpool, a thread hop per dependency per request (what the webhook's latency is made of).
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from annotator.webhooks import SECRET_HEADER
from pairloop.settings import Settings
from pairloop.usecases.context import Context
from pairloop.usecases.progress import LoggedProgress

# Long use cases run inside the service log how long each step took instead of drawing bars.
SERVICE_PROGRESS = LoggedProgress(logging.getLogger("pairloop.service"))
_bearer = HTTPBearer(
    auto_error=False, description="The API token (PAIRLOOP_API_TOKEN, or DATA_DIR/secrets/api-token)."
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


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def require_api_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """401 unless the request carries ``Authorization: Bearer <api token>``."""
    if credentials is None or not _same(credentials.credentials, request.app.state.api_token):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


async def require_webhook_secret(request: Request) -> None:
    """401 unless the request carries the shared secret Label Studio was told to send."""
    if not _same(request.headers.get(SECRET_HEADER), request.app.state.webhook_secret):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"missing or wrong {SECRET_HEADER} header")

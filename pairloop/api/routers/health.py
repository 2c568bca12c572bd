"""``GET /health``: the service is up and its database answers."""

from __future__ import annotations

from fastapi import APIRouter

from pairloop.api.dependencies import ContextDep, GuardedRoute
from pairloop.api.errors import responses
from pairloop.usecases import service
from pairloop.usecases.service import Health

router = APIRouter(tags=["health"], route_class=GuardedRoute, responses=responses(503))


@router.get("/health", response_model=Health)
def health(ctx: ContextDep) -> Health:
    return service.health(ctx)

"""``GET /health``: the service is up and its database answers."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from pairloop.api.dependencies import EngineDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(engine: EngineDep) -> dict[str, str]:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok"}

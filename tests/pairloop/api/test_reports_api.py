"""/reports: what the dashboard shows, as JSON, behind the API token (the use cases are tested in
tests/pairloop/usecases/test_dashboard_reads.py)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from support.service import seed_round

from pairloop.usecases.context import Context
from pairloop.usecases.queue import annotation_queue
from pairloop.usecases.round_progress import rounds_progress
from store.models import RoundPair

PATHS = ("/reports/rounds", "/reports/curve", "/reports/stopping", "/reports/annotators", "/reports/llm",
         "/reports/disagreements", "/reports/queue")


@pytest.fixture
def seeded(db_url, engine, service):
    round_id, pairs = seed_round(db_url, 3)
    with engine.begin() as conn:
        conn.execute(update(RoundPair).where(RoundPair.round_id == round_id).values(status="pushed"))
    return round_id, Context(service.settings, engine_given=engine)


@pytest.mark.parametrize("path", PATHS)
def test_reports_need_the_api_token(service, path):
    assert httpx.get(service.url + path).status_code == 401


def test_reports_answer_what_the_use_cases_return(api, seeded):
    round_id, ctx = seeded
    assert api.get("/reports/rounds").json() == rounds_progress(ctx).model_dump(mode="json")
    assert api.get("/reports/queue", params={"limit": 2}).json() == \
        annotation_queue(ctx, limit=2).model_dump(mode="json")
    assert api.get("/reports/queue").json()["total"] == 3
    assert api.get("/reports/annotators").json()["round"] == round_id
    assert api.get("/reports/disagreements", params={"round": round_id}).json()["total"] == 0
    assert api.get("/reports/curve").json() == {"points": [], "classes": []}
    assert "needs" in api.get("/reports/stopping").json()["message"]
    assert api.get("/reports/llm").json() == {"models": []}
    assert api.get("/reports/annotators", params={"round": 999}).status_code == 404
    assert api.get("/reports/queue", params={"limit": 0}).status_code == 422

"""The REST API for ML engineers: bearer auth, rounds, labels, metrics (real app on uvicorn)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from support.service import API_TOKEN, seed_round

from pairloop.api.main import create_app
from pairloop.sample.catalogue import write_sample
from pairloop.settings import Settings
from store import formats
from store.db import make_engine
from store.importer import Importer
from store.models import RoundPair
from store.repository import remember_names


@pytest.mark.parametrize("path", ["/rounds", "/rounds/1", "/labels/verified", "/labels/pairs/1", "/metrics"])
def test_every_rest_route_needs_the_bearer_token(service, path):
    assert httpx.get(service.url + path).status_code == 401
    wrong = httpx.get(service.url + path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_rounds_labels_and_metrics(api, db_url, tmp_path):
    sample = write_sample(tmp_path / "sample")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        Importer(conn).pairs(formats.read_pairs(sample.seed_labels))
    engine.dispose()
    round_id, _pair_ids = seed_round(db_url, 3)

    rounds = api.get("/rounds").json()
    assert [r["id"] for r in rounds] == [round_id]
    status = api.get(f"/rounds/{round_id}").json()
    assert (status["pairs"], status["verified"], status["state"]) == (3, 0, "verifying")
    assert (status["disputed"], status["in_adjudication"], status["adjudicated"]) == (0, 0, 0)
    assert api.get("/rounds/999").status_code == 404
    assert api.post(f"/rounds/{round_id}/sync").status_code == 409  # nothing in Label Studio yet
    assert api.post(f"/rounds/{round_id}/adjudicate").status_code == 409

    page = api.get("/labels/verified", params={"limit": 20}).json()
    assert len(page["labels"]) == 20 and page["next_after"] is not None
    rest = api.get("/labels/verified", params={"after": page["next_after"], "limit": 20}).json()
    assert len(rest["labels"]) == 10 and rest["next_after"] is None
    first = page["labels"][0]
    history = api.get(f"/labels/pairs/{first['pair_id']}").json()
    assert len(history["history"]) == 3 and history["verified"]["relation"] == first["relation"]
    actor = history["history"][0]["actor"]
    assert {event["name"] for event in history["history"]} == {None}  # no e-mail cached yet
    engine = make_engine(db_url)
    with engine.begin() as conn:
        remember_names(conn, {actor: "ann@example.com"})
    engine.dispose()
    named = api.get(f"/labels/pairs/{first['pair_id']}").json()["history"]
    assert [e["name"] for e in named] == ["ann@example.com" if e["actor"] == actor else None for e in named]
    assert api.get("/labels/pairs/999999").status_code == 404

    metrics = api.get("/metrics").json()
    assert metrics["store"]["verified"]["pairs"] == 30
    assert metrics["rounds"][0]["id"] == round_id


def test_a_round_with_unanswered_pairs_closes_only_when_forced(api, db_url, tmp_path):
    """The API's status and close are the CLI's: the same counts, the same refusal, the same record."""
    sample = write_sample(tmp_path / "sample")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        importer = Importer(conn)
        importer.items(formats.read_items(sample.catalogue))
        importer.pairs(formats.read_pairs(sample.seed_labels))
    round_id, pair_ids = seed_round(db_url, 3)
    with engine.begin() as conn:  # in Label Studio, as the push leaves them
        conn.execute(update(RoundPair).where(RoundPair.round_id == round_id).values(status="pushed"))
    engine.dispose()

    status = api.get(f"/rounds/{round_id}").json()
    assert (status["pending"], status["partly_answered"], status["late_answers"]) == (3, 0, 0)
    refused = api.post(f"/rounds/{round_id}/close")
    assert refused.status_code == 409
    assert f"3 unanswered (pairs {', '.join(map(str, pair_ids))})" in refused.json()["detail"]
    assert api.get(f"/rounds/{round_id}").json()["state"] == "verifying"

    closed = api.post(f"/rounds/{round_id}/close", params={"force": "true"}, timeout=120)
    assert closed.status_code == 200, closed.text
    metrics = closed.json()["metrics"]
    assert (metrics["forced"], metrics["pending"], metrics["classifier"]["retrained"]) == (True, 3, True)
    (listed,) = api.get("/rounds").json()
    assert listed["closed_classifier_version"] == metrics["classifier"]["version"]
    assert api.get("/metrics").json()["rounds"][0]["closed_classifier_version"] == metrics["classifier"]["version"]
    assert api.post(f"/rounds/{round_id}/close", params={"force": "true"}).status_code == 409  # already closed


def test_openapi_documents_the_routes(service):
    spec = httpx.get(service.url + "/openapi.json").json()
    assert {"/rounds", "/rounds/{round_id}/close", "/rounds/{round_id}/adjudicate", "/labels/verified", "/metrics",
            "/webhooks/label-studio"} <= set(spec["paths"])
    assert httpx.get(service.url + "/docs").status_code == 200


def _names_a_schema(content: dict) -> bool:
    """A declared body: JSON as a named model (or a list of them), any other type with a schema."""
    if not content:
        return False
    for media_type, body in content.items():
        schema = body.get("schema") or {}
        if media_type == "application/json":
            if "$ref" not in schema and "$ref" not in schema.get("items", {}):
                return False
        elif not schema:
            return False
    return True


def test_openapi_declares_a_response_schema_for_every_endpoint(tmp_path):
    """Every path and method says what it answers: a client can be generated from /openapi.json."""
    settings = Settings(data_dir=tmp_path, api_token=API_TOKEN, webhook_secret="secret")
    spec = TestClient(create_app(settings)).get("/openapi.json").json()  # no lifespan: no database needed
    operations = [(f"{method.upper()} {path}", operation["responses"])
                  for path, methods in spec["paths"].items() for method, operation in methods.items()]
    undeclared = [name for name, responses in operations
                  if not any(_names_a_schema(responses.get(code, {}).get("content", {})) for code in ("200", "201"))]
    assert {"GET /rounds", "POST /rounds/{round_id}/close", "GET /snapshots/{version}/files/{name}",
            "POST /webhooks/label-studio"} <= {name for name, _ in operations}
    assert not undeclared, undeclared

"""Requests a hostile but fair client sends: each is a clear 4xx, never a 500, the same on SQLite
and PostgreSQL; bodies are refused before they are read; refusals stay small (issue 17)."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from support.service import API_TOKEN, WEBHOOK_SECRET, delivery, labels, seed_round, wait_processed

from annotator.annotations import answer_result
from annotator.webhooks import SECRET_HEADER, annotation_key
from pairloop.api.dependencies import GuardedRoute
from pairloop.api.errors import JSON_BODY_LIMIT, WEBHOOK_BODY_LIMIT
from pairloop.api.main import ROUTERS
from store.models import MAX_ID, WebhookEvent

WEBHOOK = "/webhooks/label-studio"
T1 = "2026-01-01T10:00:00.000001Z"
_ANNOTATION = {"id": 1, "task": 1, "updated_at": T1, "completed_by": 1, "result": []}


def _created(**overrides) -> dict:
    return {"action": "ANNOTATION_CREATED", "annotation": _ANNOTATION, "task": {"id": 1, "data": {}}, **overrides}


def _stored(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(WebhookEvent))


MALFORMED = [
    _created(task="a string"),
    _created(task=[1, 2]),
    _created(task={"id": 1, "data": [1]}),
    _created(task={"id": 1, "data": "pair 3"}),
    _created(annotation={**_ANNOTATION, "updated_at": "0001-01-01T00:00:00+01:00"}),
    _created(annotation={**_ANNOTATION, "updated_at": "9999-12-31T23:59:59-01:00"}),
    _created(annotation={**_ANNOTATION, "id": MAX_ID + 1}),
    _created(annotation={**_ANNOTATION, "id": 2**63}),
    _created(annotation={**_ANNOTATION, "id": -1}),
    _created(annotation={**_ANNOTATION, "id": 1.5}),
    _created(annotation={**_ANNOTATION, "id": True}),
    _created(annotation={**_ANNOTATION, "id": "١٢"}),  # Arabic-Indic digits: int() would read 12
    _created(annotation={**_ANNOTATION, "task": [1]}),
    _created(annotation={**_ANNOTATION, "completed_by": "x" * 300}),  # an actor longer than its column
    _created(annotation={**_ANNOTATION, "completed_by": None}),
    _created(task={"id": 1, "data": {"pair_id": 2**40}}),
    _created(task={"id": 1, "data": {"round_id": "three"}}),
    {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 2**31}]},
    {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1e300}]},
    {"action": "ANNOTATIONS_DELETED", "annotations": "1"},
    {"action": "ANNOTATIONS_DELETED", "annotations": [1]},
    # A NUL in an answer's text: PostgreSQL cannot keep it, so neither backend takes it.
    _created(annotation={**_ANNOTATION, "result": [{"from_name": "comment", "value": {"text": ["a\x00b"]}}]}),
]


def test_a_malformed_delivery_with_the_right_secret_is_400_and_stores_nothing(client, engine):
    for body in MALFORMED:
        response = client.post(WEBHOOK, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["detail"]
    assert _stored(engine) == 0


def test_keys_of_times_before_the_year_1000_sort_before_later_ones():
    """``strftime("%Y")`` writes 999, not 0999: such a key sorted after every real one."""
    assert annotation_key(1, "0999-01-01T00:00:00Z") < annotation_key(1, T1)
    assert annotation_key(1, "0999-01-01T00:00:00Z").startswith("ls:1:0999-01-01T00:00:00.000000Z")


def test_a_state_dated_before_the_year_1000_never_overrides_a_real_answer(client, db_url, engine):
    round_id, (pair, *_) = seed_round(db_url, 1)

    def send(when: str, relation: str) -> None:
        body = delivery("ANNOTATION_UPDATED", 9, when, task_id=1, pair_id=pair, round_id=round_id,
                        result=answer_result(relation))
        assert client.post(WEBHOOK, json=body).status_code == 200

    send(T1, "complementary")
    send("0999-01-01T00:00:00Z", "unrelated")  # an older state, however it is written
    wait_processed(engine, 2)
    assert [row.relation for row in labels(engine)] == ["complementary"]


ID_ROUTES = [("GET", "/rounds/{}"), ("GET", "/labels/pairs/{}"), ("GET", "/labels/verified?after={}"),
             ("POST", "/rounds/{}/sync"), ("POST", "/rounds/{}/adjudicate"), ("POST", "/rounds/{}/close")]


def test_ids_beyond_the_columns_range_are_422_naming_the_limit(api):
    """The id columns are 32-bit: 2^31 made PostgreSQL fail, 2^63 SQLite too (a 500 each)."""
    for method, route in ID_ROUTES:
        for value in (MAX_ID + 1, 2**63, 2**64, -1):
            response = api.request(method, route.format(value))
            assert response.status_code == 422, (route, value, response.text)
            (error,) = response.json()["detail"]
            assert error["loc"][-1] in ("round_id", "pair_id", "after")
            assert str(MAX_ID) in error["msg"] or "greater than or equal" in error["msg"]
        assert api.request(method, route.format(MAX_ID)).status_code == (200 if "verified" in route else 404)


def test_a_snapshot_version_no_version_can_have_is_422(api):
    for version in ("v%00", "v%1F", "v" * 65):
        assert api.get(f"/snapshots/{version}").status_code == 422
        assert api.get(f"/snapshots/{version}/files/nodes.jsonl").status_code == 422


def test_round_requests_outside_the_schema_are_422_lists(api):
    """An unknown strategy was a ValueError (500) once the store had labels; a seed over 2^31 a
    PostgreSQL error: the schema says what a round request may hold."""
    for body in ({"strategy": "no-such-strategy"}, {"llm": "no-such-llm"}, {"seed": -1}, {"seed": MAX_ID + 1},
                 {"size": 0}, {"size": 2**63}):
        response = api.post("/rounds", json=body)
        assert response.status_code == 422
        assert [error["loc"] for error in response.json()["detail"]] == [["body", *body]], body


def test_a_use_case_refusal_is_one_message_as_the_schema_says(api, service):
    """The use case refuses (an empty store): ``detail`` is a string, which the 422 declares."""
    refused = api.post("/rounds", json={})
    assert refused.status_code == 422 and isinstance(refused.json()["detail"], str)
    declared = api.get("/openapi.json").json()
    schema = declared["paths"]["/rounds"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    union = declared["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]["anyOf"]
    assert {"#/components/schemas/ErrorResponse", "#/components/schemas/ValidationErrorResponse"} == {
        option["$ref"] for option in union}


def test_times_in_answers_carry_their_zone_on_every_backend(api, db_url):
    """The schema promises RFC 3339 date-times; SQLite reads a stored time back without its zone
    (fuzzing found "2026-12-02T00:10:55.062828" on SQLite where PostgreSQL answers "...+00:00")."""
    seed_round(db_url, 1)
    created = api.get("/rounds").json()[0]["created_at"]
    assert datetime.fromisoformat(created).utcoffset() == timedelta(0), created


# --- bodies --------------------------------------------------------------------------------


def _exchange(url: str, head: str, body_start: bytes = b"") -> tuple[int, bytes, float]:
    """Send a request's head and the start of its body, never the rest; return the status, the
    response and the seconds it took. A server that waits for the whole body times out here."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body_start)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pytest.fail(f"no answer in 10 s: the server waits for the body it should refuse ({answer[:80]!r})")
    return int(answer.split(b" ", 2)[1]), answer, time.monotonic() - started


def _head(path: str, length: int | None, *headers: str) -> str:
    size = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return "\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", size,
                      *headers, ""])


FIFTY_MB = 50 * 1024 * 1024
TOKEN = f"Authorization: Bearer {API_TOKEN}"


def test_an_unauthenticated_body_is_refused_before_it_is_read(service):
    """50 MB announced, 14 bytes sent: the 401 comes without waiting for (or reading) the rest."""
    status, answer, seconds = _exchange(service.url, _head("/rounds", FIFTY_MB), b'{"strategy": "')
    assert status == 401 and b"bearer token" in answer and seconds < 5
    status, _, _ = _exchange(service.url, _head("/rounds", FIFTY_MB, "Authorization: Bearer wrong"), b"{")
    assert status == 401
    status, answer, _ = _exchange(service.url, _head(WEBHOOK, FIFTY_MB), b"{")
    assert status == 401 and SECRET_HEADER.encode() in answer


def test_an_authenticated_body_over_the_limit_is_413_from_its_length(service):
    status, answer, _ = _exchange(service.url, _head("/rounds", FIFTY_MB, TOKEN), b"{")
    assert status == 413 and str(JSON_BODY_LIMIT).encode() in answer
    status, _, _ = _exchange(service.url, _head("/rounds", JSON_BODY_LIMIT + 1, TOKEN), b"{")
    assert status == 413
    status, _, _ = _exchange(service.url, _head(WEBHOOK, WEBHOOK_BODY_LIMIT + 1, f"{SECRET_HEADER}: {WEBHOOK_SECRET}"))
    assert status == 413


def test_a_chunked_body_is_refused_once_it_grows_over_the_limit(service):
    """No Content-Length: the limit is counted as the chunks arrive (the last one is never sent)."""
    chunk = b"x" * 16384
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(JSON_BODY_LIMIT // len(chunk) + 1))
    status, _, _ = _exchange(service.url, _head("/rounds", None, TOKEN), chunks)
    assert status == 413
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(WEBHOOK_BODY_LIMIT // len(chunk) + 1))
    status, _, _ = _exchange(service.url, _head(WEBHOOK, None, f"{SECRET_HEADER}: {WEBHOOK_SECRET}"), chunks)
    assert status == 413


def test_a_delivery_under_the_webhook_limit_is_taken(client, engine):
    """A long comment, 0.9 MiB: under the webhook's limit (which is over the REST API's)."""
    body = _created(annotation={**_ANNOTATION, "result": [{"value": {"text": ["x" * 900_000]}}]})
    assert client.post(WEBHOOK, json=body).json() == {"received": 1}
    assert _stored(engine) == 1


def test_a_422_never_echoes_a_large_input(api):
    response = api.post("/rounds", json={"size": "9" * 60_000})
    assert response.status_code == 422 and len(response.content) < 1000
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "size"] and "input" not in error
    response = api.get("/labels/verified", params={"rule": "r" * 8000})
    assert response.status_code == 422 and len(response.content) < 1000
    small = api.get("/labels/verified", params={"limit": "many"}).json()["detail"]
    assert small[0]["input"] == "many"  # a small one is still shown


def test_a_value_json_cannot_repeat_is_refused_without_repeating_it(api):
    """Python's JSON reader takes lone surrogates, 1e999 and NaN; echoing them back was a 500."""
    for body in (b'{"strategy": "\\ud800"}', b'{"size": 1e999}', b'{"seed": NaN}'):
        response = api.post("/rounds", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (body, response.text)
        assert "input" not in response.json()["detail"][0]


def test_every_route_checks_its_caller_before_its_body():
    """FastAPI reads a body before it solves dependencies: only GuardedRoute checks first."""
    for router in ROUTERS:
        assert router.route_class is GuardedRoute or issubclass(router.route_class, GuardedRoute)
        assert all(isinstance(route, GuardedRoute) for route in router.routes)


# --- what the schema declares --------------------------------------------------------------


def test_openapi_declares_error_responses_and_the_webhook_secret(service, api):
    spec = api.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["WebhookSecret"] == {**schemes["WebhookSecret"], "type": "apiKey", "in": "header",
                                        "name": SECRET_HEADER}
    webhook = spec["paths"][WEBHOOK]["post"]
    assert webhook["security"] == [{"WebhookSecret": []}]
    assert {"400", "401", "413"} <= set(webhook["responses"]) and "requestBody" in webhook
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    expected = {("/rounds/{round_id}", "get"): {"401", "404", "422"}, ("/rounds/{round_id}/close", "post"):
                {"401", "404", "409", "422", "503"}, ("/rounds", "post"): {"401", "413", "422"},
                ("/labels/pairs/{pair_id}", "get"): {"401", "404", "422"}, ("/snapshots/{version}", "get"):
                {"401", "404", "409"}}
    for (path, method), statuses in expected.items():
        responses = spec["paths"][path][method]["responses"]
        assert statuses <= set(responses), (path, responses.keys())
        for status in statuses - {"422"}:
            assert responses[status]["content"]["application/json"]["schema"] == error
    parameter = spec["paths"]["/rounds/{round_id}"]["get"]["parameters"][0]
    assert (parameter["schema"]["minimum"], parameter["schema"]["maximum"]) == (1, MAX_ID)

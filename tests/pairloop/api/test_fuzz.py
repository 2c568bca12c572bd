"""API fuzzing: schemathesis against the real service on loopback (issue 17), on SQLite and
PostgreSQL, with the API token and the webhook secret supplied.

Every operation of /openapi.json gets ``MAX_EXAMPLES`` generated requests that fit its schema
and as many that do not (Hypothesis, seeded with ``SEED``: a failure names the operation and
the request, and reruns the same). The checks: no 5xx, every status declared, every body
matching its declared schema and content type. The store holds labelled pairs and a closed
round, so that reads answer with data and the round actions refuse quickly (409): none of them
reaches Label Studio or loads an LLM (POST /rounds finds an empty pool: 422). About 700
requests and 10 s a backend on 2 cores.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.service import API_TOKEN, WEBHOOK_SECRET

from annotator.webhooks import SECRET_HEADER
from pairloop.sample.catalogue import write_sample
from store import formats
from store.db import make_engine
from store.importer import Importer
from store.models import Round
from store.states import RoundState

pytestmark = pytest.mark.slow

SEED = 17
MAX_EXAMPLES = 25  # per operation and per mode (positive, negative)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _seed_store(db_url: str, tmp_path) -> None:
    """Thirty labelled pairs (the sample's seed labels) and a closed round; no unlabelled pair,
    so a new round finds an empty pool instead of asking the LLM and Label Studio."""
    sample = write_sample(tmp_path / "sample")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        Importer(conn).pairs(formats.read_pairs(sample.seed_labels))
        conn.execute(Round.__table__.insert(), {"state": RoundState.CLOSED, "strategy": "margin", "params": {},
                                                "seed": 0})
    engine.dispose()


def _can_be_wrong(operation) -> bool:
    """Whether a request can break the schema: it has parameters or a body (GET /health has neither)."""
    return bool(operation.body) or any(True for _ in operation.iter_parameters())


def test_the_api_answers_fuzzed_requests_as_its_schema_says(db_url, tmp_path, service):
    _seed_store(db_url, tmp_path)
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    headers = {"Authorization": f"Bearer {API_TOKEN}", SECRET_HEADER: WEBHOOK_SECRET}
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:

            if mode is GenerationMode.NEGATIVE and not _can_be_wrong(operation):
                continue

            @seed(SEED)
            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case) -> None:
                response = case.call_and_validate(base_url=service.url, headers=headers, checks=CHECKS, timeout=30)
                statuses[f"{response.status_code}"] += 1

            try:
                fuzz()
            except (Exception, FailureGroup) as exc:  # every operation is fuzzed; all failures reported at the end
                failures.append(f"{operation.label} ({mode.value}, seed {SEED}): {exc}"[:3000])
    print(f"fuzzed {sum(statuses.values())} requests, seed {SEED}: statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures)
    assert sum(statuses.values()) >= 15 * MAX_EXAMPLES  # every operation ran (a filtered-out one would not)

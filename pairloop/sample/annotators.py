"""Simulated annotators for the demo and the tests: people who answer in Label Studio.

Simulated annotators are ordinary Label Studio users (signed up through its forms) who answer
through the API, as a person in the browser would, from the sample catalogue's hidden truth
table. Each has a deliberate error rate, and some answer "unsure", so agreement figures and
majority voting have something to do; an adjudicator, also simulated, decides the pairs they
dispute.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from annotator.annotations import answer_result
from annotator.label_studio import ADJUDICATED_PAIR, LabelStudio, user_token
from pairloop.sample.catalogue import SampleItem, make_items, truth
from store.models import Item, Label, Pair, RoundPair
from store.taxonomy import RELATIONS, LabelSource

ANNOTATOR_PASSWORD = "pairloop-demo-annotator"


@dataclass(frozen=True)
class SimulatedAnnotator:
    email: str
    error_rate: float  # share of answers deliberately wrong
    unsure_rate: float  # share of answers "unsure"


DEFAULT_ANNOTATORS = (
    SimulatedAnnotator("ada@pairloop.demo", 0.03, 0.00),
    SimulatedAnnotator("ben@pairloop.demo", 0.08, 0.05),
    SimulatedAnnotator("cleo@pairloop.demo", 0.20, 0.05),
)
DEFAULT_ADJUDICATOR = SimulatedAnnotator("dora@pairloop.demo", 0.02, 0.00)


def truth_by_pair(engine: Engine, seed: int) -> dict[int, tuple[str, int]]:
    """The hidden true (relation, fine code) of every stored sample pair, item a → item b."""
    items: dict[str, SampleItem] = {item.external_id: item for item in make_items(seed=seed)}
    item_a, item_b = aliased(Item), aliased(Item)
    with engine.connect() as conn:
        rows = conn.execute(select(Pair.id, item_a.external_id, item_b.external_id)
                            .join(item_a, Pair.item_a_id == item_a.id)
                            .join(item_b, Pair.item_b_id == item_b.id)).all()
    known = {}
    for pair_id, a, b in rows:
        if a in items and b in items:
            relation, code = truth(items[a], items[b])
            known[pair_id] = (relation.value, code)
    return known


def answer_round(url: str, project_id: int, annotators: tuple[SimulatedAnnotator, ...],
                 truths: dict[int, tuple[str, int]], seed: int,
                 advance: Callable[[int], None] = lambda _n: None) -> dict[str, int]:
    """Every annotator answers every task of the project it has not answered yet (a verification
    or an adjudication project)."""
    rng = random.Random(seed)
    answered: dict[str, int] = {}
    for person in annotators:
        client = LabelStudio(url, user_token(url, person.email, ANNOTATOR_PASSWORD))
        me = client.whoami()["id"]
        count = 0
        for task in client.list_tasks(project_id):
            if any(_author(a) == me for a in task.annotations):
                continue
            relation, code = truths[int(task.data.get("pair_id", task.data.get(ADJUDICATED_PAIR)))]
            draw = rng.random()
            if draw < person.unsure_rate:
                result = answer_result("unsure")
            elif draw < person.unsure_rate + person.error_rate:
                wrong = rng.choice([r for r in RELATIONS if r != relation])
                result = answer_result(wrong)
            else:
                result = answer_result(relation, code)
            client.create_annotation(task.id, result, lead_time=rng.uniform(4, 40))
            count += 1
            advance(1)
        answered[person.email] = count
    return answered


def _author(annotation: dict[str, Any]) -> int | None:
    author = annotation.get("completed_by")
    return author.get("id") if isinstance(author, dict) else author


def wait_for_webhooks(engine: Engine, round_id: int, expected_labels: int, timeout_s: float = 60.0) -> int:
    """Wait until the webhook has stored ``expected_labels`` human answers for the round; how
    many it had by then."""
    deadline = time.monotonic() + timeout_s
    while True:
        with engine.connect() as conn:
            stored = conn.execute(select(Label.ls_annotation_id).where(
                Label.round_id == round_id, Label.source == LabelSource.HUMAN.value,
                Label.pair_id.in_(select(RoundPair.pair_id).where(RoundPair.round_id == round_id)),
            ).distinct()).all()
        if len(stored) >= expected_labels or time.monotonic() > deadline:
            return len(stored)
        time.sleep(0.5)

"""Counts that describe what the store holds (``pairloop stats``, ``/metrics``): each defined here once.

Knowledge-graph entities are stored as items (source :data:`~store.models.ENTITY_SOURCE`) so that
entity pairs can be labelled like item pairs; they are counted apart from the catalogue's items.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, func, select

from store.models import ENTITY_SOURCE, Behaviour, Item, Label, Pair
from store.verified import MajorityRule, verified_labels


def store_stats(conn: Connection, rule: MajorityRule, min_agreeing: int) -> dict[str, Any]:
    items_by_source = dict(conn.execute(select(Item.source, func.count()).group_by(Item.source)).all())
    entities = items_by_source.pop(ENTITY_SOURCE, 0)
    labels = conn.execute(
        select(Label.source, Label.verdict, Label.relation, func.count()).group_by(
            Label.source, Label.verdict, Label.relation
        )
    ).all()
    by_source: dict[str, dict[str, int]] = {}
    for source, verdict, relation, count in labels:
        by_source.setdefault(source, {})[relation or verdict] = count
    behaviour = dict(conn.execute(select(Behaviour.kind, func.count()).group_by(Behaviour.kind)).all())
    verified, undecided = verified_labels(conn, rule, min_agreeing=min_agreeing)
    return {
        "items": sum(items_by_source.values()),
        "items_by_source": items_by_source,
        "graph_entities": entities,
        "pairs": conn.execute(select(func.count()).select_from(Pair)).scalar_one(),
        "labels": sum(count for *_rest, count in labels),
        "late_labels": conn.execute(select(func.count()).select_from(Label).where(Label.late.is_(True))).scalar_one(),
        "labels_by_source": by_source,
        "behaviour_by_kind": behaviour,
        "verified": {
            "rule": rule.value,
            "min_agreeing": min_agreeing,
            "pairs": len(verified),
            "by_relation": dict(Counter(v.relation.value for v in verified.values())),
            "by_basis": dict(Counter(v.basis for v in verified.values())),
            "without_majority": len(undecided),
        },
    }

"""The knowledge graph's reads and writes on the label store (SQLAlchemy Core, in chunks).

Entities are stored as items of source ``kg-entity`` (external id = the entity name), so
an entity pair is an ordinary pair: the LLM proposal cache, Label Studio rounds and the
verified-label rule work on it unchanged. ``item_entities`` links catalogue items to them.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, func, select
from sqlalchemy.orm import aliased

from knowledge_graph.entities import Extraction, Mention
from knowledge_graph.records import CatalogueItem, Evidence
from store import repository
from store.errors import BadInput
from store.models import ENTITY_SOURCE, Behaviour, Item, ItemEntity, Label, Pair, Snapshot
from store.taxonomy import LabelSource, Verdict
from store.verified import COUNTED, MajorityRule, verified_labels

if TYPE_CHECKING:
    from knowledge_graph.snapshots import Manifest

CHUNK = 1000


def item_key(source: str, external_id: str) -> str:
    return f"{source}:{external_id}"


def read_catalogue(conn: Connection) -> tuple[list[CatalogueItem], dict[str, int]]:
    """Every catalogue item (entities excluded) in id order, and each key's item id."""
    rows = conn.execute(
        select(Item.id, Item.source, Item.external_id, Item.title, Item.category_path)
        .where(Item.source != ENTITY_SOURCE).order_by(Item.id)
    )
    items, ids = [], {}
    for item_id, source, external_id, title, category in rows:
        key = item_key(source, external_id)
        items.append(CatalogueItem(key, title, category))
        ids[key] = item_id
    return items, ids


def save_extraction(conn: Connection, extraction: Extraction, item_ids: dict[str, int]) -> int:
    """Store the entities (as kg-entity items) and replace the stored item → entity links.

    Returns the number of links written.
    """
    methods: dict[str, set[str]] = defaultdict(set)
    for found in extraction.mentions.values():
        for mention in found:
            methods[mention.entity].add(mention.method)
    repository.upsert_items(conn, [
        {"source": ENTITY_SOURCE, "external_id": entity, "title": entity, "category_path": None,
         "description": None, "image_url": None, "attributes": {"methods": sorted(kinds)}}
        for entity, kinds in sorted(methods.items())
    ])
    entity_ids = repository.item_ids(conn, ENTITY_SOURCE, methods)
    conn.execute(delete(ItemEntity))
    rows = [
        {"item_id": item_ids[key], "entity_id": entity_ids[m.entity], "method": m.method, "rank": rank}
        for key, found in sorted(extraction.mentions.items())
        for rank, m in enumerate(found)
    ]
    repository.insert_ignore(conn, ItemEntity.__table__, rows)
    return len(rows)


def read_extraction(conn: Connection) -> Extraction:
    """The stored extraction: every catalogue item, with its entities in rank order."""
    items, _ids = read_catalogue(conn)
    entity = aliased(Item)
    rows = conn.execute(
        select(Item.source, Item.external_id, entity.external_id, ItemEntity.method)
        .join(ItemEntity, ItemEntity.item_id == Item.id)
        .join(entity, entity.id == ItemEntity.entity_id)
        .order_by(Item.id, ItemEntity.rank)
    )
    found: dict[str, list[Mention]] = defaultdict(list)
    for source, external_id, name, method in rows:
        found[item_key(source, external_id)].append(Mention(name, method))
    if not found:
        raise BadInput("no entities extracted yet: run `pairloop graph entities` first")
    return Extraction({item.key: tuple(found.get(item.key, ())) for item in items})


def _pair_keys(conn: Connection, pair_ids: Sequence[int]) -> dict[int, tuple[str, str, str, str]]:
    a, b = aliased(Item), aliased(Item)
    keys = {}
    for start in range(0, len(pair_ids), CHUNK):
        stmt = (select(Pair.id, a.source, a.external_id, b.source, b.external_id)
                .join(a, a.id == Pair.item_a_id).join(b, b.id == Pair.item_b_id)
                .where(Pair.id.in_(pair_ids[start : start + CHUNK])))
        keys.update((pid, (sa, ea, sb, eb)) for pid, sa, ea, sb, eb in conn.execute(stmt))
    return keys


def _latest_votes(conn: Connection) -> dict[int, list[tuple[str, str, int | None]]]:
    """Each actor's latest labelling answer per pair: (relation, source, round id); late answers
    (given after their round closed) are no evidence."""
    latest: dict[tuple[int, str], tuple[str | None, str, int | None]] = {}
    rows = conn.execute(
        select(Label.pair_id, Label.actor, Label.verdict, Label.relation, Label.source, Label.round_id)
        .where(*COUNTED).order_by(Label.id)
    )
    for pair_id, actor, verdict, relation, source, round_id in rows:
        latest[pair_id, actor] = (relation if verdict == Verdict.LABEL.value else None, source, round_id)
    votes: dict[int, list[tuple[str, str, int | None]]] = defaultdict(list)
    for (pair_id, _actor), (relation, source, round_id) in latest.items():
        if relation is not None:
            votes[pair_id].append((relation, source, round_id))
    return votes


def read_evidence(
    conn: Connection,
    rule: MajorityRule,
    min_agreeing: int,
    include_unverified: bool = False,
) -> list[Evidence]:
    """Verified labels as graph evidence, with who decided them and in which rounds.

    With ``include_unverified``, every current answer on a pair without a verified label
    (LLM proposals the trust gate did not accept, human answers without a majority) is
    added as unverified evidence.
    """
    verified, _undecided = verified_labels(conn, rule, min_agreeing=min_agreeing)
    votes = _latest_votes(conn)
    wanted = sorted(set(verified) | (set(votes) if include_unverified else set()))
    keys = _pair_keys(conn, wanted)
    evidence = []
    for pair_id in wanted:
        sa, ea, sb, eb = keys[pair_id]
        if (sa == ENTITY_SOURCE) != (sb == ENTITY_SOURCE):
            continue  # an entity paired with an item is no evidence of either kind
        kind = "entity" if sa == ENTITY_SOURCE else "item"
        a, b = (ea, eb) if kind == "entity" else (item_key(sa, ea), item_key(sb, eb))
        label = verified.get(pair_id)
        if label is not None:
            agreeing = [v for v in votes.get(pair_id, []) if v[0] == label.relation.value]
            sources = Counter(source for _r, source, _round in agreeing)
            source = LabelSource.LLM.value if label.basis == "llm-auto" else (
                min(sources, key=lambda s: (-sources[s], s)) if sources else LabelSource.HUMAN.value)
            rounds = tuple(sorted({r for _rel, _s, r in agreeing if r is not None}))
            evidence.append(Evidence(a, b, label.relation.value, kind, source, True, rounds))
        else:
            evidence.extend(Evidence(a, b, relation, kind, source, False, (r,) if r is not None else ())
                            for relation, source, r in votes[pair_id])
    return evidence


def ensure_entity_pairs(conn: Connection, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Pair ids for entity pairs (created when new), keyed by the (a, b) given."""
    pairs = list(pairs)
    names = {name for pair in pairs for name in pair}
    ids = repository.item_ids(conn, ENTITY_SOURCE, names)
    missing = sorted(names - ids.keys())
    if missing:
        raise BadInput(f"unknown entities {missing[:5]}: run `pairloop graph entities` first")
    canonical = {(a, b): repository.canonical(ids[a], ids[b])[:2] for a, b in pairs if a != b}
    pair_ids = repository.ensure_pairs(conn, list(canonical.values()))
    return {pair: pair_ids[ab] for pair, ab in canonical.items()}


def judged_entity_pairs(conn: Connection) -> set[frozenset[str]]:
    """Entity pairs that already have an answer or a proposal: not worth asking again."""
    a, b = aliased(Item), aliased(Item)
    stmt = (select(a.external_id, b.external_id).select_from(Pair)
            .join(a, a.id == Pair.item_a_id).join(b, b.id == Pair.item_b_id)
            .where(a.source == ENTITY_SOURCE, b.source == ENTITY_SOURCE,
                   Pair.id.in_(select(Label.pair_id))))
    return {frozenset(row) for row in conn.execute(stmt)}


# --- snapshots -----------------------------------------------------------------------------------

def next_version(conn: Connection) -> str:
    numbers = [int(m.group(1)) for v in conn.execute(select(Snapshot.version)).scalars()
               if (m := re.fullmatch(r"v(\d+)", v))]
    return f"v{max(numbers, default=0) + 1:04d}"


SNAPSHOTS = Snapshot.__table__
NEWEST_FIRST = (SNAPSHOTS.c.created_at.desc(), SNAPSHOTS.c.version.desc())


def latest_snapshot(conn: Connection) -> Row | None:
    """The newest registered snapshot's row (``.version``, ``.path``, ...), if any."""
    return conn.execute(select(SNAPSHOTS).order_by(*NEWEST_FIRST).limit(1)).first()


def get_snapshot(conn: Connection, version: str) -> Row | None:
    return conn.execute(select(SNAPSHOTS).where(SNAPSHOTS.c.version == version)).first()


def register_snapshot(conn: Connection, manifest: Manifest, path: str) -> None:
    data = manifest.data
    conn.execute(SNAPSHOTS.insert().values(
        version=data["version"], parent_version=data["parent_version"],
        created_at=datetime.fromisoformat(data["created_at"]), counts=data["counts"],
        checksum=data["checksum"], path=path, label_set_hash=data["label_set_hash"],
    ))


def list_snapshots(conn: Connection) -> list[dict[str, Any]]:
    """Registered snapshots, newest first, as the service and ``pairloop graph`` show them."""
    rows = conn.execute(select(SNAPSHOTS).order_by(*NEWEST_FIRST))
    return [{"version": s.version, "parent_version": s.parent_version, "created_at": s.created_at.isoformat(),
             "counts": s.counts, "checksum": s.checksum, "path": s.path, "label_set_hash": s.label_set_hash}
            for s in rows]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def count_entities(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(Item).where(Item.source == ENTITY_SOURCE)).scalar_one()


def entity_affinity(conn: Connection) -> Counter[frozenset[str]]:
    """Behaviour (co-session, co-basket counts) summed over the entity pairs of its item pairs."""
    ea, eb = aliased(ItemEntity), aliased(ItemEntity)
    stmt = (select(ea.entity_id, eb.entity_id, func.sum(Behaviour.count))
            .join(Pair, Pair.id == Behaviour.pair_id)
            .join(ea, ea.item_id == Pair.item_a_id).join(eb, eb.item_id == Pair.item_b_id)
            .group_by(ea.entity_id, eb.entity_id))
    totals = conn.execute(stmt).all()
    names = dict(conn.execute(select(Item.id, Item.external_id).where(Item.source == ENTITY_SOURCE)).all())
    affinity: Counter[frozenset[str]] = Counter()
    for a, b, count in totals:
        if a != b:
            affinity[frozenset((names[a], names[b]))] += int(count)
    return affinity


def behaviour_counts(conn: Connection) -> Counter[tuple[str, str]]:
    """How often each item pair was seen together in sessions or baskets, over every behaviour
    kind and dataset; keys in sorted order."""
    a, b = aliased(Item), aliased(Item)
    stmt = (select(a.source, a.external_id, b.source, b.external_id, func.sum(Behaviour.count))
            .select_from(Behaviour).join(Pair, Pair.id == Behaviour.pair_id)
            .join(a, a.id == Pair.item_a_id).join(b, b.id == Pair.item_b_id)
            .group_by(a.source, a.external_id, b.source, b.external_id))
    counts: Counter[tuple[str, str]] = Counter()
    for sa, ea, sb, eb, count in conn.execute(stmt):
        first, second = sorted((item_key(sa, ea), item_key(sb, eb)))
        counts[first, second] += int(count)
    return counts

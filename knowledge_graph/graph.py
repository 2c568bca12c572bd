"""The entity graph: complementary and substitute edges between entities, with provenance.

Evidence between two items is spread evenly over their entity pairs (an item pair whose
items have two entities each gives a quarter to each of four entity pairs); a judged
entity pair counts ``entity_weight`` for its own edge. For each entity pair and relation
the weight is the evidence summed, the confidence its share of all evidence on the pair
(unrelated verdicts included), and an edge is kept when that share reaches
``min_confidence``. Self-edges are kept: two different cables bought as a set is a real
complementary signal about "cable".
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from knowledge_graph.entities import Extraction
from knowledge_graph.records import Evidence

COMPLEMENTARY = "complementary"
SUBSTITUTE = "substitute"
EDGE_RELATIONS = (COMPLEMENTARY, SUBSTITUTE)
EVIDENCE_KEPT = 20  # item-pair keys listed per edge; the counts cover all of them


SOURCES = ("human", "import", "llm")  # who decided the labels behind an edge


class Node(NamedTuple):
    entity: str
    n_items: int
    methods: tuple[str, ...]


class Edge(NamedTuple):
    """One edge. A tuple, so a million of them transpose into columns at C speed."""

    a: str
    b: str
    relation: str
    weight: float
    confidence: float
    n_item_pairs: int
    n_entity_labels: int
    verified: bool
    n_human: int  # labels behind the edge decided by humans,
    n_import: int  # by an imported file,
    n_llm: int  # by the LLM (auto-accepted, or unverified when asked for)
    rounds: tuple[int, ...]
    evidence: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.a, self.b, self.relation)

    @property
    def sources(self) -> dict[str, int]:
        return {s: n for s, n in zip(SOURCES, (self.n_human, self.n_import, self.n_llm), strict=True) if n}


@dataclass
class EntityGraph:
    nodes: list[Node]
    edges: list[Edge]
    members: dict[str, list[str]]  # entity -> item keys
    item_entities: dict[str, tuple[str, ...]]  # item key -> entities, in rank order
    label_set_hash: str = ""
    _adjacency: dict[tuple[str, str], list[tuple[str, float]]] | None = field(default=None, repr=False)

    def neighbours(self, entity: str, relation: str = COMPLEMENTARY) -> list[tuple[str, float]]:
        """Entities joined to ``entity`` by ``relation``, with edge weights, heaviest first."""
        if self._adjacency is None:
            adjacency: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
            for edge in self.edges:
                adjacency[edge.a, edge.relation].append((edge.b, edge.weight))
                if edge.a != edge.b:
                    adjacency[edge.b, edge.relation].append((edge.a, edge.weight))
            for values in adjacency.values():
                values.sort(key=lambda pair: (-pair[1], pair[0]))
            self._adjacency = dict(adjacency)
        return self._adjacency.get((entity, relation), [])

    def counts(self) -> dict[str, int]:
        by_relation = Counter(edge.relation for edge in self.edges)
        return {
            "nodes": len(self.nodes),
            "edges": len(self.edges),
            **{f"edges_{relation}": by_relation.get(relation, 0) for relation in EDGE_RELATIONS},
            "edges_verified": sum(edge.verified for edge in self.edges),
            "items": len(self.item_entities),
        }

    def only_verified(self) -> EntityGraph:
        return EntityGraph(self.nodes, [e for e in self.edges if e.verified], self.members,
                           self.item_entities, self.label_set_hash)


def label_set_hash(evidence: Iterable[Evidence]) -> str:
    """A hash of the evidence a graph came from, independent of database ids and order."""
    lines = sorted(
        f"{e.kind}|{min(e.a, e.b)}|{max(e.a, e.b)}|{e.relation}|{e.source}|{int(e.verified)}"
        for e in evidence
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


@dataclass
class _Tally:
    by_relation: Counter = field(default_factory=Counter)
    item_pairs: Counter = field(default_factory=Counter)
    entity_labels: Counter = field(default_factory=Counter)
    verified: set = field(default_factory=set)
    sources: dict = field(default_factory=lambda: defaultdict(Counter))
    rounds: dict = field(default_factory=lambda: defaultdict(set))
    evidence: dict = field(default_factory=lambda: defaultdict(set))


@dataclass
class BuildReport:
    evidence: int = 0
    used: int = 0
    skipped_unverified: int = 0
    skipped_no_entity: int = 0


def build_graph(
    extraction: Extraction,
    evidence: Iterable[Evidence],
    *,
    include_unverified: bool = False,
    min_confidence: float = 0.5,
    entity_weight: float = 1.0,
) -> tuple[EntityGraph, BuildReport]:
    """Aggregate item-pair and entity-pair evidence into entity edges."""
    evidence = sorted(evidence, key=lambda e: (e.kind, e.a, e.b, e.relation, e.source, e.rounds))
    report = BuildReport(evidence=len(evidence))
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    used: list[Evidence] = []
    for ev in evidence:
        if not ev.verified and not include_unverified:
            report.skipped_unverified += 1
            continue
        if ev.kind == "entity":
            shares = [((min(ev.a, ev.b), max(ev.a, ev.b)), entity_weight)]
        else:
            ents_a, ents_b = extraction.entities_of(ev.a), extraction.entities_of(ev.b)
            if not ents_a or not ents_b:
                report.skipped_no_entity += 1
                continue
            share = 1.0 / (len(ents_a) * len(ents_b))
            shares = [((min(x, y), max(x, y)), share) for x in ents_a for y in ents_b]
        used.append(ev)
        for pair, share in shares:
            tally = tallies[pair]
            tally.by_relation[ev.relation] += share
            (tally.entity_labels if ev.kind == "entity" else tally.item_pairs)[ev.relation] += 1
            tally.sources[ev.relation][ev.source] += 1
            tally.rounds[ev.relation].update(ev.rounds)
            if ev.verified:
                tally.verified.add(ev.relation)
            if ev.kind == "item":
                tally.evidence[ev.relation].add(f"{min(ev.a, ev.b)}|{max(ev.a, ev.b)}")
    edges = []
    for (a, b), tally in sorted(tallies.items()):
        total = sum(tally.by_relation.values())
        for relation in EDGE_RELATIONS:
            weight = tally.by_relation.get(relation, 0.0)
            if weight <= 0 or weight / total < min_confidence:
                continue
            edges.append(Edge(
                a, b, relation,
                weight=round(weight, 6),
                confidence=round(weight / total, 6),
                n_item_pairs=tally.item_pairs[relation],
                n_entity_labels=tally.entity_labels[relation],
                verified=relation in tally.verified,
                **{f"n_{source}": tally.sources[relation][source] for source in SOURCES},
                rounds=tuple(sorted(tally.rounds[relation])),
                evidence=tuple(sorted(tally.evidence[relation])[:EVIDENCE_KEPT]),
            ))
    report.used = len(used)
    members = extraction.members()
    methods: dict[str, set[str]] = defaultdict(set)
    for found in extraction.mentions.values():
        for mention in found:
            methods[mention.entity].add(mention.method)
    for edge in edges:  # a judged entity that no item maps to any more is still a node
        for entity in (edge.a, edge.b):
            methods.setdefault(entity, set())
    nodes = [Node(entity, len(members.get(entity, ())), tuple(sorted(kinds)))
             for entity, kinds in sorted(methods.items())]
    item_entities = {key: extraction.entities_of(key) for key in sorted(extraction.mentions)}
    return EntityGraph(nodes, edges, members, item_entities, label_set_hash(used)), report

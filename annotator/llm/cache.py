"""The persistent proposal cache: one ``llm_proposals`` row per (pair, model, prompt version).

:func:`propose_cached` asks the labeller only for pairs without a row, chunk by chunk, and
commits each chunk: a crash or an endpoint failure loses at most the chunks in flight, and
running again resumes where it stopped. The same loop serves a labeller in this process and
the Ray actor pool (a :class:`BatchLabeller`), so the cache rules are written once. Pairs are
always shown to the LLM in their stored (canonical) order, so a cached fine code reads
item a → item b like every label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import aliased

from annotator.llm.base import Ballot, Labeller, PairText, Proposal, ProposalStatus
from annotator.llm.errors import LlmError
from store.models import Item, LlmProposal, Pair
from store.repository import insert_ignore
from store.taxonomy import Relation

CHUNK = 32
RESUME_HINT = "proposals made before the failure are cached: run the command again to resume"
QUERY_CHUNK = 1000
Progress = Callable[[int], None]


def pair_texts(conn: Connection, pair_ids: Sequence[int]) -> dict[int, PairText]:
    """What the LLM sees about each pair, keyed by pair id (``PairText.key`` is the id)."""
    a, b = aliased(Item), aliased(Item)
    texts: dict[int, PairText] = {}
    for start in range(0, len(pair_ids), QUERY_CHUNK):
        stmt = (
            select(Pair.id, a.title, a.category_path, a.description, b.title, b.category_path, b.description)
            .join(a, a.id == Pair.item_a_id)
            .join(b, b.id == Pair.item_b_id)
            .where(Pair.id.in_(pair_ids[start : start + QUERY_CHUNK]))
        )
        for pid, ta, ca, da, tb, cb, db in conn.execute(stmt):
            texts[pid] = PairText(str(pid), ta, tb, ca, cb, da, db)
    return texts


def proposal_row(p: Proposal) -> dict[str, Any]:
    """A proposal as its ``llm_proposals`` row (keyed by pair id): what is stored, and what a
    Ray actor sends back (as JSON)."""
    return {
        "pair_id": int(p.key),
        "model": p.model,
        "prompt_version": p.prompt_version,
        "status": p.status.value,
        "relation": p.relation.value if p.relation else None,
        "fine_code": p.fine_code,
        "confidence": p.confidence,
        "rationale": p.rationale,
        "votes": {"ballots": [b.as_json() for b in p.votes]},
        "latency_s": p.latency_s,
        "prompt_tokens": p.prompt_tokens,
        "completion_tokens": p.completion_tokens,
    }


def row_proposal(row: Mapping[str, Any]) -> Proposal:
    """The proposal an ``llm_proposals`` row (or :func:`proposal_row`'s dict) holds."""
    ballots = [Ballot.from_json(b) for b in (row["votes"] or {}).get("ballots", [])]
    return Proposal(
        key=str(row["pair_id"]),
        status=ProposalStatus(row["status"]),
        relation=Relation(row["relation"]) if row["relation"] else None,
        fine_code=row["fine_code"],
        confidence=row["confidence"],
        rationale=row["rationale"],
        model=row["model"],
        prompt_version=row["prompt_version"],
        votes=ballots,
        latency_s=row["latency_s"] or 0.0,
        prompt_tokens=row["prompt_tokens"] or 0,
        completion_tokens=row["completion_tokens"] or 0,
    )


def cached(conn: Connection, model: str, prompt_version: str, pair_ids: Iterable[int]) -> dict[int, Proposal]:
    """Stored proposals of one model + prompt version for these pairs."""
    wanted = list(dict.fromkeys(pair_ids))
    found: dict[int, Proposal] = {}
    table = LlmProposal.__table__
    for start in range(0, len(wanted), QUERY_CHUNK):
        stmt = select(table).where(
            table.c.model == model,
            table.c.prompt_version == prompt_version,
            table.c.pair_id.in_(wanted[start : start + QUERY_CHUNK]),
        )
        found.update((row.pair_id, row_proposal(row._mapping)) for row in conn.execute(stmt))
    return found


def store(conn: Connection, proposals: Iterable[Proposal]) -> None:
    """Insert proposals (keyed by pair id); an existing (pair, model, version) row is kept."""
    insert_ignore(conn, LlmProposal.__table__, [proposal_row(p) for p in proposals])


@runtime_checkable
class BatchLabeller(Labeller, Protocol):
    """A labeller that takes every batch at once and answers each as it is done, in any order
    (the Ray actor pool of :mod:`annotator.llm.distributed`)."""

    def propose_batches(self, batches: Iterable[Sequence[PairText]]) -> Iterator[list[Proposal]]: ...


def propose_cached(
    engine: Engine,
    labeller: Labeller,
    pair_ids: Sequence[int],
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> dict[int, Proposal]:
    """Proposals for ``pair_ids``: cached ones as stored, the rest asked for and stored.

    Only pairs without a row reach the labeller, ``chunk`` at a time; each answered chunk is
    committed on its own (insert-ignore), so a run killed at any point resumes with no pair
    asked twice."""
    advance = progress or (lambda _n: None)
    wanted = list(dict.fromkeys(pair_ids))
    with engine.connect() as conn:
        result = cached(conn, labeller.model_name, labeller.prompt_version, wanted)
    advance(len(result))
    batches = _text_batches(engine, [pid for pid in wanted if pid not in result], chunk)
    if isinstance(labeller, BatchLabeller):
        answers: Iterable[list[Proposal]] = labeller.propose_batches(batches)
    else:
        answers = map(labeller.propose, batches)
    try:
        for proposals in answers:
            with engine.begin() as conn:
                store(conn, proposals)
            result.update((int(p.key), p) for p in proposals)
            advance(len(proposals))
    except LlmError as exc:
        raise exc.with_hint(f"({RESUME_HINT})") from exc
    return result


def _text_batches(engine: Engine, pair_ids: Sequence[int], chunk: int) -> Iterator[list[PairText]]:
    """The pairs' texts, ``chunk`` pairs a batch, read from the store a window at a time."""
    window = chunk * max(1, QUERY_CHUNK // chunk)
    for start in range(0, len(pair_ids), window):
        ids = pair_ids[start : start + window]
        with engine.connect() as conn:
            texts = pair_texts(conn, ids)
        unknown = [pid for pid in ids if pid not in texts]
        if unknown:
            raise KeyError(f"no such pair id(s): {unknown[:5]}")
        for first in range(0, len(ids), chunk):
            yield [texts[pid] for pid in ids[first : first + chunk]]

"""The store's integrity check (``pairloop check``): what a crash, a tool writing without foreign
keys, or a bug could leave behind.

- Rows that point at rows that are gone: labels and their pairs and rounds, pairs and their
  items, round pairs, LLM proposals, behaviour, item entities. (The foreign keys forbid these on
  both backends; the check finds them in a database written around them.)
- Rounds *stuck*: in a state no command can move them on from. ``round start`` resumes only the
  newest unfinished (``selecting`` / ``labelling``) round, so an older unfinished one is stuck;
  ``round start`` never takes up a ``verifying`` round again, so a ``verifying`` round with a pair
  never sent to Label Studio (still ``selected`` or ``proposed``) leaves that pair unlabelled for
  good. (A newest unfinished round is not stuck, whatever it holds: ``round start`` resumes it.)
- Registered snapshots whose folder fails its manifest: checked by the ``verify_snapshot``
  given (the snapshot format belongs to the knowledge graph, above this layer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Select, or_, select
from sqlalchemy.orm import aliased

from store.errors import PairloopError
from store.models import Behaviour, Item, ItemEntity, Label, LlmProposal, Pair, Round, RoundPair, Snapshot
from store.states import UNFINISHED_ROUND_STATES, RoundPairStatus, RoundState

EXAMPLES = 10  # ids shown per problem


@dataclass(frozen=True)
class Problem:
    check: str
    count: int
    examples: list[str]  # the first offending rows, as ids or one-line reasons


@dataclass
class IntegrityReport:
    checks: list[str] = field(default_factory=list)  # every check run, in order
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, check: str, found: list[str]) -> None:
        self.checks.append(check)
        if found:
            self.problems.append(Problem(check, len(found), found[:EXAMPLES]))


def _orphans() -> dict[str, Select]:
    """Check name → the ids of rows whose referenced row is missing."""
    item_a, item_b, entity = aliased(Item), aliased(Item), aliased(Item)
    return {
        "labels without their pair": select(Label.id).outerjoin(Pair, Pair.id == Label.pair_id)
        .where(Pair.id.is_(None)),
        "labels of a missing round": select(Label.id).outerjoin(Round, Round.id == Label.round_id)
        .where(Label.round_id.is_not(None), Round.id.is_(None)),
        "pairs without their items": select(Pair.id)
        .outerjoin(item_a, item_a.id == Pair.item_a_id).outerjoin(item_b, item_b.id == Pair.item_b_id)
        .where(or_(item_a.id.is_(None), item_b.id.is_(None))),
        "round pairs without their round or pair": select(RoundPair.round_id, RoundPair.pair_id)
        .outerjoin(Round, Round.id == RoundPair.round_id).outerjoin(Pair, Pair.id == RoundPair.pair_id)
        .where(or_(Round.id.is_(None), Pair.id.is_(None))),
        "LLM proposals without their pair": select(LlmProposal.id).outerjoin(Pair, Pair.id == LlmProposal.pair_id)
        .where(Pair.id.is_(None)),
        "behaviour without its pair": select(Behaviour.id).outerjoin(Pair, Pair.id == Behaviour.pair_id)
        .where(Pair.id.is_(None)),
        "item entities without their item or entity": select(ItemEntity.item_id, ItemEntity.entity_id)
        .outerjoin(item_a, item_a.id == ItemEntity.item_id).outerjoin(entity, entity.id == ItemEntity.entity_id)
        .where(or_(item_a.id.is_(None), entity.id.is_(None))),
    }


def _stuck_rounds(conn: Connection) -> list[str]:
    unfinished = conn.execute(select(Round.id, Round.state).where(Round.state.in_(UNFINISHED_ROUND_STATES))
                              .order_by(Round.id.desc())).all()
    found = [f"round {r.id} is {r.state} but `round start` resumes only round {unfinished[0].id}"
             for r in unfinished[1:]]
    unsent = conn.execute(
        select(RoundPair.round_id, RoundPair.pair_id).join(Round, Round.id == RoundPair.round_id)
        .where(Round.state == RoundState.VERIFYING,
               RoundPair.status.in_((RoundPairStatus.SELECTED, RoundPairStatus.PROPOSED)))
        .order_by(RoundPair.round_id, RoundPair.rank)
    ).all()
    found += [f"round {r.round_id} is verifying but its pair {r.pair_id} was never sent to Label Studio"
              for r in unsent]
    return found


def _failing_snapshots(conn: Connection, verify_snapshot: Callable[[Path], object]) -> list[str]:
    found = []
    for version, path in conn.execute(select(Snapshot.version, Snapshot.path).order_by(Snapshot.version)):
        try:
            verify_snapshot(Path(path))
        except (PairloopError, OSError) as exc:
            found.append(f"snapshot {version}: {exc}")
    return found


def check_integrity(conn: Connection, verify_snapshot: Callable[[Path], object] | None = None) -> IntegrityReport:
    """Run every check (the snapshots' only with ``verify_snapshot``, which raises a
    :class:`~store.errors.PairloopError` or an ``OSError`` for a folder that fails)."""
    report = IntegrityReport()
    for check, stmt in _orphans().items():
        report.add(check, [":".join(map(str, row)) for row in conn.execute(stmt)])
    report.add("rounds stuck in a state no command leaves", _stuck_rounds(conn))
    if verify_snapshot is not None:
        report.add("registered snapshots that fail their manifest", _failing_snapshots(conn, verify_snapshot))
    return report

"""The majority label of each row of a labelled pair file (for simulation and evaluation)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from store.formats import read_pairs, resolve_format
from store.formats.records import PairRow
from store.verified import DEFAULT_MIN_AGREEING, MajorityRule, VerifiedLabel, Vote, decide

ANSWERS_PER_ROW = {"fbl2023": 3, "fbl2024": 3}


def row_votes(row: PairRow) -> list[Vote]:
    return [Vote(a.relation, a.fine_code, a.source.value, False) for a in row.answers]


def labelled_rows(
    path: Path,
    fmt: str | None = None,
    rule: MajorityRule = MajorityRule.COARSE,
    min_agreeing: int = DEFAULT_MIN_AGREEING,
) -> Iterator[tuple[PairRow, VerifiedLabel | None]]:
    """Each row with its majority label (None: blank or no majority).

    ``min_agreeing`` is capped at the answers a row of that format carries, so a one-answer
    CSV row is its own label while an FBL row needs two of its three annotators to agree.
    The fine code of the label reads item a → item b, as in the file.
    """
    fmt = resolve_format(path, fmt)
    needed = min(min_agreeing, ANSWERS_PER_ROW.get(fmt, 1))
    for row in read_pairs(path, fmt):
        votes = row_votes(row)
        yield row, (decide(row.line, votes, rule, needed) if votes else None)

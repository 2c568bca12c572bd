"""Candidate pools: KARL's stratified pairs from a catalogue, the store's open pool, file splits.

KARL's generation: for every fine category, up to ``per_category`` query items, each paired
with up to ``partners`` other items of the same major category (the first level of the
category path). Pairs are unordered; a labelled pair (or its mirror) is never a candidate.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Select, select

from classifier.data import PairSet, read_pair_file, row_pair_key, store_pairs
from store.errors import BadInput
from store.files import write_together
from store.formats import read_pairs, resolve_format
from store.formats.lines import decoded_lines
from store.formats.records import CatalogueItem
from store.models import Pair, Round, RoundPair
from store.states import OPEN_ROUND_STATES
from store.verified import DEFAULT_MIN_AGREEING, MajorityRule, verified_labels


def stratified_pairs(items: Sequence[CatalogueItem], per_category: int, partners: int,
                     seed: int = 0) -> list[tuple]:
    """KARL's candidate pairs as canonical ``(smaller key, larger key)`` tuples of item keys.

    Items without a category path take no part. Deterministic for a given ``seed`` and items.
    """
    rng = np.random.default_rng(seed)
    ordered = sorted((i for i in items if i.category_path), key=lambda i: (i.category_path, str(i.key)))
    by_category: dict[str, list[int]] = defaultdict(list)
    by_major: dict[str, list[int]] = defaultdict(list)
    for position, item in enumerate(ordered):
        by_category[item.category_path].append(position)
        by_major[item.major_category].append(position)
    majors = {name: np.asarray(members) for name, members in by_major.items()}
    pairs: dict[tuple, None] = {}
    for members in by_category.values():
        for query in rng.permutation(members)[:per_category]:
            candidates = majors[ordered[query].major_category]
            drawn = rng.choice(candidates, min(partners + 1, len(candidates)), replace=False)
            for partner in drawn[drawn != query][:partners]:
                a, b = sorted((ordered[query].key, ordered[partner].key))
                pairs[(a, b)] = None
    return list(pairs)


def without_keys(pool: PairSet, keys: Iterable) -> PairSet:
    """The pool minus the given pairs (keys are unordered, so mirrors go too)."""
    excluded = set(keys)
    return pool.subset([i for i, key in enumerate(pool.keys) if key not in excluded])


def unheld_pairs(*columns: Any) -> Select:
    """``columns`` of the stored pairs no open round holds, by pair id: the open pool before the
    verified labels are taken out (they are derived in Python, not in SQL)."""
    held = select(RoundPair.pair_id).join(Round, Round.id == RoundPair.round_id).where(
        Round.state.in_(OPEN_ROUND_STATES)
    )
    return select(*columns).where(Pair.id.not_in(held)).order_by(Pair.id)


def store_pool(conn: Connection, rule: MajorityRule, min_agreeing: int = DEFAULT_MIN_AGREEING) -> PairSet:
    """The store's candidates: pairs with no verified label that no open round holds (keys: pair ids)."""
    verified, _ = verified_labels(conn, rule, min_agreeing=min_agreeing)
    pair_ids = [pid for pid in conn.execute(unheld_pairs(Pair.id)).scalars() if pid not in verified]
    return store_pairs(conn, pair_ids)


def split_pair_file(path: Path, shares: Sequence[float], names: Sequence[str], out_dir: Path,
                    seed: int = 0) -> list[tuple[Path, int]]:
    """Split a pair file into parts of the given shares, stratified by majority label.

    Each part keeps the file's own format (its header line and whole record lines), so it is
    read exactly as the original; every line of a repeated pair goes to the same part. Pairs
    without a majority label are spread like a class. Returns each part's path and pairs.
    """
    if len(shares) != len(names) or abs(sum(shares) - 1.0) > 1e-6 or min(shares) <= 0:
        raise BadInput(f"split shares must be positive and add up to 1, got {list(shares)}")
    if len(set(names)) != len(names):
        raise BadInput(f"split part names must differ, got {list(names)}")
    fmt = resolve_format(path, None)
    pairs = read_pair_file(path, fmt)
    lines = list(decoded_lines(path))
    if len(pairs) == 0:
        raise BadInput("nothing to split: the file has no pairs", path)
    starts = _record_starts(lines, fmt)
    rng = np.random.default_rng(seed)
    part_of = np.empty(len(pairs), dtype=np.int64)
    strata = np.asarray([str(label) for label in pairs.labels])
    for stratum in sorted(set(strata)):
        members = rng.permutation(np.flatnonzero(strata == stratum))
        bounds = np.floor(np.cumsum([0, *shares]) * len(members) + 0.5).astype(int)
        for part, (lo, hi) in enumerate(pairwise(bounds)):
            part_of[members[lo:hi]] = part
    part_of_key = dict(zip(pairs.keys, part_of.tolist(), strict=True))
    line_parts = [(row.line, part_of_key[row_pair_key(row)]) for row in read_pairs(path, fmt)]
    header = [] if fmt == "jsonl" else [lines[0]]
    suffix = path.suffix or ".txt"
    texts: dict[Path, str] = {}
    counts: list[int] = []
    for part, name in enumerate(names):
        ends = [end for end, line_part in line_parts if line_part == part]
        texts[out_dir / f"{path.stem}-{name}{suffix}"] = "".join(
            header + [lines[k] for end in ends for k in range(starts[end], end)])
        counts.append(int((part_of == part).sum()))
    written = write_together({target: partial(_write_text, text) for target, text in texts.items()})
    return list(zip(written, counts, strict=True))


def _write_text(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8")


def _record_starts(lines: list[str], fmt: str) -> dict[int, int]:
    """Each record's first line index, by the (1-based) line number on which it ends, as the
    readers report it (a quoted CSV field may span several lines)."""
    if fmt == "jsonl":
        return {n + 1: n for n, line in enumerate(lines) if line.strip()}
    reader = csv.reader(lines, delimiter="," if fmt == "csv" else "\t")
    next(reader, None)
    starts: dict[int, int] = {}
    before = reader.line_num
    for _record in reader:
        starts[reader.line_num] = before
        before = reader.line_num
    return starts

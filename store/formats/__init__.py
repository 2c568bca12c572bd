"""File formats pairloop reads, recognised by their header (or folder layout).

| format | what | reads |
|---|---|---|
| ``csv`` / ``jsonl`` | the project's own items or pairs files | items, pairs |
| ``fbl2023`` / ``fbl2024`` (``fbl``: by name or codes) | FBL TSV, three annotators a row | items, pairs |
| ``bundlerec`` | a BundleRec domain folder | items, pairs, behaviour |
| ``instacart`` | the Instacart folder | items, behaviour |

An item is keyed by ``(source, external id)``. FBL items are ``askul`` items keyed by their URL,
BundleRec items ``bundlerec-<folder>`` items keyed by their item ID, Instacart items
``instacart`` items keyed by their product id; csv/jsonl items take the source the file or
``--source`` names, else ``catalog`` (see :mod:`store.formats.tabular`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from store.errors import BadInput
from store.formats import bundlerec, fbl, instacart, tabular
from store.formats.lines import header_of
from store.formats.records import Answer, BehaviourRow, ItemRecord, PairRow

FORMATS = ("csv", "jsonl", "fbl", "fbl2023", "fbl2024", "bundlerec", "instacart")

__all__ = [
    "FORMATS",
    "Answer",
    "BehaviourRow",
    "ItemRecord",
    "PairRow",
    "detect_format",
    "read_behaviour",
    "read_items",
    "read_pairs",
]


def _first_json_keys(path: Path) -> set[str]:
    for _line, row in tabular.jsonl_rows(path):
        return set(row)
    return set()


def detect_format(path: Path) -> str:
    """Recognise a file or folder; say which formats exist when it is none of them."""
    if not path.exists():
        raise BadInput("no such file or folder", path)
    if bundlerec.is_bundlerec_dir(path):
        return "bundlerec"
    if instacart.is_instacart_dir(path):
        return "instacart"
    if path.is_dir():
        raise BadInput(f"not a BundleRec or Instacart folder (known formats: {', '.join(FORMATS)})", path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        keys = _first_json_keys(path)
        return "jsonl" if keys else _unknown(path, "an empty JSONL file")
    header = set(header_of(path, "\t"))
    if {"ITEM_URL_1", "ITEM_URL_2"} <= header:
        return fbl.guess_scheme(path).value
    header = set(header_of(path, ","))
    if set(tabular.PAIR_REQUIRED) <= header or {"external_id", "title"} <= header:
        return "csv"
    return _unknown(path, f"an unrecognised header {sorted(header)[:6]}")


def _unknown(path: Path, what: str) -> str:
    raise BadInput(
        f"{what}; known formats: {', '.join(FORMATS)} "
        "(csv/jsonl items need external_id,title; pairs need item_a,item_b)",
        path,
        1,
    )


def resolve_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        return detect_format(path)
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    if fmt == "fbl":
        return fbl.guess_scheme(path).value
    return fmt


def _check_source(path: Path, fmt: str, source: str | None) -> None:
    """``source`` names the items' source of csv/jsonl files; other formats name their own, and
    a ``--source`` given with them is refused rather than silently ignored."""
    if source is None or fmt in ("csv", "jsonl"):
        return
    own = {"fbl2023": fbl.SOURCE, "fbl2024": fbl.SOURCE, "instacart": instacart.SOURCE}
    name = own.get(fmt) or bundlerec.source_of(path)
    raise BadInput(f"--source applies to csv and jsonl files only: {fmt} items are always of source {name!r}", path)


def read_items(path: Path, fmt: str | None = None, source: str | None = None) -> Iterator[ItemRecord]:
    fmt = resolve_format(path, fmt)
    _check_source(path, fmt, source)
    if fmt in ("csv", "jsonl"):
        if set(tabular.PAIR_REQUIRED) <= _columns(path, fmt):
            return (item for row in read_pairs(path, fmt, source) for item in (row.item_a, row.item_b))
        return tabular.read_items(path, fmt, source)
    if fmt in ("fbl2023", "fbl2024"):
        return (item for row in read_pairs(path, fmt) for item in (row.item_a, row.item_b))
    if fmt == "bundlerec":
        return bundlerec.read_items(path)
    return instacart.read_items(path)


def read_pairs(path: Path, fmt: str | None = None, source: str | None = None) -> Iterator[PairRow]:
    fmt = resolve_format(path, fmt)
    _check_source(path, fmt, source)
    if fmt in ("csv", "jsonl"):
        if not set(tabular.PAIR_REQUIRED) <= _columns(path, fmt):
            raise BadInput("not a pairs file: the header needs item_a and item_b", path, 1)
        return tabular.read_pairs(path, fmt, source)
    if fmt in ("fbl2023", "fbl2024"):
        return fbl.read_fbl(path, fbl.FblScheme(fmt))
    if fmt == "bundlerec":
        return bundlerec.read_pairs(path)
    raise BadInput(f"format {fmt} has no pairs (it has items and behaviour)", path)


def read_behaviour(path: Path, fmt: str | None = None, min_count: int = 1) -> Iterator[BehaviourRow]:
    fmt = resolve_format(path, fmt)
    if fmt == "bundlerec":
        return (row for row in bundlerec.read_behaviour(path) if row.count >= min_count)
    if fmt == "instacart":
        return instacart.read_behaviour(path, min_count)
    raise BadInput(f"format {fmt} has no behaviour data (bundlerec and instacart do)", path)


def _columns(path: Path, fmt: str) -> set[str]:
    return _first_json_keys(path) if fmt == "jsonl" else set(header_of(path, ","))

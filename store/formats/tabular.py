"""The project's own CSV and JSONL formats for items and item pairs.

Items: ``external_id, title`` required; ``category_path, description, image_url, source``
optional; any other column is kept in ``attributes``.

Pairs: ``item_a, item_b`` (external ids) required; ``title_a, title_b, category_a,
category_b, item_source`` optional (they create the items when missing); ``relation``
(complementary / substitute / unrelated) and/or ``fine_code`` (1–9, item a → item b);
``actor`` (default ``import``), ``source`` (``human`` or ``import``, default ``import``),
``confidence`` (0–1). A row with neither relation nor fine code is an unlabelled pool pair.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from store.errors import BadInput
from store.formats.lines import decoded_lines, table_rows
from store.formats.records import Answer, ItemRecord, PairRow
from store.taxonomy import FINE_CODES, LabelSource, parse_relation, relation_of_fine

ITEM_COLUMNS = {"external_id", "title", "category_path", "description", "image_url", "source"}
PAIR_REQUIRED = ("item_a", "item_b")
DEFAULT_SOURCE = "catalog"


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, text in enumerate(decoded_lines(path), start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"invalid JSON: {exc.msg}", path, line) from None
        if not isinstance(value, dict):
            raise BadInput("each line must be a JSON object", path, line)
        yield line, value


def records(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a ``csv`` or ``jsonl`` file as dicts."""
    return jsonl_rows(path) if kind == "jsonl" else table_rows(path, ",")


def _text(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _required(row: dict[str, Any], key: str, path: Path, line: int) -> str:
    value = _text(row, key)
    if value is None:
        raise BadInput(f"missing {key}", path, line)
    return value


def read_items(path: Path, kind: str, source: str | None = None) -> Iterator[ItemRecord]:
    for line, row in records(path, kind):
        extra = {k: v for k, v in row.items() if k not in ITEM_COLUMNS and v not in (None, "")}
        if isinstance(row.get("attributes"), dict):
            extra = {**extra.pop("attributes", {}), **row["attributes"]}
        yield ItemRecord(
            source=_text(row, "source") or source or DEFAULT_SOURCE,
            external_id=_required(row, "external_id", path, line),
            title=_required(row, "title", path, line),
            category_path=_text(row, "category_path"),
            description=_text(row, "description"),
            image_url=_text(row, "image_url"),
            attributes=extra or None,
            line=line,
        )


def _answer(row: dict[str, Any], path: Path, line: int) -> Answer | None:
    relation_text, fine_text = _text(row, "relation"), _text(row, "fine_code")
    if relation_text is None and fine_text is None:
        return None
    fine = None
    if fine_text is not None:
        if not fine_text.isdigit() or int(fine_text) not in FINE_CODES:
            raise BadInput(f"unknown fine_code {fine_text!r} (expected 1–9)", path, line)
        fine = int(fine_text)
    try:
        relation = parse_relation(relation_text) if relation_text else relation_of_fine(fine)
    except ValueError as exc:
        raise BadInput(str(exc), path, line) from None
    if fine is not None and relation_of_fine(fine) != relation:
        raise BadInput(f"fine_code {fine} contradicts relation {relation.value}", path, line)
    source_text = _text(row, "source") or LabelSource.IMPORT.value
    if source_text not in (LabelSource.HUMAN.value, LabelSource.IMPORT.value):
        raise BadInput(f"label source {source_text!r} must be 'human' or 'import'", path, line)
    confidence = None
    if (conf_text := _text(row, "confidence")) is not None:
        try:
            confidence = float(conf_text)
        except ValueError:
            raise BadInput(f"confidence {conf_text!r} is not a number", path, line) from None
        if not 0.0 <= confidence <= 1.0:
            raise BadInput(f"confidence {confidence} is outside 0–1", path, line)
    actor = _text(row, "actor") or "import"
    return Answer(actor, relation, fine, LabelSource(source_text), confidence)


def read_pairs(path: Path, kind: str, source: str | None = None) -> Iterator[PairRow]:
    for line, row in records(path, kind):
        item_source = _text(row, "item_source") or source or DEFAULT_SOURCE
        a, b = (_required(row, key, path, line) for key in PAIR_REQUIRED)
        if a == b:
            raise BadInput("a pair of an item with itself", path, line)
        item_a = ItemRecord(item_source, a, _text(row, "title_a") or a, _text(row, "category_a"), line=line)
        item_b = ItemRecord(item_source, b, _text(row, "title_b") or b, _text(row, "category_b"), line=line)
        answer = _answer(row, path, line)
        key = f"pairs:{item_source}:{a}|{b}"
        yield PairRow(line, item_a, item_b, [answer] if answer else [], key)

"""The project's own CSV and JSONL formats for items and item pairs.

Items: ``external_id, title`` required; ``category_path, description, image_url, source``
optional; any other column is kept in ``attributes``. An item's source is its row's ``source``
(``item_source`` in a pairs file), else the command's ``--source``, else ``catalog``: that
fallback is marked on the record, so the importer can refuse to fork items another source holds.

Pairs: ``item_a, item_b`` (external ids) required; ``title_a, title_b, category_a,
category_b, item_source`` optional (they create the items when missing); ``relation``
(complementary / substitute / unrelated) and/or ``fine_code`` (1–9, item a → item b);
``actor`` (default ``import``), ``source`` (``human`` or ``import``, default ``import``),
``confidence`` (0–1). A row with neither relation nor fine code is an unlabelled pool pair.

In JSONL, ids and the other text fields are JSON strings; a whole number is read as its decimal
text (``7`` is the id ``"7"``), and anything else (an object, a list, ``true``, ``1.5``) is refused
with FILE:LINE. ``fine_code`` and ``confidence`` may be JSON numbers. Codes are ASCII digits.
Every format holds each field to :data:`store.validation.MAX_FIELD_CHARS` characters (see
:mod:`store.validation` for the other rules a file's text must meet).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.errors import BadInput
from store.formats.lines import decoded_lines, table_rows
from store.formats.records import Answer, ItemRecord, PairRow
from store.taxonomy import FINE_CODES, LabelSource, parse_code, parse_relation, relation_of_fine
from store.validation import fit_actor, fit_item, parse_json

ITEM_COLUMNS = {"external_id", "title", "category_path", "description", "image_url", "source"}
PAIR_REQUIRED = ("item_a", "item_b")
DEFAULT_SOURCE = "catalog"


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, text in enumerate(decoded_lines(path), start=1):
        if not text.strip():
            continue
        value = parse_json(text, path, line)
        if not isinstance(value, dict):
            raise BadInput("each line must be a JSON object", path, line)
        yield line, value


def records(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a ``csv`` or ``jsonl`` file as dicts."""
    return jsonl_rows(path) if kind == "jsonl" else table_rows(path, ",")


def _kind(value: Any) -> str:
    """A JSON value's kind, in JSON's words."""
    kinds = {bool: "true or false", float: "a number with a fraction", dict: "an object", list: "a list"}
    return kinds.get(type(value), type(value).__name__)


@dataclass(frozen=True, slots=True)
class _Row:
    """One row of a file, read field by field; every complaint names its FILE:LINE."""

    values: dict[str, Any]
    path: Path
    line: int

    def text(self, key: str) -> str | None:
        """A text field, stripped (None when absent or blank); a JSON whole number is its decimal text."""
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            raise BadInput(f"{key} must be a string (or a whole number), not {_kind(value)}", self.path, self.line)
        return value.strip() or None

    def required(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise BadInput(f"missing {key}", self.path, self.line)
        return value

    def confidence(self) -> float | None:
        """``confidence``: a JSON number, or a decimal in ASCII, within 0–1."""
        value = self.values.get("confidence")
        if isinstance(value, int | float) and not isinstance(value, bool):
            confidence = float(value)
        elif (text := self.text("confidence")) is None:
            return None
        else:
            try:
                confidence = float(text) if text.isascii() else math.nan
            except ValueError:
                confidence = math.nan
            if math.isnan(confidence):
                raise BadInput(f"confidence {text!r} is not a number", self.path, self.line)
        if not 0.0 <= confidence <= 1.0:
            raise BadInput(f"confidence {confidence} is outside 0–1", self.path, self.line)
        return confidence

    def item(self, source: str, external_id: str, title: str | None, category: str | None = None,
             **more: Any) -> ItemRecord:
        """An item of this row, its key checked against the store's columns."""
        fit_item(source, external_id, self.path, self.line)
        return ItemRecord(source, external_id, title or external_id, category, line=self.line, **more)


def _rows(path: Path, kind: str) -> Iterator[_Row]:
    for line, values in records(path, kind):
        yield _Row(values, path, line)


def read_items(path: Path, kind: str, source: str | None = None) -> Iterator[ItemRecord]:
    for row in _rows(path, kind):
        values = row.values
        extra = {k: v for k, v in values.items() if k not in ITEM_COLUMNS and v not in (None, "")}
        if isinstance(values.get("attributes"), dict):
            extra = {**extra.pop("attributes", {}), **values["attributes"]}
        named = row.text("source") or source
        yield row.item(
            named or DEFAULT_SOURCE,
            row.required("external_id"),
            row.required("title"),
            row.text("category_path"),
            description=row.text("description"),
            image_url=row.text("image_url"),
            attributes=extra or None,
            source_defaulted=named is None,
        )


def _answer(row: _Row) -> Answer | None:
    relation_text, fine_text = row.text("relation"), row.text("fine_code")
    if relation_text is None and fine_text is None:
        return None
    fine = None
    if fine_text is not None:
        fine = parse_code(fine_text)
        if fine not in FINE_CODES:
            raise BadInput(f"unknown fine_code {fine_text!r} (expected 1–9)", row.path, row.line)
    try:
        relation = parse_relation(relation_text) if relation_text else relation_of_fine(fine)
    except ValueError as exc:
        raise BadInput(str(exc), row.path, row.line) from None
    if fine is not None and relation_of_fine(fine) != relation:
        raise BadInput(f"fine_code {fine} contradicts relation {relation.value}", row.path, row.line)
    source_text = row.text("source") or LabelSource.IMPORT.value
    if source_text not in (LabelSource.HUMAN.value, LabelSource.IMPORT.value):
        raise BadInput(f"label source {source_text!r} must be 'human' or 'import'", row.path, row.line)
    actor = fit_actor(row.text("actor") or "import", row.path, row.line)
    return Answer(actor, relation, fine, LabelSource(source_text), row.confidence())


def read_pairs(path: Path, kind: str, source: str | None = None) -> Iterator[PairRow]:
    for row in _rows(path, kind):
        named = row.text("item_source") or source
        item_source = named or DEFAULT_SOURCE
        a, b = (row.required(key) for key in PAIR_REQUIRED)
        if a == b:
            raise BadInput("a pair of an item with itself", path, row.line)
        defaulted = named is None
        item_a = row.item(item_source, a, row.text("title_a"), row.text("category_a"), source_defaulted=defaulted)
        item_b = row.item(item_source, b, row.text("title_b"), row.text("category_b"), source_defaulted=defaulted)
        answer = _answer(row)
        yield PairRow(row.line, item_a, item_b, [answer] if answer else [], ("pairs", item_source, a, b))

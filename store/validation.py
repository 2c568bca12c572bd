"""What the store accepts from a file, checked before the database so that SQLite and PostgreSQL
refuse the same input the same way: with :class:`BadInput` naming FILE:LINE, never a driver error.

- Text is Unicode text: no NUL character (PostgreSQL's text cannot hold one) and no unpaired
  surrogate (a JSON ``\\ud800`` escape; it cannot be encoded to store).
- Each text value (a CSV/TSV field, a JSON string or object key) is at most
  :data:`MAX_FIELD_CHARS` characters, in every format alike.
- JSON numbers are finite: ``NaN``, ``Infinity`` and literals that overflow a float (``1e400``)
  are refused (neither database's JSON can hold them).
- A value stored in a bounded column (an item's ``source`` and ``external_id``, a label's
  ``actor``) fits the column; the limits are read from :mod:`store.models`, never repeated.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from store.errors import BadInput
from store.models import Item, Label

# The csv module's default field limit: each text value of every format (CSV, TSV, JSONL) is held to it.
MAX_FIELD_CHARS = 131_072
NUL_MESSAGE = "a NUL character (\\u0000) is not allowed in text"
FIELD_TOO_LONG = f"a field is longer than {MAX_FIELD_CHARS} characters (the limit for one field)"


def column_length(column: InstrumentedAttribute) -> int:
    """The length of a ``String(n)`` column of :mod:`store.models`."""
    return column.property.columns[0].type.length


def text_problem(text: str, max_chars: int | None = MAX_FIELD_CHARS) -> str | None:
    """Why ``text`` cannot be stored as a text value (longer than ``max_chars``, when given), or None."""
    if "\x00" in text:
        return NUL_MESSAGE
    if max_chars is not None and len(text) > max_chars:
        return FIELD_TOO_LONG
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"an unpaired surrogate (\\u{ord(text[exc.start]):04x}) is not text"
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number (JSON numbers must be finite)")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal[:40]} is not a finite number (it overflows a float)")
    return value


def json_text_problem(value: Any, max_chars: int | None = MAX_FIELD_CHARS) -> str | None:
    """Why a parsed JSON value holds a string that cannot be stored as text, or None."""
    return next((problem for string in _strings(value) if (problem := text_problem(string, max_chars))), None)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, object keys included (iteratively: no depth limit)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def parse_json(text: str, path: Path, line: int) -> Any:
    """One JSON document of a file, held to the rules above."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise BadInput(f"invalid JSON: {exc.msg}", path, line) from None
    except ValueError as exc:  # a refused number, or an integer of more digits than Python converts
        raise BadInput(f"invalid JSON: {exc}", path, line) from None
    except RecursionError:
        raise BadInput("invalid JSON: nested too deeply", path, line) from None
    if problem := json_text_problem(value):
        raise BadInput(problem, path, line)
    return value


def fit_column(value: str, column: InstrumentedAttribute, what: str, path: Path, line: int | None) -> str:
    """``value``, refused when it is longer than ``column`` holds."""
    limit = column_length(column)
    if len(value) > limit:
        raise BadInput(f"{what} {value[:40]!r}… is longer than {limit} characters", path, line)
    return value


def fit_item(source: str, external_id: str, path: Path, line: int | None) -> None:
    """An item's key fits the ``items`` columns."""
    fit_column(source, Item.source, "item source", path, line)
    fit_column(external_id, Item.external_id, "item id", path, line)


def fit_actor(actor: str, path: Path, line: int | None) -> str:
    return fit_column(actor, Label.actor, "actor", path, line)

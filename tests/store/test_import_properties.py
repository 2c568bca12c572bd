"""Property-based tests of the importers (Hypothesis): generated CSV, FBL TSV and JSONL pair
files full of hostile text (NUL, unpaired surrogates, right-to-left and combining marks, digits
of other scripts, separators and quotes inside fields, fields over the limits, duplicated and
swapped pairs, broken quoting), each imported with ``pairloop import labels`` into SQLite and
into PostgreSQL.

Invariants: the exit is 0 or 2, never 1; on 2 the message names FILE:LINE and nothing is
stored; on 0 every distinct (pair, actor, answer) of the file is stored exactly once; files that
must be refused (a NUL, an unpaired surrogate, a non-finite number, a code in non-ASCII digits,
an id or actor longer than its column, a field over the limit) are, and files whose every row is
valid are accepted; both databases agree on every file.

60 files per format, derandomised (the same examples on every run; a failure prints the
falsifying file); about 35 s for the three on a 2-core machine.
Reproduce: ``.venv/bin/python -m pytest tests/store/test_import_properties.py -p no:cacheprovider``
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from store.models import Item, Label
from store.taxonomy import Relation, parse_relation, relation_of_fine
from store.validation import MAX_FIELD_CHARS, column_length

pytestmark = pytest.mark.postgres

ID_MAX = column_length(Item.external_id)
ACTOR_MAX = column_length(Label.actor)
EXAMPLES = 60
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])

# Characters that have broken parsers: separators and quotes of every format, line breaks,
# bidi controls, Hebrew and Arabic letters, a combining accent, digits of other scripts
# (Arabic-Indic three, superscript two, NKo one, fullwidth five), a BOM, an emoji, a line separator.
HOSTILE = list(",;\"'|:\t \n\r\\{}[]") + [
    "\u202e", "\u200f", "\u05d0", "\u0627", "\u0301", "\u0663", "\u00b2", "\u07c1", "\uff15",
    "\ufeff", "\U0001f600", "\u2028", "\x85",
]
FAIR_CHARS = st.sampled_from(HOSTILE) | st.characters(codec="utf-8", max_codepoint=0x2FFF, exclude_characters="\x00")
ANY_CHARS = FAIR_CHARS | st.just("\x00")
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
SIMPLE_IDS = ["A", "B", "C", "a|b", "b|c", "a", "b", "c", " A ", "x:y", "7", "\u0663", "\u05d0\u05d1"]
OVER_LIMITS = ["i" * ID_MAX, "i" * (ID_MAX + 1)]


def texts(chars: st.SearchStrategy[str], max_size: int = 8, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(chars, min_size=min_size, max_size=max_size)


@dataclass(frozen=True)
class Kit:
    """The strategies of one kind of file: ``fair`` files are mostly valid (hostile text that a
    label file may hold), the others draw from everything, limits and NUL included."""

    ids: st.SearchStrategy[str]
    answers: st.SearchStrategy[tuple[str, str]]  # (relation, fine code) as written
    actors: st.SearchStrategy[str]
    chars: st.SearchStrategy[str]


FAIR = Kit(
    ids=st.one_of(st.sampled_from(SIMPLE_IDS), texts(FAIR_CHARS, min_size=1).filter(str.strip)),
    answers=st.sampled_from([("", ""), ("substitute", ""), ("Complementary", ""), (" other ", ""), ("", "5"),
                             ("", " 2"), ("complementary", "4"), ("unrelated", "8"), ("", "05"), ("none", "9")]),
    actors=st.one_of(st.sampled_from(["", "ann1", "ann:2", "a|b", "a" * ACTOR_MAX]), texts(FAIR_CHARS)),
    chars=FAIR_CHARS,
)
HOSTILE_KIT = Kit(
    ids=st.one_of(st.sampled_from(SIMPLE_IDS), texts(ANY_CHARS), st.sampled_from(OVER_LIMITS)),
    answers=st.tuples(
        st.one_of(st.sampled_from(["substitute", "complementary", "unrelated", "", "sibling"]), texts(ANY_CHARS, 3)),
        st.sampled_from(["", "1", "5", "8", "0", "10", " 4", "\u00b2", "\u0663", "\uff15", "\u07c1", "9" * 30]),
    ),
    actors=st.one_of(st.sampled_from(["", "ann1", "a" * (ACTOR_MAX + 1)]), texts(ANY_CHARS)),
    chars=ANY_CHARS,
)
# A file is fair (hostile text a label file may hold, valid), poisoned (fair, but one field of
# one row holds a value that must be refused) or hostile (anything, mostly refused).
MODES = st.sampled_from(["fair", "fair", "poisoned", "poisoned", "hostile"])
LETTERS = st.lists(st.sampled_from("abcdefgh"), min_size=4, max_size=4, unique=True)
NON_ASCII_DIGITS = ["\u00b2", "\u0663", "\uff15", "\u07c1"]
TABLE_POISONS = [("item_a", "A\x00"), ("item_b", "i" * (ID_MAX + 1)), ("actor", "a" * (ACTOR_MAX + 1)),
                 *(("fine_code", digit) for digit in NON_ASCII_DIGITS), ("relation", "substitute\x00")]
CSV_POISONS = [*TABLE_POISONS, ("title_a", "t" * (MAX_FIELD_CHARS + 1))]
FBL_POISONS = [("item_a", "u\x00"), ("item_b", "i" * (ID_MAX + 1)), ("name", "n\x00"),
               *(("annotators", [(digit, "4")] * 3) for digit in ("1\x00",)),
               *(("annotators", [("1", digit)] * 3) for digit in NON_ASCII_DIGITS),
               ("annotators", [("a" * ACTOR_MAX, "4")] * 3)]
JSONL_POISONS = [*TABLE_POISONS, ("attributes", {"w": math.nan}), ("attributes", {"w": -math.inf}),
                 ("attributes", {"s": "\ud800"}), ("attributes", {"\x00": 1}), ("item_a", {"k": 1}),
                 ("item_b", [1]), ("item_a", True), ("item_b", 1.5), ("actor", {"id": 7}), ("title_a", "t\udfff"),
                 ("title_a", "t" * (MAX_FIELD_CHARS + 1))]


@dataclass
class Generated:
    """A generated file, what a successful import must store, and whether it must be refused."""

    name: str
    format: str
    content: bytes
    labels: set[tuple] | None  # None: no prediction (a mangled file, or a row the importer must refuse)
    must_fail: list[str] = field(default_factory=list)
    mangled: bool = False


def _stripped(text: str) -> str | None:
    return text.strip() or None


def _answer(relation: str | None, fine_text: str | None) -> tuple[str, int | None] | None:
    """The (relation, fine code) a valid row carries, or None when it carries no answer; raises
    ValueError for a row the importer must refuse (then no prediction is needed)."""
    if relation is None and fine_text is None:
        return None
    fine = None
    if fine_text is not None:
        if not (fine_text.isascii() and fine_text.isdigit()) or int(fine_text) not in range(1, 10):
            raise ValueError(fine_text)
        fine = int(fine_text)
    rel = parse_relation(relation) if relation is not None else relation_of_fine(fine)
    if fine is not None and relation_of_fine(fine) != rel:
        raise ValueError("contradiction")
    return Relation(rel).value, fine


def _mangle(draw: Callable, text: str) -> tuple[str, bool]:
    """Sometimes break the file: a stray quote, or a cut in the middle of a line."""
    how = draw(st.sampled_from(["keep"] * 8 + ["quote", "cut"]))
    if how == "keep" or not text:
        return text, False
    at = draw(st.integers(0, len(text) - 1))
    return (text[:at] + '"' + text[at:], True) if how == "quote" else (text[:at], True)


def _table(draw: Callable, rows: list[list[str]], delimiter: str) -> tuple[str, bool]:
    """The rows as Python's csv module writes them, lines ended by LF or CRLF; and whether a
    reader can take them back (with LF endings the writer leaves a bare CR in a field unquoted,
    which no strict reader can tell from a line break: a refusal, not a loss)."""
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=terminator).writerows(rows)
    readable = terminator == "\r\n" or not any("\r" in value for row in rows for value in row)
    return buffer.getvalue(), readable


def _rows(draw: Callable, mode: str, ids: list[Any], fields: st.SearchStrategy[dict[str, Any]],
          poisons: list[tuple[str, Any]]) -> list[dict]:
    """Rows over a small pool of ids (two different ones unless ``hostile``), with duplicated and
    swapped rows, rows whose ids once made colliding keys, and (``poisoned``) one bad field."""
    fair = mode != "hostile"
    index = st.integers(0, len(ids) - 1)
    other = st.integers(0, len(ids) - 2)  # an index skipping the first one's
    pairs = st.tuples(index, other).map(lambda p: (p[0], p[1] + (p[1] >= p[0]))) if fair else st.tuples(index, index)
    chosen = draw(st.lists(pairs, min_size=1, max_size=6))
    rows = [{**draw(fields), "item_a": ids[a], "item_b": ids[b]} for a, b in chosen]
    extra = []
    for row in rows:
        copy = draw(st.sampled_from(["none", "none", "duplicate", "swap"]))
        if copy == "duplicate":
            extra.append(dict(row))
        elif copy == "swap":
            extra.append({**row, "item_a": row["item_b"], "item_b": row["item_a"]})
    if fair and draw(st.booleans()):
        # (x|y, z) and (x, y|z); (x, y:w) by v and (x, y) by w:v: one key each under the old joined keys
        x, y, z, w = draw(LETTERS)
        answer = draw(fields)
        extra += [{**answer, "item_a": f"{x}|{y}", "item_b": z}, {**answer, "item_a": x, "item_b": f"{y}|{z}"}]
        if "actor" in answer:
            extra += [{**answer, "item_a": x, "item_b": f"{y}:{w}", "actor": "v"},
                      {**answer, "item_a": x, "item_b": y, "actor": f"{w}:v"}]
    rows = draw(st.permutations(rows + extra))
    if mode == "poisoned":
        at = draw(st.integers(0, len(rows) - 1))
        key, value = draw(st.sampled_from(poisons))
        rows[at] = {**rows[at], key: value}
    return rows


def _id_pool(draw: Callable, ids: st.SearchStrategy[Any]) -> list[Any]:
    return draw(st.lists(ids, min_size=2, max_size=5, unique_by=lambda v: str(v).strip()))


@st.composite
def csv_files(draw: Callable) -> Generated:
    mode = draw(MODES)
    kit = HOSTILE_KIT if mode == "hostile" else FAIR
    long_titles = ["t" * (MAX_FIELD_CHARS + 1)] if mode == "hostile" else []
    fields = st.builds(lambda answer, actor, title: {"relation": answer[0], "fine_code": answer[1], "actor": actor,
                                                     "title_a": title},
                       kit.answers, kit.actors, st.one_of(texts(kit.chars), st.sampled_from(["", *long_titles])))
    rows = _rows(draw, mode, _id_pool(draw, kit.ids), fields, CSV_POISONS)
    columns = ["item_a", "item_b", "relation", "fine_code", "actor", "title_a"]
    text, readable = _table(draw, [columns, *([row[column] for column in columns] for row in rows)], ",")
    text, mangled = _mangle(draw, text)
    must_fail = [reason for row in rows for reason in _text_problems(row.values()) + _code_problems(row["fine_code"])]
    must_fail += [f"{key} too long" for row in rows for key, limit in (("item_a", ID_MAX), ("item_b", ID_MAX),
                                                                       ("actor", ACTOR_MAX))
                  if len(row[key].strip()) > limit]
    labels = _expected(rows, "catalog", lambda row, key: _stripped(row[key])) if readable else None
    return Generated("pairs.csv", "csv", text.encode("utf-8"), labels, must_fail, mangled)


FBL_COLUMNS = ["ITEM_URL_1", "ITEM_NAME_1", "ITEM_URL_2", "ITEM_NAME_2", "ANNOTATOR1_ID", "ANNOTATOR1_LABEL",
               "ANNOTATOR2_ID", "ANNOTATOR2_LABEL", "ANNOTATOR3_ID", "ANNOTATOR3_LABEL"]


@st.composite
def fbl_files(draw: Callable) -> Generated:
    mode = draw(MODES)
    kit = HOSTILE_KIT if mode == "hostile" else FAIR
    codes = kit.answers.map(lambda answer: answer[1])
    fields = st.fixed_dictionaries({"name": texts(kit.chars),
                                    "annotators": st.lists(st.tuples(kit.actors, codes), min_size=3, max_size=3)})
    rows = _rows(draw, mode, _id_pool(draw, kit.ids), fields, FBL_POISONS)
    lines = [[row["item_a"], row["name"], row["item_b"], row["name"], *(p for a in row["annotators"] for p in a)]
             for row in rows]
    text, readable = _table(draw, [FBL_COLUMNS, *lines], "\t")
    text, mangled = _mangle(draw, text)
    must_fail = [reason for row in rows
                 for reason in _text_problems([row["item_a"], row["item_b"], row["name"],
                                               *(p for a in row["annotators"] for p in a)])]
    must_fail += [f"{key} too long" for row in rows for key in ("item_a", "item_b") if len(row[key].strip()) > ID_MAX]
    must_fail += ["actor too long" for row in rows for actor, code in row["annotators"]
                  if code.strip() and len("fbl:" + actor.strip()) > ACTOR_MAX]
    must_fail += [p for row in rows for _actor, code in row["annotators"] for p in _code_problems(code)]
    try:
        if not readable:
            raise ValueError("a bare carriage return")
        labels = set()
        for row in rows:
            a, b = row["item_a"].strip(), row["item_b"].strip()
            if not a or not b or a == b:
                raise ValueError("not a pair")
            for slot, (actor, code) in enumerate(row["annotators"], start=1):
                if code.strip():
                    relation, fine = _answer(None, code.strip())
                    labels.add((("askul", a), ("askul", b), f"fbl:{actor.strip() or f'slot{slot}'}", relation, fine))
    except ValueError:
        labels = None
    return Generated("FBL2023-gen.tsv", "fbl2023", text.encode("utf-8"), labels, must_fail, mangled)


def _json_values(chars: st.SearchStrategy[str], allow_nan: bool) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6),
                        st.floats(allow_nan=allow_nan, allow_infinity=allow_nan), texts(chars))
    return st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                        | st.dictionaries(texts(chars, max_size=4), children, max_size=3), max_leaves=6)


JSON_KITS = {
    # ids, answers (a fine code may be a JSON number), actors, attributes
    "fair": (st.one_of(FAIR.ids, st.integers(0, 10**20)),
             FAIR.answers.flatmap(lambda a: st.sampled_from([a, (a[0], int(a[1])) if a[1].strip() else a])),
             st.one_of(FAIR.actors, st.integers(0, 9)), _json_values(FAIR_CHARS, allow_nan=False)),
    "hostile": (st.one_of(HOSTILE_KIT.ids, texts(ANY_CHARS | SURROGATES, max_size=4), st.booleans(),
                          st.floats(allow_nan=False), st.just({"k": 1}), st.just([1])),
                st.tuples(st.one_of(HOSTILE_KIT.answers.map(lambda a: a[0]), st.integers(1, 3)),
                          st.one_of(HOSTILE_KIT.answers.map(lambda a: a[1]), st.integers(0, 10))),
                HOSTILE_KIT.actors, _json_values(ANY_CHARS | SURROGATES, allow_nan=True)),
}


@st.composite
def jsonl_files(draw: Callable) -> Generated:
    mode = draw(MODES)
    ids, answers, actors, attributes = JSON_KITS["hostile" if mode == "hostile" else "fair"]
    fields = st.builds(lambda answer, actor: {"relation": answer[0], "fine_code": answer[1], "actor": actor},
                       answers, actors)
    fields = st.tuples(fields, st.one_of(st.just({}), attributes.map(lambda v: {"attributes": v})))
    rows = _rows(draw, mode, _id_pool(draw, ids), fields.map(lambda parts: {**parts[0], **parts[1]}), JSONL_POISONS)
    ensure_ascii = draw(st.booleans())
    text = "".join(json.dumps(row, ensure_ascii=ensure_ascii) + "\n" for row in rows)
    text, mangled = _mangle(draw, text)
    must_fail = [reason for row in rows for reason in _json_problems(row)]
    must_fail += [p for row in rows if isinstance(row["fine_code"], str) for p in _code_problems(row["fine_code"])]
    must_fail += [f"{key} is not text" for row in rows for key in ("item_a", "item_b", "actor")
                  if isinstance(row[key], bool | float | dict | list)]
    must_fail += [f"{key} too long" for row in rows for key, limit in (("item_a", ID_MAX), ("item_b", ID_MAX),
                                                                       ("actor", ACTOR_MAX))
                  if isinstance(row[key], str) and len(row[key].strip()) > limit]

    def text_of(row: dict[str, Any], key: str) -> str | None:
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(key)
        return _stripped(str(value))

    labels = _expected(rows, "catalog", text_of) if rows else None
    return Generated("pairs.jsonl", "jsonl", text.encode("utf-8", "surrogatepass"), labels, must_fail, mangled)


def _text_problems(values) -> list[str]:
    problems = []
    for value in values:
        if "\x00" in value:
            problems.append("NUL")
        if len(value) > MAX_FIELD_CHARS:
            problems.append("field too long")
    return problems


def _code_problems(code: str) -> list[str]:
    return ["a code in non-ASCII digits"] if any(c.isdigit() and not c.isascii() for c in code) else []


def _json_problems(value: Any) -> list[str]:
    if isinstance(value, float) and not math.isfinite(value):
        return ["non-finite number"]
    if isinstance(value, str):
        return _text_problems([value]) + (["surrogate"] if re.search("[\ud800-\udfff]", value) else [])
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _json_problems(key) + _json_problems(item)]
    if isinstance(value, list):
        return [p for item in value for p in _json_problems(item)]
    return []


def _expected(rows: list[dict[str, Any]], source: str, text_of: Callable) -> set[tuple] | None:
    """The labels a successful import stores (file order), or None when some row is invalid."""
    labels = set()
    try:
        for row in rows:
            a, b = text_of(row, "item_a"), text_of(row, "item_b")
            if a is None or b is None or a == b:
                return None
            answer = _answer(text_of(row, "relation"), text_of(row, "fine_code"))
            if answer is not None:
                labels.add(((source, a), (source, b), text_of(row, "actor") or "import", *answer))
    except ValueError:
        return None
    return labels


def check(stores, tmp_path: Path, generated: Generated) -> None:
    folder = Path(tmp_path) / "files"
    folder.mkdir(exist_ok=True)
    path = folder / generated.name
    path.write_bytes(generated.content)
    outcomes = []
    for store in stores:
        store.clear()
        result = store("import", "labels", path, "--format", generated.format)
        code = result.exit_code
        assert code in (0, 2), f"{store.backend}: exit {code}: {result.stderr[-500:]} {result.exception!r}"
        counts = store.counts()
        labels = store.labels()
        if generated.must_fail and not generated.mangled:
            assert code == 2, f"{store.backend}: accepted a file with {generated.must_fail}"
        elif generated.labels is not None and not generated.mangled:
            assert code == 0, f"{store.backend}: refused a valid file: {result.stderr[-500:]}"
        if code == 2:
            assert re.search(rf"{re.escape(str(path))}:\d+: ", result.stderr), f"{store.backend}: {result.stderr}"
            assert not any(counts.values()), f"{store.backend}: refused, yet stored {counts}"
        else:
            assert len(labels) == len(set(labels)), f"{store.backend}: a label stored twice"
            if generated.labels is not None and not generated.mangled:
                assert set(labels) == generated.labels, f"{store.backend}: stored labels differ from the file's"
        outcomes.append((code, counts, sorted(map(repr, labels))))
    assert outcomes[0] == outcomes[1], f"SQLite and PostgreSQL disagree: {outcomes}"
    event(f"exit {outcomes[0][0]}" + (", mangled" if generated.mangled else "")
          + (", must fail" if generated.must_fail else ""))


@SETTINGS
@given(generated=csv_files())
def test_generated_csv_files(both_stores, tmp_path, generated):
    check(both_stores, tmp_path, generated)


@SETTINGS
@given(generated=fbl_files())
def test_generated_fbl_files(both_stores, tmp_path, generated):
    check(both_stores, tmp_path, generated)


@SETTINGS
@given(generated=jsonl_files())
def test_generated_jsonl_files(both_stores, tmp_path, generated):
    check(both_stores, tmp_path, generated)

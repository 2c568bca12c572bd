"""Hostile but fair import files: each is refused with exit 2 and FILE:LINE, nothing stored, on
SQLite and PostgreSQL alike; what is valid is stored completely (no label lost to a key collision)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from store.models import Item, Label
from store.validation import MAX_FIELD_CHARS, column_length

FBL_HEADER = ("ITEM_URL_1\tITEM_NAME_1\tITEM_URL_2\tITEM_NAME_2\tANNOTATOR1_ID\tANNOTATOR1_LABEL\t"
              "ANNOTATOR2_ID\tANNOTATOR2_LABEL\tANNOTATOR3_ID\tANNOTATOR3_LABEL\n")
ID_MAX = column_length(Item.external_id)
SOURCE_MAX = column_length(Item.source)
ACTOR_MAX = column_length(Label.actor)
PAIRS = "item_a,item_b,relation\nA,B,substitute\n"  # a good first row: a bad later row must undo it
LONG = "x" * (MAX_FIELD_CHARS + 1)


def fbl_row(a: str, b: str, labels: tuple[str, str, str]) -> str:
    return f"{a}\tテント\t{b}\t寝袋\t1\t{labels[0]}\t2\t{labels[1]}\t3\t{labels[2]}\n"


def jsonl(*rows: dict | str) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


GOOD_JSON = {"item_a": "A", "item_b": "B", "relation": "substitute"}


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    text: str | bytes
    line: int
    message: str
    command: str = "labels"
    options: tuple[str, ...] = ()


CASES = [
    # 2. what SQLite stored and PostgreSQL refused with a traceback
    Case("nul-csv", "p.csv", PAIRS + "C\x00,D,substitute\n", 3, "NUL character"),
    Case("nul-json-escape", "p.jsonl", jsonl(GOOD_JSON, '{"item_a": "C\\u0000", "item_b": "D"}'), 2, "NUL character"),
    Case("nul-in-attributes", "i.jsonl",
         jsonl({"external_id": "A", "title": "T"}, '{"external_id": "B", "title": "T", "attributes": {"k\\u0000": 1}}'),
         2, "NUL character", "items"),
    Case("long-id-csv", "i.csv", f"external_id,title\nA,T\n{'i' * (ID_MAX + 1)},T\n", 3,
         f"longer than {ID_MAX} characters", "items"),
    Case("long-id-jsonl-pair", "p.jsonl", jsonl(GOOD_JSON, {"item_a": "a" * (ID_MAX + 1), "item_b": "B"}), 2,
         f"longer than {ID_MAX} characters"),
    Case("long-source-column", "i.csv", f"external_id,title,source\nA,T,s\nB,T,{'s' * (SOURCE_MAX + 1)}\n", 3,
         f"longer than {SOURCE_MAX} characters", "items"),
    Case("long-source-option", "i.csv", "external_id,title\nA,T\n", 2, f"longer than {SOURCE_MAX} characters",
         "items", ("--source", "s" * (SOURCE_MAX + 1))),
    Case("long-item-source-pairs", "p.csv", f"item_a,item_b,item_source\nA,B,s\nC,D,{'s' * (SOURCE_MAX + 1)}\n", 3,
         f"longer than {SOURCE_MAX} characters"),
    Case("long-actor", "p.csv",
         f"item_a,item_b,relation,actor\nA,B,substitute,x\nC,D,substitute,{'a' * (ACTOR_MAX + 1)}\n", 3,
         f"longer than {ACTOR_MAX} characters"),
    Case("nan-attributes", "i.jsonl",
         jsonl({"external_id": "A", "title": "T"}, '{"external_id": "B", "title": "T", "attributes": {"w": NaN}}'),
         2, "NaN", "items"),
    Case("infinity-any-field", "p.jsonl", jsonl(GOOD_JSON, '{"item_a": "C", "item_b": "D", "score": -Infinity}'),
         2, "Infinity"),
    Case("overflowing-number", "i.jsonl", jsonl({"external_id": "A", "title": "T"},
                                                '{"external_id": "B", "title": "T", "weight": 1e400}'),
         2, "not a finite number", "items"),
    Case("lone-surrogate", "i.jsonl", jsonl({"external_id": "A", "title": "T"},
                                            '{"external_id": "B", "title": "T\\ud800"}'),
         2, "surrogate", "items"),
    Case("deep-json", "i.jsonl",
         jsonl({"external_id": "A", "title": "T"}, '{"external_id": "B", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
         2, "invalid JSON", "items"),
    Case("huge-integer", "i.jsonl", jsonl({"external_id": "A", "title": "T"},
                                          '{"external_id": "B", "title": "T", "n": ' + "9" * 5000 + "}"),
         2, "invalid JSON", "items"),
    # 3. codes are ASCII digits only
    Case("superscript-fine-code", "p.csv", "item_a,item_b,fine_code\nA,B,4\nC,D,\u00b2\n", 3, "unknown fine_code"),
    Case("arabic-indic-fine-code", "p.csv", "item_a,item_b,fine_code\nA,B,4\nC,D,\u0663\n", 3, "unknown fine_code"),
    Case("huge-ascii-fine-code", "p.csv", "item_a,item_b,fine_code\nA,B,4\nC,D," + "9" * 5000 + "\n", 3,
         "unknown fine_code"),
    Case("unicode-confidence", "p.csv", "item_a,item_b,relation,confidence\nA,B,substitute,0.5\n"
                                        "C,D,substitute,\u0660.\u0665\n", 3, "is not a number"),
    Case("superscript-fbl-label", "FBL2023-x.tsv", FBL_HEADER + fbl_row("u1", "u2", ("4", "4", "8"))
         + fbl_row("u3", "u4", ("4", "\u00b2", "8")), 3, "is not a number"),
    Case("arabic-indic-fbl-label", "FBL2023-x.tsv", FBL_HEADER + fbl_row("u1", "u2", ("4", "4", "8"))
         + fbl_row("u3", "u4", ("4", "\u0663", "8")), 3, "is not a number"),
    Case("superscript-fbl-scheme-guess", "labels.tsv", FBL_HEADER + fbl_row("u1", "u2", ("\u00b2", "4", "8")), 2,
         "is not a number"),
    # 9. the CSV reader's own limits, named where they start
    Case("unclosed-quote", "p.csv", PAIRS + '"C,D,substitute\nE,F,substitute\nG,H,substitute\n', 3,
         "never closed"),
    Case("field-limit-csv", "i.csv", f"external_id,title\nA,T\nB,{LONG}\n", 3,
         f"longer than {MAX_FIELD_CHARS} characters", "items"),
    Case("field-limit-jsonl", "i.jsonl", jsonl({"external_id": "A", "title": "T"}, {"external_id": "B", "title": LONG}),
         2, f"longer than {MAX_FIELD_CHARS} characters", "items"),
    # 9. ids are strings or whole numbers, never a Python repr
    Case("object-id", "p.jsonl", jsonl(GOOD_JSON, {"item_a": {"k": 1}, "item_b": "B"}), 2, "item_a must be a string"),
    Case("array-id", "p.jsonl", jsonl(GOOD_JSON, {"item_a": "A", "item_b": [1]}), 2, "item_b must be a string"),
    Case("boolean-id", "i.jsonl", jsonl({"external_id": "A", "title": "T"}, {"external_id": True, "title": "T"}), 2,
         "external_id must be a string", "items"),
    Case("fraction-id", "i.jsonl", jsonl({"external_id": "A", "title": "T"}, {"external_id": 1.5, "title": "T"}), 2,
         "external_id must be a string", "items"),
    Case("object-actor", "p.jsonl", jsonl(GOOD_JSON, {**GOOD_JSON, "item_a": "C", "actor": {"id": 7}}), 2,
         "actor must be a string"),
]


def test_hostile_files_exit_2_name_the_line_and_store_nothing(store_cli, tmp_path):
    """Every case on one database (each must leave it empty); all mismatches reported together."""
    problems = []
    for case in CASES:
        path = tmp_path / case.name / case.file
        path.parent.mkdir()
        path.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode("utf-8", "surrogatepass"))
        result = store_cli("import", case.command, path, *case.options)
        where = f"{path}:{case.line}: "
        if result.exit_code != 2 or where not in result.stderr or case.message not in result.stderr:
            problems.append(f"{case.name}: exit {result.exit_code}, stderr {result.stderr[-300:]!r}, "
                            f"exception {result.exception!r}")
        if any(store_cli.counts().values()):
            problems.append(f"{case.name}: rows stored {store_cli.counts()}")
            store_cli.clear()
    assert not problems, "\n".join(problems)


def test_ids_at_the_column_limits_are_stored(store_cli, tmp_path):
    path = tmp_path / "i.csv"
    long_id, long_source = "i" * ID_MAX, "s" * SOURCE_MAX
    path.write_text(f"external_id,title,source\n{long_id},T,{long_source}\n", encoding="utf-8")
    result = store_cli("import", "items", path)
    assert result.exit_code == 0, result.stderr
    assert store_cli.counts()["items"] == 1


def test_whole_number_ids_read_as_their_decimal_text(store_cli, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(jsonl({"item_a": 10, "item_b": "7", "fine_code": 5, "confidence": 1}), encoding="utf-8")
    result = store_cli("import", "labels", path)
    assert result.exit_code == 0, result.stderr
    assert store_cli.labels() == [(("catalog", "10"), ("catalog", "7"), "import", "complementary", 5)]


@pytest.mark.parametrize(
    ("file", "text"),
    [
        ("p.csv", "item_a,item_b,relation\na|b,c,complementary\na,b|c,complementary\n"),
        ("p.csv", "item_a,item_b,relation,actor\na,b:x,complementary,y\na,b,complementary,x:y\n"),
        ("FBL2023-x.tsv", FBL_HEADER + fbl_row("a|b", "c", ("4", "", "")) + fbl_row("a", "b|c", ("4", "", ""))),
    ],
    ids=["ids-with-the-separator", "actor-with-the-separator", "fbl-ids-with-the-separator"],
)
def test_rows_whose_old_keys_collided_keep_every_label(store_cli, tmp_path, file, text):
    path = tmp_path / file
    path.write_text(text, encoding="utf-8")
    result = store_cli("import", "labels", path, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert store_cli.counts()["labels"] == 2
    assert report["labels_added"] == 2
    again = json.loads(store_cli("import", "labels", path, "--json").stdout)
    assert again["labels_added"] == again["pairs_added"] == again["items_added"] == 0

"""File readers: format recognition and bad input named by FILE:LINE."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import formats
from store.errors import BadInput
from store.taxonomy import Relation

FBL_HEADER = ("ITEM_URL_1\tITEM_NAME_1\tITEM_URL_2\tITEM_NAME_2\tANNOTATOR1_ID\tANNOTATOR1_LABEL\t"
              "ANNOTATOR2_ID\tANNOTATOR2_LABEL\tANNOTATOR3_ID\tANNOTATOR3_LABEL\n")


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def fbl_row(a="u1", b="u2", labels=("4", "4", "8")) -> str:
    return f"{a}\tテント\t{b}\t寝袋\t1\t{labels[0]}\t2\t{labels[1]}\t3\t{labels[2]}\n"


def test_recognises_each_format_by_header(tmp_path):
    assert formats.detect_format(write(tmp_path / "x.tsv", FBL_HEADER + fbl_row())) == "fbl2023"
    fbl2024 = write(tmp_path / "FBL2024-x.tsv", FBL_HEADER + fbl_row(labels=("1", "1", "2")))
    assert formats.detect_format(fbl2024) == "fbl2024"
    assert formats.detect_format(write(tmp_path / "i.csv", "external_id,title\nA,Tent\n")) == "csv"
    assert formats.detect_format(write(tmp_path / "p.csv", "item_a,item_b,relation\nA,B,substitute\n")) == "csv"
    assert formats.detect_format(write(tmp_path / "p.jsonl", '{"item_a": "A", "item_b": "B"}\n')) == "jsonl"


def test_unknown_header_lists_the_known_formats(tmp_path):
    with pytest.raises(BadInput) as err:
        formats.detect_format(write(tmp_path / "x.csv", "foo,bar\n1,2\n"))
    assert "known formats: csv, jsonl, fbl" in str(err.value)
    assert str(tmp_path / "x.csv") in str(err.value)


def test_unknown_format_option_lists_the_known_formats(tmp_path):
    with pytest.raises(BadInput, match="unknown format 'xml'; known formats: csv"):
        formats.resolve_format(write(tmp_path / "x.csv", "external_id,title\n"), "xml")


def test_ambiguous_fbl_scheme_asks_for_the_format(tmp_path):
    path = write(tmp_path / "labels.tsv", FBL_HEADER + fbl_row(labels=("1", "2", "3")))
    with pytest.raises(BadInput, match="pass --format fbl2023 or --format fbl2024"):
        formats.detect_format(path)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (fbl_row() + "u3\tx\tu4\n", 3, "expected 10 fields as in the header, found 3"),
        (fbl_row() + fbl_row("u5", "u6", ("4", "12", "8")), 3, "unknown FBL2023 label code 12"),
        (fbl_row() + fbl_row("", "u6"), 3, "missing item id in ITEM_URL_1"),
        (fbl_row() + fbl_row("u5", "u6", ("4", "x", "8")), 3, "label 'x' is not a number"),
    ],
)
def test_bad_fbl_rows_name_file_and_line(tmp_path, body, line, message):
    path = write(tmp_path / "FBL2023-bad.tsv", FBL_HEADER + body)
    with pytest.raises(BadInput) as err:
        list(formats.read_pairs(path))
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_bad_encoding_names_the_line(tmp_path):
    path = write(tmp_path / "i.csv", b"external_id,title\nA,Tent\nB,Sleeping \xff bag\n")
    with pytest.raises(BadInput, match=r"i\.csv:3: not valid UTF-8"):
        list(formats.read_items(path))


def test_fbl2024_codes_and_blank_answers(tmp_path):
    path = write(tmp_path / "FBL2024-x.tsv", FBL_HEADER + fbl_row(labels=("1", "", "2")))
    (row,) = formats.read_pairs(path)
    assert [a.relation for a in row.answers] == [Relation.SUBSTITUTE, Relation.COMPLEMENTARY]
    with pytest.raises(BadInput, match="unknown FBL2024 label code 4"):
        list(formats.read_pairs(write(tmp_path / "FBL2024-y.tsv", FBL_HEADER + fbl_row())))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("A,B,friends,,", "unknown relation 'friends'"),
        ("A,B,,12,", "unknown fine_code '12'"),
        ("A,B,substitute,4,", "fine_code 4 contradicts relation substitute"),
        (",B,substitute,,", "missing item_a"),
        ("A,B,substitute,,1.5", "confidence 1.5 is outside 0–1"),
        ("A,A,substitute,,", "a pair of an item with itself"),
    ],
)
def test_bad_pair_rows(tmp_path, row, message):
    path = write(tmp_path / "p.csv", f"item_a,item_b,relation,fine_code,confidence\nC,D,unrelated,,\n{row}\n")
    with pytest.raises(BadInput, match=f"p.csv:3: {message}"):
        list(formats.read_pairs(path))


def test_jsonl_items_keep_extra_fields_as_attributes(tmp_path):
    path = write(tmp_path / "i.jsonl", '{"external_id": "A", "title": "Tent", "colour": "green"}\n\n'
                                       '{"external_id": "B", "title": "Bag", "attributes": {"size": "L"}}\n')
    a, b = formats.read_items(path)
    assert a.attributes == {"colour": "green"} and b.attributes == {"size": "L"}
    with pytest.raises(BadInput, match=r"j.jsonl:2: invalid JSON"):
        list(formats.read_items(write(tmp_path / "j.jsonl", '{"external_id": "A", "title": "T"}\n{oops\n')))


def test_bundlerec_titles_lose_their_html_entities(tmp_path):
    (tmp_path / "item_titles.csv").write_text(
        'item ID,titles\n1,"Barnes &amp; Noble Nook Cover"\n2,"Case for 7&quot; tablet"\n', encoding="utf-8")
    (tmp_path / "item_categories.csv").write_text('item ID,categories\n1,"[[Electronics,Cases]]"\n',
                                                  encoding="utf-8")
    items = {item.external_id: item for item in formats.bundlerec.read_items(tmp_path)}
    assert items["1"].title == "Barnes & Noble Nook Cover" and items["1"].category_path == "Electronics > Cases"
    assert items["2"].title == 'Case for 7" tablet' and items["2"].category_path is None

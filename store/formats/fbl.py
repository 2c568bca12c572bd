"""FBL TSV files (okamoto-lab/fbl_dataset): two items and three annotators per row.

FBL2023 answers are the nine fine function-based codes; FBL2024 answers are
1 substitute / 2 complementary / 3 other. Blank answers are missing values.
The item URL is the item's external id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

from store.errors import BadInput
from store.formats.lines import table_rows
from store.formats.records import Answer, ItemRecord, PairRow
from store.taxonomy import FBL2024_CODES, FINE_CODES, LabelSource, parse_code, relation_of_fine
from store.validation import fit_actor, fit_item

HEADER = [
    "ITEM_URL_1",
    "ITEM_NAME_1",
    "ITEM_URL_2",
    "ITEM_NAME_2",
    "ANNOTATOR1_ID",
    "ANNOTATOR1_LABEL",
    "ANNOTATOR2_ID",
    "ANNOTATOR2_LABEL",
    "ANNOTATOR3_ID",
    "ANNOTATOR3_LABEL",
]
SOURCE = "askul"


class FblScheme(StrEnum):
    FBL2023 = "fbl2023"
    FBL2024 = "fbl2024"


def scheme_from_name(path: Path) -> FblScheme | None:
    match = re.search(r"fbl[_-]?(2023|2024)", path.name.lower())
    return FblScheme(f"fbl{match.group(1)}") if match else None


def guess_scheme(path: Path) -> FblScheme:
    """By file name, else by the codes used: any code above 3 means the fine 2023 scheme."""
    by_name = scheme_from_name(path)
    if by_name:
        return by_name
    for _line, row in table_rows(path, "\t"):
        for n in (1, 2, 3):
            code = parse_code(row.get(f"ANNOTATOR{n}_LABEL", "").strip())
            if code is not None and 3 < code <= 9:
                return FblScheme.FBL2023
    raise BadInput(
        "cannot tell FBL2023 (fine codes 1–9) from FBL2024 (codes 1–3); "
        "pass --format fbl2023 or --format fbl2024",
        path,
    )


def _item(url: str, name: str, path: Path, line: int, column: str) -> ItemRecord:
    url, name = url.strip(), name.strip()
    if not url:
        raise BadInput(f"missing item id in {column}", path, line)
    fit_item(SOURCE, url, path, line)
    return ItemRecord(SOURCE, url, name or url, line=line)


def _answer(code_text: str, annotator: str, scheme: FblScheme, path: Path, line: int) -> Answer:
    code = parse_code(code_text)
    if code is None:
        raise BadInput(f"label {code_text!r} is not a number in ASCII digits", path, line)
    actor = fit_actor(f"fbl:{annotator}", path, line)
    if scheme is FblScheme.FBL2023:
        if code not in FINE_CODES:
            raise BadInput(f"unknown FBL2023 label code {code} (expected 1–9)", path, line)
        return Answer(actor, relation_of_fine(code), code, LabelSource.HUMAN)
    if code not in FBL2024_CODES:
        raise BadInput(f"unknown FBL2024 label code {code} (expected 1–3)", path, line)
    return Answer(actor, FBL2024_CODES[code], None, LabelSource.HUMAN)


def read_fbl(path: Path, scheme: FblScheme) -> Iterator[PairRow]:
    rows = table_rows(path, "\t")
    first = True
    for line, row in rows:
        if first:
            missing = [name for name in HEADER if name not in row]
            if missing:
                raise BadInput(f"not an FBL file: header lacks {', '.join(missing)}", path, 1)
            first = False
        item_a = _item(row["ITEM_URL_1"], row["ITEM_NAME_1"], path, line, "ITEM_URL_1")
        item_b = _item(row["ITEM_URL_2"], row["ITEM_NAME_2"], path, line, "ITEM_URL_2")
        if item_a.external_id == item_b.external_id:
            raise BadInput("a pair of an item with itself", path, line)
        answers = []
        for n in (1, 2, 3):
            code = row[f"ANNOTATOR{n}_LABEL"].strip()
            if code:
                annotator = row[f"ANNOTATOR{n}_ID"].strip() or f"slot{n}"
                answers.append(_answer(code, annotator, scheme, path, line))
        yield PairRow(line, item_a, item_b, answers, (scheme.value, SOURCE, item_a.external_id, item_b.external_id))

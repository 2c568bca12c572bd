"""Item identity: items are keyed (source, external id), and an import never silently copies
items that another source already holds (issue #18: a CSV of FBL pairs imported without
--source made 2,217 copies of askul items under ``catalog``)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, select

from store import formats, repository
from store.errors import BadInput, Conflict
from store.importer import CHUNK, Importer
from store.models import Item

FBL = ("ITEM_URL_1\tITEM_NAME_1\tITEM_URL_2\tITEM_NAME_2\tANNOTATOR1_ID\tANNOTATOR1_LABEL\t"
       "ANNOTATOR2_ID\tANNOTATOR2_LABEL\tANNOTATOR3_ID\tANNOTATOR3_LABEL\n")
URL = "https://www.askul.co.jp/p/{}/"


def fbl_file(path, n: int = 3):
    """An FBL2023 file of ``n`` pairs over items 0..n (item i with item i+1), each labelled 1 by three people."""
    rows = "".join(f"{URL.format(i)}\tItem {i}\t{URL.format(i + 1)}\tItem {i + 1}\t1\t1\t2\t1\t3\t1\n"
                   for i in range(n))
    path.write_text(FBL + rows, encoding="utf-8")
    return path


def pairs_csv(path, pairs: list[tuple[int, int]], extra: str = ""):
    """The same items written as a plain pairs CSV (URLs as ids, no source), as a user exports them."""
    header = "item_a,item_b,title_a,title_b" + (f",{extra.split('=')[0]}" if extra else "")
    value = f",{extra.split('=')[1]}" if extra else ""
    rows = "".join(f"{URL.format(a)},{URL.format(b)},Item {a},Item {b}{value}\n" for a, b in pairs)
    path.write_text(f"{header}\n{rows}", encoding="utf-8")
    return path


def items_by_source(store_cli) -> dict[str, int]:
    return json.loads(store_cli("stats", "--json").stdout)["items_by_source"]


def test_a_csv_without_source_is_refused_when_its_ids_belong_to_another_source(store_cli, tmp_path):
    assert store_cli("import", "labels", fbl_file(tmp_path / "FBL2023.tsv")).exit_code == 0
    before = store_cli.counts()
    path = pairs_csv(tmp_path / "candidates.csv", [(2, 3), (3, 4), (4, 5)])  # items 2, 3 known as askul
    result = store_cli("import", "labels", path)  # how the candidates were imported
    assert result.exit_code == 2, result.stdout
    message = " ".join(result.stderr.split())
    assert f"{path}: 2 items would be added under the default source 'catalog'" in message
    assert "already exist under source 'askul'" in message
    assert f"'{URL.format(2)}', '{URL.format(3)}'" in message
    assert "Pass --source askul to use the existing items, or --source catalog to add them as new items" in message
    assert store_cli.counts() == before  # nothing of the file stored, not even its new item 5


def test_source_option_maps_the_pairs_onto_the_existing_items(store_cli, tmp_path):
    store_cli("import", "labels", fbl_file(tmp_path / "FBL2023.tsv"))
    path = pairs_csv(tmp_path / "candidates.csv", [(2, 3), (3, 4), (4, 5)])
    result = store_cli("import", "pairs", path, "--source", "askul", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["items_added"] == 2  # items 4 and 5; 2 and 3 are the FBL file's
    assert items_by_source(store_cli) == {"askul": 6}
    assert store_cli.counts()["pairs"] == 3 + 2  # (2, 3) is the FBL file's pair


def test_naming_the_default_source_adds_separate_items_on_purpose(store_cli, tmp_path):
    store_cli("import", "labels", fbl_file(tmp_path / "FBL2023.tsv"))
    path = pairs_csv(tmp_path / "candidates.csv", [(2, 3)])
    assert store_cli("import", "pairs", path, "--source", "catalog").exit_code == 0
    assert items_by_source(store_cli) == {"askul": 4, "catalog": 2}
    # Items that already exist under the default source are no new copies: the same file again passes.
    assert store_cli("import", "pairs", path).exit_code == 0
    assert items_by_source(store_cli) == {"askul": 4, "catalog": 2}


def test_a_catalogue_without_source_is_refused_too_and_a_source_column_is_trusted(store_cli, tmp_path):
    store_cli("import", "labels", fbl_file(tmp_path / "FBL2023.tsv"))
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(f"external_id,title\n{URL.format(0)},Wrap\nSKU-1,Tent\n", encoding="utf-8")
    result = store_cli("import", "items", catalogue)
    assert result.exit_code == 2
    assert "1 item would be added under the default source 'catalog'" in " ".join(result.stderr.split())
    named = tmp_path / "named.csv"
    named.write_text(f"external_id,title,source\n{URL.format(0)},Wrap,shop\nSKU-1,Tent,shop\n", encoding="utf-8")
    assert store_cli("import", "items", named).exit_code == 0
    assert items_by_source(store_cli) == {"askul": 4, "shop": 2}


def test_a_row_naming_its_source_and_a_row_without_one_cannot_fork_an_id_in_one_file(store_cli, tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text("external_id,title,source\nA,Tent,shop\nB,Stove,shop\nA,Tent again,\n", encoding="utf-8")
    result = store_cli("import", "items", path)
    assert result.exit_code == 2
    assert "already exist under source 'shop' (e.g. 'A')" in " ".join(result.stderr.split())
    assert store_cli.counts()["items"] == 0


def test_forks_are_counted_over_every_chunk_of_a_large_file(engine, tmp_path):
    """Three chunks of a file whose every id another source holds: the count is the file's, each
    lookup is one source and one chunk (never one IN list of the whole file)."""
    n = 2 * CHUNK + 7
    with engine.begin() as conn:
        repository.upsert_items(conn, [{"source": s, "external_id": f"I{i}", "title": "t"}
                                       for s in ("askul", "instacart") for i in range(n)])
    path = tmp_path / "catalogue.csv"
    path.write_text("external_id,title\n" + "".join(f"I{i},Item {i}\n" for i in range(n)), encoding="utf-8")
    statements: list[tuple[str, int]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            statements.append((statement, len(parameters) if isinstance(parameters, list | tuple | dict) else 0))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with pytest.raises(Conflict, match=rf"catalogue.csv: {n:,} items would be added under the default "
                                           rf"source 'catalog' .* under source 'askul' \(e.g. 'I0', 'I1', 'I2'\)"):
            with engine.begin() as conn:
                importer = Importer(conn, origin=path)
                importer.items(formats.read_items(path))
                importer.finish()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    item_lookups = [(s, p) for s, p in statements if "FROM items" in s]
    # Per chunk: the default source's known ids, then one lookup per other source; once the store's sources.
    assert len(item_lookups) <= 3 * 3 + 1
    assert max(p for _s, p in item_lookups) <= CHUNK + 1
    with engine.connect() as conn:
        assert set(conn.execute(select(Item.source).distinct()).scalars()) == {"askul", "instacart"}


def test_formats_with_their_own_source_refuse_a_source_option(tmp_path):
    path = fbl_file(tmp_path / "FBL2023.tsv")
    with pytest.raises(BadInput, match="--source applies to csv and jsonl files only: fbl2023 items are always "
                                       "of source 'askul'"):
        formats.read_pairs(path, None, "catalog")

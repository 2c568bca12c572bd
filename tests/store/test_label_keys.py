"""Label idempotency keys: collision-free for any ids, and stores keyed the old way (ids joined
with ``|`` and ``:``) are rewritten by migration 0005 so that re-importing their files adds nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, insert, select, update

import migrations
from pairloop.usecases.proposals import llm_key
from store import formats
from store.db import make_engine
from store.formats.records import Answer, PairRow
from store.importer import Importer, ImportReport, import_key
from store.models import Item, Label, Pair
from store.repository import label_key

FBL_HEADER = ("ITEM_URL_1\tITEM_NAME_1\tITEM_URL_2\tITEM_NAME_2\tANNOTATOR1_ID\tANNOTATOR1_LABEL\t"
              "ANNOTATOR2_ID\tANNOTATOR2_LABEL\tANNOTATOR3_ID\tANNOTATOR3_LABEL\n")


def test_keys_of_different_parts_differ_whatever_the_separators():
    assert label_key("import", "pairs", "s", "a|b", "c") != label_key("import", "pairs", "s", "a", "b|c")
    assert label_key("import", "a:b", "c") != label_key("import", "a", "b:c")
    assert llm_key("kg", 1, "qwen2.5:3b", "v1") != llm_key("kg", 1, "qwen2.5", "3b:v1")
    assert label_key("import", "x", None) != label_key("import", "x", "")
    assert len(label_key("import", "i" * 512, "j" * 512)) == len(label_key("import"))


def old_key(row: PairRow, answer: Answer) -> str:
    """The key the importer wrote before revision 0005 (reproduced to build an old store)."""
    kind, source, a, b = row.key
    prefix = {"pairs": f"pairs:{source}", "bundlerec": source}.get(kind, kind)
    return f"{prefix}:{a}|{b}:{answer.actor}:{answer.relation.value}:{answer.fine_code or ''}"


def write_files(root: Path) -> list[Path]:
    csv = root / "pairs.csv"
    csv.write_text("item_a,item_b,fine_code,actor\nA,B,5,ann1\nB,A,5,ann2\nC,D,1,ann:x\n"
                   "a|b,c,8,ann1\na,b|c,8,ann1\n", encoding="utf-8")
    fbl = root / "FBL2023-x.tsv"
    fbl.write_text(FBL_HEADER + "u2\tテント\tu1\t寝袋\t1\t2\t2\t5\t3\t8\n", encoding="utf-8")
    bundles = root / "bundlerec" / "electronic"
    bundles.mkdir(parents=True)
    (bundles / "item_titles.csv").write_text("item ID,titles\n1,Tablet\n2,Case\n", encoding="utf-8")
    (bundles / "item_categories.csv").write_text("item ID,categories\n", encoding="utf-8")
    (bundles / "bundle_item.csv").write_text("bundle ID,item ID\nb1,2\nb1,1\n", encoding="utf-8")
    (bundles / "session_item.csv").write_text("session ID,item ID\ns1,1\n", encoding="utf-8")
    return [csv, fbl, bundles]


def import_all(engine, paths: list[Path]) -> ImportReport:
    with engine.begin() as conn:
        importer = Importer(conn)
        for path in paths:
            importer.pairs(formats.read_pairs(path))
        return importer.finish()


def test_a_store_keyed_the_old_way_is_rewritten_and_reimports_add_nothing(empty_db_url, tmp_path):
    migrations.upgrade(empty_db_url, "0004")
    engine = make_engine(empty_db_url)
    paths = write_files(tmp_path)
    first = import_all(engine, paths)
    answers = [(row, answer) for path in paths for row in formats.read_pairs(path) for answer in row.answers]
    lost = import_key(*answers[4])  # row 'a,b|c': its old key is row 'a|b,c''s, so the old importer dropped it
    assert old_key(*answers[3]) == old_key(*answers[4])
    with engine.begin() as conn:
        conn.execute(delete(Label).where(Label.external_key == lost))
        for row, answer in answers:
            conn.execute(update(Label).where(Label.external_key == import_key(row, answer))
                         .values(external_key=old_key(row, answer)))
        pair_id = conn.execute(select(Pair.id)).scalars().first()
        conn.execute(insert(Label).values(pair_id=pair_id, relation="substitute", source="llm", actor="qwen2.5:3b",
                                          prompt_version="v1", external_key=f"llm:kg:{pair_id}:qwen2.5:3b:v1"))
        conn.execute(insert(Label).values(pair_id=pair_id, relation="substitute", source="human", actor="a",
                                          external_key="ls:7:2026-01-01T00:00:00.000000Z"))
    migrations.upgrade(empty_db_url)

    with engine.connect() as conn:
        keys = set(conn.execute(select(Label.external_key)).scalars())
    assert keys == ({import_key(row, answer) for row, answer in answers} - {lost}
                    | {llm_key("kg", pair_id, "qwen2.5:3b", "v1"), "ls:7:2026-01-01T00:00:00.000000Z"})
    again = import_all(engine, paths)
    assert (again.items_added, again.pairs_added, again.labels_added) == (0, 0, 1)  # only the lost label
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Label)).scalar_one() == first.labels_added + 2
        assert conn.execute(select(func.count()).select_from(Item)).scalar_one() == first.items_added
    engine.dispose()

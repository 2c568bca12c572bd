"""Bulk import into SQLite and PostgreSQL: idempotent, all-or-nothing, provenance kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pairloop.sample.catalogue import write_sample
from store import formats
from store.errors import BadInput
from store.importer import Importer
from store.models import Behaviour, Item, Label, Pair
from store.verified import MajorityRule, verified_labels


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def run_import(engine, work):
    with engine.begin() as conn:
        importer = Importer(conn)
        work(importer)
        return importer.finish()


def test_sample_catalogue_import_is_idempotent(engine, tmp_path):
    files = write_sample(tmp_path / "sample")
    first = run_import(engine, lambda imp: (imp.items(formats.read_items(files.catalogue)),
                                            imp.pairs(formats.read_pairs(files.seed_labels))))
    assert first.items_added == 300 and first.labels_added == 90 and first.pairs_added == 30
    again = run_import(engine, lambda imp: (imp.items(formats.read_items(files.catalogue)),
                                            imp.pairs(formats.read_pairs(files.seed_labels))))
    assert (again.items_added, again.pairs_added, again.labels_added) == (0, 0, 0)
    assert again.rows == first.rows


def test_pairs_are_stored_once_in_canonical_order_with_mirrored_fine_codes(engine, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("item_a,item_b,fine_code,actor\nA,B,5,ann1\nB,A,5,ann2\n", encoding="utf-8")
    run_import(engine, lambda imp: imp.pairs(formats.read_pairs(path)))
    with engine.connect() as conn:
        (pair,) = conn.execute(select(Pair)).all()
        ids = dict(conn.execute(select(Item.external_id, Item.id)).all())
        labels = conn.execute(select(Label.actor, Label.fine_code, Label.presented_reversed)
                              .order_by(Label.actor)).all()
    assert pair.item_a_id < pair.item_b_id
    a_first = ids["A"] < ids["B"]
    # "item 1 more useful with item 2" read in canonical order: A→B is 5 when A is first.
    assert labels[0] == ("ann1", 5 if a_first else 6, not a_first)
    assert labels[1] == ("ann2", 6 if a_first else 5, a_first)


def test_a_bad_row_late_in_the_file_stores_nothing(engine, tmp_path):
    path = tmp_path / "p.csv"
    rows = "".join(f"I{i},J{i},substitute\n" for i in range(6000))
    path.write_text("item_a,item_b,relation\n" + rows + "X,Y,sibling\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"p.csv:6002: unknown relation 'sibling'"):
        run_import(engine, lambda imp: imp.pairs(formats.read_pairs(path)))
    assert count(engine, Item) == count(engine, Pair) == count(engine, Label) == 0


def test_items_import_refreshes_text_but_pair_files_do_not_overwrite_it(engine, tmp_path):
    items = tmp_path / "i.csv"
    items.write_text("external_id,title,category_path\nA,Dome tent,Outdoor > Tents\n", encoding="utf-8")
    pairs = tmp_path / "p.csv"
    pairs.write_text("item_a,item_b,title_a\nA,B,placeholder\n", encoding="utf-8")
    run_import(engine, lambda imp: imp.items(formats.read_items(items)))
    run_import(engine, lambda imp: imp.pairs(formats.read_pairs(pairs)))
    items.write_text("external_id,title,category_path\nA,Dome tent 2p,Outdoor > Tents\n", encoding="utf-8")
    run_import(engine, lambda imp: imp.items(formats.read_items(items)))
    with engine.connect() as conn:
        titles = dict(conn.execute(select(Item.external_id, Item.title)).all())
    assert titles == {"A": "Dome tent 2p", "B": "B"}
    assert count(engine, Label) == 0  # an unlabelled pool row adds a pair, no label


def test_behaviour_is_kept_apart_from_labels(engine, tmp_path):
    (tmp_path / "products.csv").write_text(
        "product_id,product_name,aisle_id,department_id\n1,Milk,1,1\n2,Bread,2,1\n3,Jam,2,1\n", encoding="utf-8")
    (tmp_path / "aisles.csv").write_text("aisle_id,aisle\n1,dairy\n2,bakery\n", encoding="utf-8")
    (tmp_path / "departments.csv").write_text("department_id,department\n1,food\n", encoding="utf-8")
    (tmp_path / "order_products__train.csv").write_text(
        "order_id,product_id,add_to_cart_order,reordered\n1,1,1,0\n1,2,2,0\n2,1,1,0\n2,2,2,0\n2,3,3,0\n",
        encoding="utf-8")

    def work(imp: Importer) -> None:
        imp.items(formats.read_items(tmp_path))
        imp.behaviour(formats.read_behaviour(tmp_path, min_count=1))

    report = run_import(engine, work)
    assert (report.items_added, report.behaviour_added, report.labels_added) == (3, 3, 0)
    assert run_import(engine, work).behaviour_added == 0
    with engine.connect() as conn:
        counts = sorted(conn.execute(select(Behaviour.count)).scalars())
        category = conn.execute(select(Item.category_path).where(Item.external_id == "3")).scalar_one()
    assert counts == [1, 1, 2] and category == "food > bakery"


def test_verified_label_follows_each_actors_latest_answer(engine, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("item_a,item_b,relation,actor,source\nA,B,substitute,x,human\nA,B,substitute,y,human\n"
                    "A,B,unrelated,z,human\n", encoding="utf-8")
    run_import(engine, lambda imp: imp.pairs(formats.read_pairs(path)))
    with engine.connect() as conn:
        (label,) = verified_labels(conn, MajorityRule.COARSE)[0].values()
    assert label.relation.value == "substitute" and label.n_votes == 3
    path.write_text("item_a,item_b,relation,actor,source\nA,B,unrelated,y,human\n", encoding="utf-8")
    run_import(engine, lambda imp: imp.pairs(formats.read_pairs(path)))  # y changes its mind
    with engine.connect() as conn:
        (label,) = verified_labels(conn, MajorityRule.COARSE)[0].values()
    assert label.relation.value == "unrelated"
    assert count(engine, Label) == 4  # history kept, never overwritten

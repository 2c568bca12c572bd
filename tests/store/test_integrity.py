"""The store's integrity check on SQLite and PostgreSQL: a sound store passes, each kind of damage
is named. Damage the foreign keys forbid is written with them switched off for one connection."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, insert, text
from support.integrity import seed_pushed_round
from support.service import seed_round

from knowledge_graph.snapshots import SnapshotCorrupted
from store.integrity import check_integrity
from store.models import Label, LlmProposal, Round, RoundPair, Snapshot


def _check(engine: Engine, verify=None):
    with engine.connect() as conn:
        return check_integrity(conn, verify)


def _without_foreign_keys(engine: Engine, *statements) -> None:
    # SQLite: the pragma, outside a transaction; PostgreSQL: the foreign keys' triggers do not
    # fire for a replica (setting it needs a superuser, as the tests' server has).
    off, on = (("PRAGMA foreign_keys=OFF", "PRAGMA foreign_keys=ON") if engine.dialect.name == "sqlite" else
               ("SET session_replication_role = replica", "SET session_replication_role = DEFAULT"))
    with engine.connect() as conn:
        conn.exec_driver_sql(off)
        conn.commit()
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.exec_driver_sql(on)
        conn.commit()


def test_a_sound_store_passes_every_check(db_url, engine):
    seed_pushed_round(db_url, 3)
    report = _check(engine, verify=lambda _path: None)
    assert report.ok and report.problems == []
    assert "labels without their pair" in report.checks
    assert "registered snapshots that fail their manifest" in report.checks


def test_rows_pointing_at_missing_rows_are_found(db_url, engine):
    round_id, (pair, *_) = seed_pushed_round(db_url, 2)
    _without_foreign_keys(
        engine,
        insert(Label).values(id=900, pair_id=10_000, verdict="label", relation="substitute", source="human",
                             actor="a"),
        insert(Label).values(id=901, pair_id=pair, round_id=777, verdict="label", relation="substitute",
                             source="human", actor="b"),
        insert(RoundPair).values(round_id=round_id, pair_id=10_001, rank=9, score=0.1),
        insert(LlmProposal).values(id=902, pair_id=10_002, model="m", prompt_version="v1", status="agreed"),
        text("DELETE FROM items WHERE id = (SELECT max(id) FROM items)"),
    )
    found = {p.check: p for p in _check(engine).problems}
    assert found["labels without their pair"].examples == ["900"]
    assert found["labels of a missing round"].examples == ["901"]
    assert found["round pairs without their round or pair"].examples == [f"{round_id}:10001"]
    assert found["LLM proposals without their pair"].examples == ["902"]
    assert found["pairs without their items"].count == 1


def test_rounds_no_command_can_move_on_are_stuck(db_url, engine):
    older, _ = seed_round(db_url, 1)
    newer, _ = seed_round(db_url, 1)
    verifying, (unsent, *_) = seed_round(db_url, 2)
    with engine.begin() as conn:
        conn.execute(Round.__table__.update().where(Round.id.in_([older, newer])).values(state="labelling"))
        conn.execute(RoundPair.__table__.update().where(RoundPair.round_id == verifying, RoundPair.rank == 1)
                     .values(status="pushed", ls_task_id=5))
    (problem,) = _check(engine).problems
    assert problem.check == "rounds stuck in a state no command leaves"
    assert problem.examples == [
        f"round {older} is labelling but `round start` resumes only round {newer}",
        f"round {verifying} is verifying but its pair {unsent} was never sent to Label Studio",
    ]


def test_registered_snapshots_are_verified(engine, tmp_path):
    def verify(folder: Path) -> None:
        if not (folder / "manifest.json").is_file():
            raise SnapshotCorrupted("not a graph snapshot (no manifest.json)", folder.name, "manifest.json")

    (tmp_path / "v0001").mkdir()
    (tmp_path / "v0001" / "manifest.json").write_text(json.dumps({}))
    with engine.begin() as conn:
        for version in ("v0001", "v0002"):
            conn.execute(insert(Snapshot).values(version=version, counts={}, checksum="0" * 64,
                                                 path=str(tmp_path / version), label_set_hash="0" * 64))
    (problem,) = _check(engine, verify).problems
    assert problem.check == "registered snapshots that fail their manifest" and problem.count == 1
    assert problem.examples[0].startswith("snapshot v0002: ")

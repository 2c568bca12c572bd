"""``pairloop check``: the integrity check from the command line, exit 0 when sound, 1 when not."""

from __future__ import annotations

import json

from sqlalchemy import update
from support.service import seed_round

from store.models import Round


def test_check_reports_a_sound_store_then_a_stuck_round(cli, db_url, engine):
    sound = json.loads(cli("check", "--json").stdout)
    assert sound["ok"] and sound["problems"] == [] and len(sound["checks"]) >= 8
    assert "store ok" in cli("check").stdout
    older, _ = seed_round(db_url, 1)
    newer, _ = seed_round(db_url, 1)
    with engine.begin() as conn:
        conn.execute(update(Round).values(state="labelling"))
    found = json.loads(cli("check", "--json", expect=1).stdout)
    assert not found["ok"]
    assert found["problems"] == [{"check": "rounds stuck in a state no command leaves", "count": 1, "examples": [
        f"round {older} is labelling but `round start` resumes only round {newer}"]}]
    assert "rounds stuck" in cli("check", expect=1).stdout

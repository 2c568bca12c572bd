"""``pairloop graph snapshot`` killed with SIGKILL part-way, in a real process, on SQLite and
PostgreSQL: the store stays sound, no leftovers stay, and running it again gives what a clean
run gives.

Before the fix, a kill after the folder's rename and before its registration left a complete
unregistered folder under the next version's name: every later ``graph snapshot`` failed (exit
2, "the snapshot folder exists"); a kill while writing left a hidden ``.vNNNN.partial-*`` folder
that nothing removed.
"""

from __future__ import annotations

import json

import pytest
from support.integrity import assert_sound
from support.processes import kill_after, run

from knowledge_graph.snapshots import LOCK_FILE

pytestmark = [pytest.mark.datasets, pytest.mark.slow]

SNAPSHOT = ("graph", "snapshot", "--min-agreeing", "1", "--json")
# Where the process kills itself (see tests/support/processes.py).
KILL_POINTS = {
    "writing": "after:knowledge_graph.snapshots:sha256_of",  # data files written beside the folder, no manifest
    "staged": "before:knowledge_graph.snapshots:publish",  # complete beside the folder, registration not committed
    "published": "after:knowledge_graph.snapshots:publish",  # the folder in place, registration not committed
    "registered": "after:pairloop.usecases.graph:take_snapshot",  # committed, the answer not printed
}
# What each kill point leaves in DATA_DIR/snapshots (the lock file aside), and what is registered.
LEFT = {"writing": (".v0001.partial-", []), "staged": (".v0001.partial-", []), "published": ("v0001", []),
        "registered": ("v0001", ["v0001"])}
TIMED_KILLS_S = (0.5, 2.0)  # after the CLI is imported: while the graph is built, while it is written


def _versions(cli) -> list[str]:
    return [s["version"] for s in json.loads(cli("graph", "snapshots", "--json").stdout)]


@pytest.mark.parametrize("kill", [*KILL_POINTS, *(f"after {s} s" for s in TIMED_KILLS_S)])
def test_a_snapshot_killed_part_way_is_recovered_by_the_next(kill, cli, db_url, engine, small_bundlerec, tmp_path):
    cli("import", "labels", small_bundlerec)
    cli("graph", "entities")
    data = tmp_path / "data"
    folder = data / "snapshots"
    if kill in KILL_POINTS:
        killed = run(SNAPSHOT, db_url, data, kill=KILL_POINTS[kill])
        assert killed.killed, killed.stderr
        left, registered = LEFT[kill]
        assert [p.name[:len(left)] for p in folder.iterdir() if p.name != LOCK_FILE] == [left]
        assert _versions(cli) == registered
    else:  # wherever it is then; it may also have finished
        killed = kill_after(SNAPSHOT, db_url, data, float(kill.split()[1]))
        assert killed.killed or killed.returncode == 0, killed.stderr
    assert_sound(engine)  # every registered snapshot verifies
    before = _versions(cli)

    again = json.loads(cli(*SNAPSHOT).stdout)
    assert _versions(cli) == [again["version"], *before]
    assert_sound(engine)
    assert sorted(p.name for p in folder.iterdir()) == sorted([LOCK_FILE, again["version"], *before])
    clean = json.loads(cli("graph", "snapshot", "--out", tmp_path / "clean", "--min-agreeing", 1, "--json").stdout)
    assert (again["checksum"], again["counts"]) == (clean["checksum"], clean["counts"])

"""The README's "Quickstart: your own catalogue", run command by command as written, on SQLite
with the real Label Studio (issue #18: candidate pairs had no documented way in).

The commands are read from the README itself, so the walk breaks when the README changes
without it. The files are the demo's sample catalogue under the README's file names; the
session's Label Studio stands in for ``pairloop studio up`` (it is reached through
PAIRLOOP_LABEL_STUDIO_URL, as an existing Label Studio is); three simulated annotators answer
every task through Label Studio's API between ``round start`` and ``round sync``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from sqlalchemy import select

from pairloop.sample.annotators import SimulatedAnnotator, answer_round, truth_by_pair
from pairloop.sample.catalogue import write_sample
from pairloop.settings import get_settings
from store.db import make_engine
from store.models import Round

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Quickstart: your own catalogue"
ANNOTATORS = tuple(SimulatedAnnotator(f"own-catalogue-{n}@pairloop.test", 0.0, 0.0) for n in (1, 2, 3))


def quickstart_commands() -> list[str]:
    """The ``pairloop`` command lines of the section's code block, comments cut."""
    section = README.read_text(encoding="utf-8").split(SECTION, 1)[1]
    block = section.split("```bash\n", 1)[1].split("\n```", 1)[0]
    return [" ".join(shlex.split(line, comments=True)[1:]) for line in block.splitlines()
            if line.startswith("pairloop ")]


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(text.split())


def test_the_readme_quickstart_runs_as_written(sqlite_cli, sqlite_url, studio_state, tmp_path, monkeypatch):
    commands = quickstart_commands()
    assert commands == ["init", "import items catalogue.csv", "import labels seed_labels.csv",
                        "import pairs candidates.csv", "stats", "train", "studio up",
                        "round start --size 20 --llm none", "round sync", "round close"]

    work = tmp_path / "mine"
    sample = write_sample(work)
    sample.pool.rename(work / "candidates.csv")
    candidates = sum(1 for _ in (work / "candidates.csv").open(encoding="utf-8")) - 1
    monkeypatch.chdir(work)
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_URL", studio_state.url)
    monkeypatch.setenv("PAIRLOOP_LABEL_STUDIO_TOKEN", studio_state.token)
    get_settings.cache_clear()
    engine = make_engine(sqlite_url)

    def answer_every_task() -> None:
        with engine.connect() as conn:
            project = conn.execute(select(Round.ls_project_id).where(Round.id == 1)).scalar_one()
        answered = answer_round(studio_state.url, project, ANNOTATORS, truth_by_pair(engine, seed=7), seed=1)
        assert answered == {person.email: 20 for person in ANNOTATORS}

    # What each command must print (its counts), and what happens before it.
    expected = {
        "init": [r"database ready"],
        "import items catalogue.csv": [r"catalogue.csv: 300 rows read; added 300 items, 0 pairs, 0 labels"],
        "import labels seed_labels.csv": [r"seed_labels.csv: 90 rows read; added 0 items, 30 pairs, 90 labels"],
        "import pairs candidates.csv": [rf"candidates.csv: {candidates} rows read; added 0 items, {candidates} "
                                        r"pairs, 0 labels"],
        "stats": [r"items\W+300 catalog 300\W", rf"pairs\W+{30 + candidates:,}\W", r"labels · human\W+90 ",
                  r"verified \(coarse majority\)\W+30 "],
        "train": [r"trained \S+ on 30 verified labels \(complementary 10, substitute 10, unrelated 10\)"],
        "round start --size 20 --llm none": [r"round 1 started: 20 pairs, 0 auto-accepted"],
        "round sync": [r"round 1: 20 tasks listed, 60 annotations seen"],
        "round close": [r"round 1 closed: 20 of 20 pairs verified; classifier \S+ trained on 50 labels"],
    }
    before = {"round sync": answer_every_task}
    try:
        for command in commands:
            if command == "studio up":
                continue  # the session's Label Studio, set above
            if command in before:
                before[command]()
            result = sqlite_cli(*shlex.split(command))  # exit code 0, or the assertion names the command
            for pattern in expected[command]:
                assert re.search(pattern, flat(result.stdout)), f"pairloop {command}: no {pattern!r} in {result.stdout}"
    finally:
        engine.dispose()

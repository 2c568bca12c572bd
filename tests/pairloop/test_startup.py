"""Start-up: a command imports its own module and no heavy library; help reads whole at 80 and 120 columns.

Each import check runs in a fresh interpreter (this one has imported everything already). The
times themselves are measured by ``benchmarks/startup.py``, not here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from pairloop.cli import COMMANDS, app, load_command

REPO = Path(__file__).resolve().parents[2]
# Libraries that take from a tenth of a second to seconds to import; none of them is needed to
# parse a command line, print help, or read the store's counts.
HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn", "scipy", "numba", "modAL", "torch_geometric",
         "label_studio_sdk", "matplotlib", "pyarrow", "networkx", "pandas", "sudachipy", "fastapi", "uvicorn", "ray",
         "cleanlab")
REPORT = "\nmodules loaded: "
SHARED = {"pairloop.commands.options"}  # the options several command modules share


def loaded(code: str, *argv: str, env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; the heavy libraries and the command modules it left in
    ``sys.modules`` (``heavy``, ``commands``)."""
    script = (f"import json, sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\n"
              f"print({REPORT!r} + json.dumps({{'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules), "
              "'commands': sorted(m for m in sys.modules if m.startswith('pairloop.commands.'))}))")
    done = subprocess.run([sys.executable, "-c", script, *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert REPORT in done.stdout, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    return json.loads(done.stdout.rpartition(REPORT)[2])


def test_importing_the_cli_loads_no_heavy_library_and_no_command():
    assert loaded("import pairloop.cli") == {"heavy": [], "commands": []}


def test_help_loads_no_database_layer(tmp_path):
    """`pairloop --help` (which also checks the environment's PAIRLOOP_* names against the
    settings) needs neither SQLAlchemy nor the store's models."""
    code = ("import sys\nfrom pairloop.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('loaded:', sorted(m for m in ('sqlalchemy', 'store.models', 'alembic') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.rstrip().endswith("loaded: []"), done.stdout[-300:]


@pytest.mark.parametrize(("command", "module"), [
    (["--help"], None), (["stats"], "stats"), (["stats", "--json"], "stats"), (["check"], "check"),
    (["round", "--help"], "round"), (["train", "--help"], "train"),
])
def test_a_command_imports_its_own_module_and_no_heavy_library(command, module, tmp_path):
    """The whole run, not only the imports: `pairloop stats` reads counts without loading the
    classifier's, the service's or the graph's libraries, or any other command's module."""
    env = {**os.environ, "PAIRLOOP_DATA_DIR": str(tmp_path), "PAIRLOOP_DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    found = loaded("from pairloop.cli import main; main()", *command, env=env)
    assert found["heavy"] == [], f"pairloop {' '.join(command)} loaded {found['heavy']}"
    assert set(found["commands"]) - SHARED == ({f"pairloop.commands.{module}"} if module else set())


def test_round_status_modules_load_no_heavy_library():
    """`pairloop round status` reaches the round use cases and the Label Studio adapter: importing
    them must not pull in the SDK or the classifier's libraries (those load for `round start`)."""
    modules = ("pairloop.commands.round", "pairloop.usecases.rounds", "pairloop.usecases.round_steps",
               "annotator.label_studio")
    assert loaded("; ".join(f"import {m}" for m in modules))["heavy"] == []


def test_strategy_names_need_no_modal():
    """The default strategy and the strategy check are read by commands that never query."""
    code = ("from active_learning.strategies import DEFAULT_STRATEGY, STRATEGIES, get_strategy; "
            "get_strategy(DEFAULT_STRATEGY)")
    assert loaded(code)["heavy"] == []


def test_the_root_help_lines_are_the_commands_own_and_every_command_module_is_listed():
    """`pairloop --help` lists the commands from cli.COMMANDS without importing them: each line
    must stay the first sentence of the command's own help, and no command module may be left out."""
    for name, (_module, _attribute, help_line) in COMMANDS.items():
        assert load_command(name).get_short_help_str(limit=sys.maxsize) == help_line, name
    modules = {path.stem for path in (REPO / "pairloop" / "commands").glob("*.py")} - {"__init__", "options"}
    listed = {module for module, _, _ in COMMANDS.values()}
    sub_commands = {m for m in modules - listed if any(m.startswith(f"{group}_") for group in listed)}  # llm_adapt
    assert listed == modules - sub_commands


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (sub-)command under ``group`` (Typer's own copy of Click's classes) with its path."""
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))


ROOT = typer.main.get_command(app)
EVERY_COMMAND = [((), ROOT), *_commands(ROOT)]


def _missing_words(text: str, shown: str) -> list[str]:
    """The words of ``text`` not found whole in ``shown``, which is read without whitespace or box
    lines: wrapping (also after a hyphen, also in a column of a Rich panel) moves words, while
    truncation ("PAIRLOOP_FEATURE…") or markup taken for a tag ("[x, gate(x)·x]") loses them."""
    flat = re.sub(r"[\s\u2500-\u257f]", "", shown)
    return [word for word in text.split() if word not in flat]


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize(("path", "command"), EVERY_COMMAND, ids=[" ".join(p) or "pairloop" for p, _ in EVERY_COMMAND])
def test_help_shows_every_option_and_sentence_whole(path, command, width):
    """Every option name (both halves of --x/--no-x), every option's help and every sub-command's
    first sentence appear in full, and no line runs past the terminal: nothing is cut to fit
    (Rich's help panels printed "--keep-round-lab…" at 80 columns)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    for param in command.params:
        for name in (*param.opts, *param.secondary_opts):
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", result.output), \
                f"{name} of pairloop {' '.join(path)} at {width} columns"
        if param.param_type_name == "option" and param.help:
            assert not _missing_words(param.help, result.output), f"help of {param.name} at {width} columns"
    for name, sub in getattr(command, "commands", {}).items():
        assert not _missing_words(sub.get_short_help_str(limit=sys.maxsize), result.output), (name, width)
    too_long = [line for line in result.output.splitlines() if len(line) > width]
    assert not too_long, too_long


def test_the_startup_benchmark_times_each_command_against_the_interpreter(tmp_path, monkeypatch, capsys):
    from benchmarks import startup

    monkeypatch.setattr(startup, "RESULTS", tmp_path / "startup.json")
    startup.main(["--repeats", "1"])
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "startup.json").read_text())
    assert list(report["cases"]) == ["python -c pass", "import pairloop.cli", "pairloop --help", "pairloop stats"]
    assert report["cases"]["python -c pass"]["over_baseline_s"] == 0
    assert all(case["median_s"] > 0 for case in report["cases"].values())
    assert "pairloop --help" in printed and "goal: pairloop --help ≤ 1 s" in printed

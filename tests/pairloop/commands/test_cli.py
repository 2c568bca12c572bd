"""The command-line contract: --help everywhere, exit codes 0 / 2 / 1, clear one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from pairloop.cli import app


def all_commands(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from all_commands(command, (*prefix, name))


def test_every_command_has_help(sqlite_cli):
    commands = list(all_commands(typer.main.get_command(app)))
    assert ("import", "labels") in commands and ("stats",) in commands
    for command in commands:
        result = sqlite_cli(*command, "--help")
        assert "Usage" in result.stdout, command


def test_bad_file_exits_2_names_the_line_and_imports_nothing(cli, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("item_a,item_b,relation\nA,B,substitute\nC,D,cousin\n", encoding="utf-8")
    result = cli("import", "labels", path, expect=2)
    assert f"{path}:3: unknown relation 'cousin'" in result.stderr
    stats = json.loads(cli("stats", "--json").stdout)
    assert (stats["items"], stats["pairs"], stats["labels"]) == (0, 0, 0)


def test_unknown_format_exits_2_and_lists_formats(sqlite_cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("external_id,title\nA,Tent\n", encoding="utf-8")
    result = sqlite_cli("import", "items", path, "--format", "parquet", expect=2)
    assert "known formats: csv, jsonl, fbl, fbl2023, fbl2024, bundlerec, instacart" in result.stderr
    result = sqlite_cli("import", "labels", tmp_path / "missing.csv", expect=2)
    assert "no such file or folder" in result.stderr


def test_unreachable_database_is_one_clear_line(tmp_path, monkeypatch):
    from tests.conftest import Cli

    cli = Cli("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", tmp_path, monkeypatch)
    result = cli("stats", expect=1)
    assert "cannot reach the database at postgresql+psycopg://postgres@127.0.0.1:1/nowhere" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_init_upgrades_and_downgrades(cli):
    assert json.loads(cli("init", "--json").stdout)["revision"] != "base"
    assert json.loads(cli("init", "--downgrade", "base", "--json").stdout)["revision"] == "base"
    assert json.loads(cli("init", "--json").stdout)["revision"] != "base"


def test_console_script_exit_codes(tmp_path):
    """The installed ``pairloop`` entry point, as a user runs it."""
    exe = Path(sys.executable).with_name("pairloop")
    env = {**os.environ, "PAIRLOOP_DATA_DIR": str(tmp_path), "PAIRLOOP_DATABASE_URL": ""}
    env.pop("PAIRLOOP_DATABASE_URL")
    bad = tmp_path / "bad.tsv"
    bad.write_text("ITEM_URL_1\tITEM_NAME_1\n", encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)

    assert run("init").returncode == 0
    assert (tmp_path / "pairloop.db").exists()
    failed = run("import", "labels", str(bad))
    assert failed.returncode == 2, failed.stderr
    assert "unrecognised header" in failed.stderr
    assert run("import", "labels", "--no-such-option").returncode == 2


@pytest.mark.parametrize("rule", ["coarse", "fine"])
def test_stats_json_reports_the_rule(sqlite_cli, rule):
    data = json.loads(sqlite_cli("stats", "--json", "--rule", rule).stdout)
    assert data["verified"]["rule"] == rule


def test_studio_status_and_down_without_a_label_studio(sqlite_cli, monkeypatch):
    for name in ("LABEL_STUDIO_URL", "LABEL_STUDIO_TOKEN", "LABEL_STUDIO_HOME"):
        monkeypatch.delenv(f"PAIRLOOP_{name}", raising=False)
    status = json.loads(sqlite_cli("studio", "status", "--json", expect=1).stdout)
    assert (status["running"], status["installed"]) == (False, False)
    assert "no Label Studio configured" in status["problem"]
    assert "Label Studio is not available" in sqlite_cli("studio", "status", expect=1).stdout
    assert json.loads(sqlite_cli("studio", "down", "--json").stdout) == {"stopped": False, "purged": False}


def test_data_command_modules_load_no_heavy_library():
    """`pairloop --help` stays fast: torch, scikit-learn and the Label Studio SDK load when a command runs."""
    modules = ", ".join(f"pairloop.commands.{name}" for name in
                        ("train", "evaluate", "simulate", "imports", "stats", "init", "pool", "studio", "serve"))
    code = (f"import sys, {modules}; print(sorted(m for m in ('torch', 'sklearn', 'transformers', "
            "'sentence_transformers', 'label_studio_sdk', 'fastapi') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"

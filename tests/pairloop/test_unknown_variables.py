"""A misspelled ``PAIRLOOP_*`` variable is named on stderr instead of being ignored without a word.

The misspelled names are assembled at run time so that this file names no unknown variable
(tests/pairloop/test_settings_doc.py checks every file for those)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pairloop.settings import unknown_variables

PREFIX = "PAIRLOOP_"
PAIRLOOP = Path(sys.executable).parent / "pairloop"


def test_a_misspelled_setting_is_named_with_the_setting_it_resembles():
    typo = PREFIX + "TEST_SETT"
    warnings = unknown_variables({typo: "pairs.csv", "PAIRLOOP_DATA_DIR": "/tmp/x", "HOME": "/root"})
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{typo} is not a pairloop setting and is ignored (did you mean PAIRLOOP_TEST_SET?)")


def test_settings_test_variables_and_other_names_give_no_warning():
    environ = {"PAIRLOOP_LLM_BACKEND": "local", "pairloop_data_dir": "/tmp/x", "PAIRLOOP_DATASETS": "/d",
               "PAIRLOOP_TEST_PG": "postgresql://", "PATH": "/bin"}
    assert unknown_variables(environ) == []


def test_the_cli_warns_on_stderr_and_still_runs():
    typo = PREFIX + "LLM_BACKEN"
    env = {**os.environ, typo: "openai"}
    done = subprocess.run([str(PAIRLOOP), "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Commands" in done.stdout
    assert f"{typo} is not a pairloop setting and is ignored (did you mean PAIRLOOP_LLM_BACKEND?)" in done.stderr

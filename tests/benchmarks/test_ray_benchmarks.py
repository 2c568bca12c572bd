"""The Ray benchmarks parse their options without starting a cluster (a full run takes minutes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "option"), [("ray_pool_scoring", "--lazy-pairs"), ("ray_llm_labelling", "--actors")])
def test_help_lists_the_options_and_starts_no_cluster(name: str, option: str):
    result = subprocess.run([sys.executable, "-m", "benchmarks", name, "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert option in result.stdout
    assert "Ray" not in result.stderr  # nothing started: no "Started a local Ray instance" or cluster log


def test_a_mistyped_option_is_refused():
    result = subprocess.run([sys.executable, "-m", "benchmarks", "ray_pool_scoring", "--pairz", "10"], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and "--pairz" in result.stderr

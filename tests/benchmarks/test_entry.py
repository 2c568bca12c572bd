"""``python -m benchmarks NAME [OPTIONS]`` hands the options to that benchmark and runs nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_benchmarks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)  # the exit code is what is tested


def test_options_reach_the_named_benchmark():
    result = run_benchmarks("llm_throughput", "--help")
    assert result.returncode == 0, result.stderr
    assert "--prompt-version" in result.stdout and "=== benchmarks.llm_throughput ===" in result.stdout
    assert "benchmarks.pool_scoring" not in result.stdout


def test_an_unknown_option_is_refused_not_ignored():
    result = run_benchmarks("import_speed", "--pairs", "96")
    assert result.returncode == 2
    assert "unrecognized arguments: --pairs 96" in result.stderr


def test_an_unknown_benchmark_is_named_with_the_known_ones():
    result = run_benchmarks("llm_througput")
    assert result.returncode == 2
    assert "unknown benchmark 'llm_througput'" in result.stderr and "llm_throughput" in result.stderr

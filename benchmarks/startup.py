"""Start-up time of the ``pairloop`` command, next to the Python interpreter's own.

Each case runs as a fresh process, the cases taking turns so that a change of machine load
hits them alike, after one untimed run each (compiled bytecode and the page cache warm):

- ``python -c pass``: the interpreter alone, the baseline;
- ``python -c "import pairloop.cli"``: the CLI's imports;
- ``pairloop --help``: the console script, parsing and help;
- ``pairloop stats``: a light command on an empty SQLite store (created untimed first).

Goal: ``pairloop --help`` in ≤ 1 s (median). Prints median, p90 and the median's excess over
the interpreter; writes ``benchmarks/results/startup.json``.

    .venv/bin/python -m benchmarks startup [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
GOAL_S = 1.0


def _pairloop() -> list[str]:
    """The installed console script, beside this interpreter (``pip install -e .`` puts it there)."""
    script = Path(sys.executable).with_name("pairloop")
    if not script.is_file():
        raise SystemExit(f"{script} is missing: install the project first (make install)")
    return [str(script)]


def cases() -> dict[str, list[str]]:
    """Name → command line, the baseline first."""
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import pairloop.cli": [sys.executable, "-c", "import pairloop.cli"],
        "pairloop --help": [*_pairloop(), "--help"],
        "pairloop stats": [*_pairloop(), "stats"],
    }


def _run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed


def p90(times: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(times)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def measure(repeats: int, data_dir: Path) -> dict[str, list[float]]:
    env = {**os.environ, "PAIRLOOP_DATA_DIR": str(data_dir),
           "PAIRLOOP_DATABASE_URL": f"sqlite:///{data_dir / 'pairloop.db'}", "COLUMNS": "80"}
    _run([*_pairloop(), "init"], env)
    commands = cases()
    for argv in commands.values():  # untimed: bytecode compiled, files in the page cache
        _run(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            times[name].append(_run(argv, env))
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="Timed runs of each command.")
    args = parser.parse_args(argv or [])
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        times = measure(args.repeats, Path(tmp))
    baseline = statistics.median(times["python -c pass"])
    report: dict = {"repeats": args.repeats, "cores": os.cpu_count(), "load_average_before": round(load_before, 2),
                    "load_average_after": round(os.getloadavg()[0], 2), "cases": {}}
    print(f"{args.repeats} runs each, {report['cores']} cores, load average "
          f"{report['load_average_before']} before / {report['load_average_after']} after")
    print(f"{'command':<22} {'median s':>9} {'p90 s':>7} {'min s':>7} {'over python -c pass':>20}")
    for name, samples in times.items():
        median = statistics.median(samples)
        row = {"median_s": round(median, 3), "p90_s": round(p90(samples), 3), "min_s": round(min(samples), 3),
               "over_baseline_s": round(median - baseline, 3)}
        report["cases"][name] = row
        print(f"{name:<22} {row['median_s']:>9.3f} {row['p90_s']:>7.3f} {row['min_s']:>7.3f} "
              f"{row['over_baseline_s']:>+20.3f}")
    help_median = report["cases"]["pairloop --help"]["median_s"]
    report["goal_reached"] = help_median <= GOAL_S
    print(f"goal: pairloop --help ≤ {GOAL_S:g} s (median): {'reached' if report['goal_reached'] else 'NOT reached'}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])

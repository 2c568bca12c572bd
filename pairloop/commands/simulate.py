"""``pairloop simulate``: replay active learning offline and write the learning curves.

Writes ``OUT/curve.json`` (``strategy``, ``seed``, ``points[].round/labels/macro_f1`` for the
first strategy, every strategy under ``strategies``) and ``OUT/curve.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.simulation import ORACLES, STRATEGY_NAMES, SimulationParams
from pairloop.usecases.simulation import simulate as run_simulation
from pairloop.usecases.training import FEATURE_NAMES


def simulate(
    seed_labels: Path = typer.Option(..., "--seed-labels", help="Labelled pairs the first model is trained on."),
    pool: Path = typer.Option(..., "--pool", help="Candidate pairs; the oracle reveals their labels."),
    test: Path = typer.Option(..., "--test", help="Labelled pairs to measure macro-F1 on."),
    strategy: str = typer.Option("margin", help=f"One or more, comma-separated: {STRATEGY_NAMES}."),
    rounds: int = typer.Option(10, min=1, help="Acquisition rounds."),
    batch_size: int = typer.Option(30, "--batch-size", min=1, help="Pairs labelled per round."),
    seed: int = typer.Option(0, help="First random seed; repeats use seed, seed+1, ..."),
    repeats: int = typer.Option(1, min=1, help="Runs per strategy (different seeds): mean and spread."),
    oracle: str = typer.Option("truth", help=f"Who answers: {', '.join(ORACLES)}."),
    id_test: Path | None = typer.Option(None, "--id-test", help="Also record in-distribution macro-F1 on this file."),
    features: str = typer.Option("tfidf", help=f"Item encoder: {FEATURE_NAMES}."),
    max_per_item: int = typer.Option(2, min=0, help="At most this many pairs of one item per round (0: no cap)."),
    per_category: int = typer.Option(0, min=0, help="At most this many pairs per category per round (0: no quota)."),
    keep_acquired: bool = typer.Option(True, help="Every committee member keeps all acquired labels "
                                       "(--no-keep-acquired: KARL's plain downsampling of all labels)."),
    domain_gate: bool = typer.Option(True, help="The committee learns a domain gate (seed pairs: source, "
                                     "pool pairs: target) and fits [x, gate(x)·x] once it has acquired labels."),
    out: Path = typer.Option(..., "--out", help="Folder for curve.json and curve.png."),
    as_json: bool = typer.Option(False, "--json", help="Print curve.json to stdout as well."),
) -> None:
    """Simulate acquisition rounds on labelled files and plot macro-F1 against labels acquired."""
    params = SimulationParams(
        seed_labels=seed_labels, pool=pool, test=test, out=out,
        strategies=[s.strip() for s in strategy.split(",") if s.strip()], rounds=rounds, batch_size=batch_size,
        seed=seed, repeats=repeats, oracle=oracle, id_test=id_test, features=features, max_per_item=max_per_item,
        per_category=per_category, keep_acquired=keep_acquired, domain_gate=domain_gate)
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        curve = run_simulation(ctx, params)
    if as_json:
        emit_json(curve)
        return
    for line in _markdown(curve.summary):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"wrote {curve.json_path} and {Path(curve.png_path).name}")


def _markdown(summary: list[dict[str, Any]]) -> list[str]:
    """The summary as a Markdown table (mean over seeds; ± is the spread of the last round)."""
    first = summary[0]
    header = ["strategy", "macro-F1 at 0", f"at {first['middle_labels']:g}", f"at {first['end_labels']:g}",
              "mean over rounds"]
    with_random, with_id = any("rounds_below_random" in row for row in summary), "id_start" in first
    header += ["rounds below random"] * with_random + ["ID macro-F1 start → end"] * with_id
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary:
        cells = [row["strategy"], f"{row['start']:.3f}", f"{row['middle']:.3f}",
                 f"{row['end']:.3f} ± {row['end_std']:.3f}", f"{row['mean_over_rounds']:.3f}"]
        if with_random:
            cells.append(str(row.get("rounds_below_random", "–")))
        if with_id:
            cells.append(f"{row['id_start']:.3f} → {row['id_end']:.3f} ({row['id_change']:+.3f})")
        lines.append("| " + " | ".join(cells) + " |")
    return lines

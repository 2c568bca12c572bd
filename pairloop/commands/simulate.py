"""``pairloop simulate``: replay active learning offline and write the learning curves.

Writes ``OUT/curve.json`` (``strategy``, ``seed``, ``points[].round/labels/macro_f1`` for the
first strategy, every strategy under ``strategies``) and ``OUT/curve.png``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from pairloop.console import console, emit_json, progress_bar
from pairloop.settings import Settings, get_settings
from store.errors import BadInput

# The engine (scikit-learn, modAL, which pulls in torch) is imported when the command runs,
# so that `pairloop --help` and other commands start fast. Names here are checked against
# the registries when the command runs (and in tests).
STRATEGY_NAMES = "random, least_confidence, margin, entropy, qbc, ranked_batch, dynamic"
FEATURE_NAMES = "tfidf, tfidf-svd, minilm"


def _truth(pool, _settings: Settings):
    from active_learning.oracle import TruthOracle

    return TruthOracle(pool)


def _llm(_pool, settings: Settings):
    """The configured LLM (PAIRLOOP_LLM_*): agreed proposals are labels, disputed ones are not."""
    from annotator.llm.oracle import LlmOracle
    from pairloop.usecases.rounds import labeller_from_settings
    from pairloop.store_access import open_store

    return LlmOracle(open_store(settings), labeller_from_settings(settings))


# Oracle name → how to build it from the pool file (a PairSet) and the settings.
ORACLES: dict[str, Callable[[Any, Settings], Any]] = {
    "truth": _truth,
    "llm": _llm,
}


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
    from active_learning.selection import Constraints
    from active_learning.simulation import (
        SimulationConfig,
        SimulationData,
        Simulator,
        aggregate,
        summarise,
    )
    from active_learning.strategies import STRATEGIES
    from classifier.data import read_pair_file, require_labelled
    from classifier.encoders import ENCODERS

    names = [s.strip() for s in strategy.split(",") if s.strip()]
    unknown = [s for s in names if s not in STRATEGIES]
    if not names or unknown:
        raise BadInput(f"unknown strategy {', '.join(unknown) or strategy!r}; choose from {', '.join(STRATEGIES)}")
    if oracle not in ORACLES:
        raise BadInput(f"unknown oracle {oracle!r}; choose from {', '.join(ORACLES)}")
    if features not in ENCODERS:
        raise BadInput(f"unknown features {features!r}; choose from {', '.join(ENCODERS)}")
    settings = get_settings()
    rule, agreeing = settings.majority_rule, settings.min_agreeing
    data = SimulationData(
        seed=require_labelled(read_pair_file(seed_labels, None, rule, agreeing), "the seed labels"),
        pool=read_pair_file(pool, None, rule, agreeing),
        test=require_labelled(read_pair_file(test, None, rule, agreeing), "the test file"),
        id_test=require_labelled(read_pair_file(id_test, None, rule, agreeing), "the --id-test file")
        if id_test else None,
    )
    config = SimulationConfig(rounds=rounds, batch_size=batch_size, features=features,
                              constraints=Constraints(max_per_item or None, per_category or None),
                              keep_acquired=keep_acquired, domain_gate=domain_gate)
    simulator = Simulator(data, config)
    answerer = ORACLES[oracle](simulator.data.pool, settings)
    seeds = list(range(seed, seed + repeats))
    results: dict[str, dict[str, Any]] = {}
    with progress_bar("simulating", len(names) * len(seeds) * (rounds + 1)) as advance:
        for name in names:
            runs = [simulator.run(name, s, answerer, on_round=advance) for s in seeds]
            results[name] = {"points": aggregate(runs), "runs": runs}
    first = names[0]
    summary = summarise({n: r["points"] for n, r in results.items()})
    curve = {
        "strategy": first,
        "seed": seed,
        "points": results[first]["points"],
        "strategies": results,
        "summary": summary,
        "seeds": seeds,
        "rounds": rounds,
        "batch_size": batch_size,
        "oracle": oracle,
        "features": simulator.featuriser.settings(),
        "constraints": {"max_per_item": config.constraints.max_per_item,
                        "per_category": config.constraints.per_category},
        "keep_acquired": keep_acquired,
        "domain_gate": simulator.domain is not None and keep_acquired,
        "inputs": {
            "seed_labels": {"path": str(seed_labels), "pairs": len(data.seed), "classes": data.seed.classes()},
            "pool": {"path": str(pool), "pairs": len(simulator.data.pool), "excluded_seed_or_test": simulator.excluded,
                     "vocabulary_coverage": round(simulator.pool_coverage, 4)},
            "test": {"path": str(test), "pairs": len(data.test), "classes": data.test.classes()},
            **({"id_test": {"path": str(id_test), "pairs": len(data.id_test)}} if data.id_test else {}),
        },
    }
    json_path, png_path = _write(curve, {n: r["points"] for n, r in results.items()}, out,
                                 f"{pool.name}: {rounds} rounds × {batch_size}, {len(seeds)} seed(s), oracle {oracle}")
    if as_json:
        emit_json(curve)
        return
    for line in _markdown(summary):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"wrote {json_path} and {png_path.name}")


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


def _write(curve: dict[str, Any], curves, out: Path, title: str) -> tuple[Path, Path]:
    """Both files or neither: written under temporary names, renamed at the end."""
    from active_learning.plots import plot_curves

    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "curve.json", out / "curve.png"
    json_part, png_part = out / "curve.json.part", out / "curve.part.png"
    json_part.write_text(json.dumps(curve, indent=2), encoding="utf-8")
    plot_curves(curves, png_part, title)
    json_part.replace(json_path)
    png_part.replace(png_path)
    return json_path, png_path

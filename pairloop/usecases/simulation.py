"""Replay active learning offline on labelled files and write the learning curves
(``pairloop simulate``): ``OUT/curve.json`` (the :class:`Curve`) and ``OUT/curve.png``.

The engine (scikit-learn, modAL, which pulls in torch) is imported when a simulation runs, so
that importing this module (``pairloop --help``) stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pairloop.usecases.context import Context
from pairloop.usecases.training import check_features
from store.errors import BadInput
from store.files import write_together

# The query strategies of active_learning.strategies.STRATEGIES, named here for help texts
# (tests check the two agree).
STRATEGY_NAMES = "random, least_confidence, margin, entropy, qbc, ranked_batch, dynamic"


def _truth(_ctx: Context, pool: Any) -> Any:
    from active_learning.oracle import TruthOracle

    return TruthOracle(pool)


def _llm(ctx: Context, _pool: Any) -> Any:
    """The configured LLM (PAIRLOOP_LLM_*): agreed proposals are labels, disputed ones are not."""
    from annotator.llm.oracle import LlmOracle

    return LlmOracle(ctx.engine, ctx.labeller())


# Oracle name → how to build it from the context and the pool file (a PairSet).
ORACLES: dict[str, Callable[[Context, Any], Any]] = {"truth": _truth, "llm": _llm}


class SimulationParams(BaseModel):
    seed_labels: Path = Field(description="Labelled pairs the first model is trained on.")
    pool: Path = Field(description="Candidate pairs; the oracle reveals their labels.")
    test: Path = Field(description="Labelled pairs to measure macro-F1 on.")
    out: Path = Field(description="Folder for curve.json and curve.png.")
    strategies: list[str] = Field(["margin"], description=f"One or more of: {STRATEGY_NAMES}.")
    rounds: int = Field(10, ge=1, description="Acquisition rounds.")
    batch_size: int = Field(30, ge=1, description="Pairs labelled per round.")
    seed: int = Field(0, description="First random seed; repeats use seed, seed+1, ...")
    repeats: int = Field(1, ge=1, description="Runs per strategy (different seeds).")
    oracle: str = Field("truth", description="Who answers: truth or llm.")
    id_test: Path | None = Field(None, description="Also record in-distribution macro-F1 on this file.")
    features: str = Field("tfidf", description="Item encoder.")
    max_per_item: int = Field(2, ge=0, description="At most this many pairs of one item per round (0: no cap).")
    per_category: int = Field(0, ge=0, description="At most this many pairs per category per round (0: no quota).")
    keep_acquired: bool = Field(True, description="Every committee member keeps all acquired labels.")
    domain_gate: bool = Field(True, description="The committee learns a domain gate (seed: source, pool: target).")


class CurveConstraints(BaseModel):
    max_per_item: int | None
    per_category: int | None


class Curve(BaseModel):
    """The simulation's learning curves: what ``curve.json`` holds (plus where it was written)."""

    strategy: str = Field(description="The first strategy; ``points`` is its curve.")
    seed: int
    points: list[dict[str, Any]] = Field(
        description="The first strategy's curve: round, labels, macro_f1 (mean over seeds, with _std/_min/_max).")
    strategies: dict[str, dict[str, Any]] = Field(
        description="Every strategy: ``points`` (mean curve) and ``runs`` (one per seed, with each round's notes).")
    summary: list[dict[str, Any]] = Field(
        description="One row per strategy: macro-F1 at the start, half way, the end, mean over rounds.")
    seeds: list[int]
    rounds: int
    batch_size: int
    oracle: str
    features: dict[str, Any] = Field(description="The item encoder's settings.")
    constraints: CurveConstraints
    keep_acquired: bool
    domain_gate: bool = Field(description="Whether a domain gate was used.")
    scored_on: str = Field("in-process", description="Where pools larger than the shortlist limit were scored "
                                                     "each round: in-process, or ray:<address> (same result).")
    inputs: dict[str, dict[str, Any]] = Field(description="The files read: path, pairs, classes, coverage.")
    json_path: str = Field(alias="json", description="The written curve.json.")
    png_path: str = Field(alias="png", description="The written curve.png.")

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)  # "json" is a BaseModel method


def simulate(ctx: Context, params: SimulationParams) -> Curve:
    """Simulate acquisition rounds for each strategy and seed; write curve.json and curve.png
    (both or neither). Bad input (unknown names, an empty or foreign pool, a one-class test
    file) is a :class:`BadInput` before anything is written."""
    from active_learning.distributed import IN_PROCESS
    from active_learning.selection import Constraints
    from active_learning.simulation import SimulationConfig, SimulationData, Simulator, aggregate, summarise
    from active_learning.strategies import STRATEGIES, get_strategy
    from classifier.data import read_pair_file, require_labelled
    from pairloop.usecases.round_steps import pool_shortlister

    p = params
    if not p.strategies:
        raise BadInput(f"no strategy given; choose from {', '.join(STRATEGIES)}")
    for name in p.strategies:
        get_strategy(name)  # an unknown name is a BadInput naming the known ones
    if p.oracle not in ORACLES:
        raise BadInput(f"unknown oracle {p.oracle!r}; choose from {', '.join(ORACLES)}")
    check_features(p.features)
    rule, agreeing = ctx.settings.majority_rule, ctx.settings.min_agreeing
    data = SimulationData(
        seed=require_labelled(read_pair_file(p.seed_labels, None, rule, agreeing), "the seed labels"),
        pool=read_pair_file(p.pool, None, rule, agreeing),
        test=require_labelled(read_pair_file(p.test, None, rule, agreeing), "the test file"),
        id_test=require_labelled(read_pair_file(p.id_test, None, rule, agreeing), "the --id-test file")
        if p.id_test else None,
    )
    config = SimulationConfig(rounds=p.rounds, batch_size=p.batch_size, features=p.features,
                              constraints=Constraints(p.max_per_item or None, p.per_category or None),
                              keep_acquired=p.keep_acquired, domain_gate=p.domain_gate)
    simulator = Simulator(data, config, pool_shortlister(ctx))
    answerer = ORACLES[p.oracle](ctx, simulator.data.pool)
    seeds = list(range(p.seed, p.seed + p.repeats))
    results: dict[str, dict[str, Any]] = {}
    with ctx.progress.task("simulating", len(p.strategies) * len(seeds) * (p.rounds + 1)) as advance:
        for name in p.strategies:
            runs = [simulator.run(name, s, answerer, on_round=lambda: advance(1)) for s in seeds]
            results[name] = {"points": aggregate(runs), "runs": runs}
    first = p.strategies[0]
    curves = {name: result["points"] for name, result in results.items()}
    curve = Curve(
        strategy=first,
        seed=p.seed,
        points=results[first]["points"],
        strategies=results,
        summary=summarise(curves),
        seeds=seeds,
        rounds=p.rounds,
        batch_size=p.batch_size,
        oracle=p.oracle,
        features=simulator.featuriser.settings(),
        constraints=CurveConstraints(max_per_item=config.constraints.max_per_item,
                                     per_category=config.constraints.per_category),
        keep_acquired=p.keep_acquired,
        domain_gate=simulator.domain is not None and p.keep_acquired,
        scored_on=simulator.shortlister.where if simulator.shortlisted else IN_PROCESS,
        inputs={
            "seed_labels": {"path": str(p.seed_labels), "pairs": len(data.seed), "classes": data.seed.classes()},
            "pool": {"path": str(p.pool), "pairs": len(simulator.data.pool),
                     "excluded_seed_or_test": simulator.excluded,
                     "vocabulary_coverage": round(simulator.pool_coverage, 4)},
            "test": {"path": str(p.test), "pairs": len(data.test), "classes": data.test.classes()},
            **({"id_test": {"path": str(p.id_test), "pairs": len(data.id_test)}} if data.id_test else {}),
        },
        json=str(p.out / "curve.json"),
        png=str(p.out / "curve.png"),
    )
    _write(curve, curves, f"{p.pool.name}: {p.rounds} rounds × {p.batch_size}, {len(seeds)} seed(s), "
                          f"oracle {p.oracle}")
    return curve


def _write(curve: Curve, curves: dict[str, list[dict[str, Any]]], title: str) -> None:
    """curve.json (the curve without its own paths) and curve.png, both or neither."""
    from active_learning.plots import plot_curves

    document = curve.model_dump(mode="json", exclude={"json_path", "png_path"})
    write_together({
        Path(curve.json_path): lambda path: path.write_text(json.dumps(document, indent=2), encoding="utf-8"),
        Path(curve.png_path): lambda path: plot_curves(curves, path, title),
    })

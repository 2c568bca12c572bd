"""What the two-stage selection costs a diversity strategy: whole pool vs shortlist, one run.

A pool larger than ``MAX_CANDIDATES`` (20,000) is cut to its least certain pairs by committee
margin before a strategy looks at it — in one process and on Ray alike (docs/ray.md), so both
select the same batch. For the strategies that mix in diversity (``ranked_batch``, ``dynamic``)
that is a two-stage selection: uncertainty first, diversity second. This benchmark runs each of
them on the same pool of Instacart pairs twice, on the whole pool and on its shortlist, and
reports the batch overlap, the batch's mean margin (lower: less certain), its mean pairwise
distance in the strategies' diversity space (higher: more diverse) and the time of each.

The committee and pool are :mod:`benchmarks.pool_scoring`'s (rule labels from the categories;
the 6,000 training pairs stand for the labelled set).

    .venv/bin/python -m benchmarks two_stage_selection [--pairs 100000] [--size 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.pool_scoring import DATASETS, RESULTS, _items, prepare

STRATEGIES = ("ranked_batch", "dynamic")


def _diversity(X, chosen: np.ndarray, X_labelled) -> float:
    """Mean pairwise distance of the chosen pairs in the strategies' diversity space."""
    from active_learning.shift import diversity_space

    space, _ = diversity_space(X[chosen], X_labelled)
    gaps = np.linalg.norm(space[:, None, :] - space[None, :, :], axis=2)
    return float(gaps[np.triu_indices(len(chosen), 1)].mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=100, help="Batch size.")
    args = parser.parse_args(argv or [])
    if not (DATASETS / "instacart" / "products.csv").exists():
        print(f"skipped: {DATASETS / 'instacart'} is absent")
        return
    import joblib

    from active_learning.rounds import MAX_CANDIDATES
    from active_learning.scoring import margins, top_by_margin
    from active_learning.selection import Constraints, select_batch
    from active_learning.strategies import get_strategy
    from classifier.data import PairSet

    with tempfile.TemporaryDirectory() as tmp:
        setup = prepare(Path(tmp), args.pairs)
        model = joblib.load(Path(tmp) / "model.joblib")
        saved = np.load(Path(tmp) / "pairs.npz")
        ia, ib, train = saved["ia"], saved["ib"], saved["train"]
    items = _items()
    vectors = model.featuriser.encode(items)
    X = model.featuriser.features(vectors, ia, ib)
    X_labelled = model.featuriser.features(vectors, ia[train], ib[train])
    margin = margins(model.committee.predict_proba(X))
    pool = PairSet(items, ia, ib, list(range(len(ia))))
    report: dict = {**setup, "size": args.size, "max_candidates": MAX_CANDIDATES, "strategies": {}}
    for name in STRATEGIES:
        runs = {}
        for how in ("whole pool", "shortlist"):
            start = time.perf_counter()
            candidates = np.arange(len(ia))
            if how == "shortlist":
                candidates = np.sort(top_by_margin(model, vectors, ia, ib, MAX_CANDIDATES)[0])
            batch, _notes = select_batch(get_strategy(name), model.committee, X[candidates], X_labelled,
                                         pool.subset(candidates), args.size, Constraints(),
                                         np.random.default_rng(0))
            chosen = candidates[batch.index]
            runs[how] = {"seconds": round(time.perf_counter() - start, 2), "chosen": chosen,
                         "mean_margin": round(float(margin[chosen].mean()), 4),
                         "mean_distance": round(_diversity(X, chosen, X_labelled), 4)}
        whole, short = runs["whole pool"], runs["shortlist"]
        report["strategies"][name] = {
            "overlap": len(set(whole.pop("chosen").tolist()) & set(short.pop("chosen").tolist())),
            "whole_pool": whole, "shortlist": short,
            "time_ratio_whole_to_shortlist": round(whole["seconds"] / short["seconds"], 2),
        }
    print(f"{report['pairs']:,} Instacart pairs, batches of {args.size}, shortlist {MAX_CANDIDATES:,} by margin")
    print(f"{'strategy':<14} {'path':<11} {'seconds':>8} {'mean margin':>12} {'mean distance':>14} {'overlap':>8}")
    for name, r in report["strategies"].items():
        for how in ("whole_pool", "shortlist"):
            run = r[how]
            print(f"{name:<14} {how:<11} {run['seconds']:>8} {run['mean_margin']:>12} {run['mean_distance']:>14} "
                  f"{r['overlap']:>5}/{args.size}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.with_name("two_stage_selection.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])

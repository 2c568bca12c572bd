"""Score 1,000,000 candidate pairs of Instacart products and select the 1,000 with the smallest margin.

pairloop's path (``active_learning.scoring.top_by_margin``): items encoded once, then the
pairs scored by the 10-member committee 10,000 at a time (``classifier.scoring``), keeping only the
best 1,000. Baseline, same run, same committee and featuriser: build the full feature matrix
and call modAL's ``margin_sampling`` on it. Each path runs in a fresh process, so that its
peak memory (VmHWM) is its own. Goal: ≥ 200,000 pairs/s on 2 cores, peak < 2 GB.

Rates are printed from wall-clock time and from the process's CPU time: on a machine other
jobs share, the wall-clock figure understates what the code does (the load average is shown).
Item encoding (once per item, not per pair) is timed apart and also folded into one figure.

Pairs: KARL's stratified generation over the 134 aisles (query items × partners of the same
department). The committee is trained on 6,000 pairs labelled by a rule on the categories
(same aisle: substitute, same department: complementary, else unrelated) — a stand-in that
makes the model real; only speed and memory are measured here, not quality.

``--domain-gate``: the committee is trained as ``pairloop train`` does once rounds have bought
labels: the last 1,000 of the 6,000 count as round labels and the candidate pairs are the pool,
so the members learn a domain gate and score ``[x, g(x)·x]`` (twice the logit columns).

    .venv/bin/python -m benchmarks.pool_scoring [--pairs 1000000] [--top 1000] [--domain-gate]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATASETS = Path(os.environ.get("PAIRLOOP_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
RESULTS = Path(__file__).resolve().parent / "results" / "pool_scoring.json"


def _items():
    from store.formats import instacart
    from store.formats.records import CatalogueItem

    rows = instacart.read_items(DATASETS / "instacart")
    return [CatalogueItem(r.external_id, r.title, r.category_path) for r in rows]


def _rule_label(a, b) -> str:
    if a.category_path == b.category_path:
        return "substitute"
    return "complementary" if a.major_category == b.major_category else "unrelated"


def prepare(workdir: Path, n_pairs: int, domain_gate: bool = False) -> dict:
    """Candidate pairs and a trained model on disk, for both measured paths."""
    import joblib

    from active_learning.pools import stratified_pairs
    from classifier.committee import RelationCommittee
    from classifier.data import PairSet
    from classifier.model import RelationModel, make_featuriser

    items = _items()
    position = {item.key: i for i, item in enumerate(items)}
    pairs = stratified_pairs(items, per_category=200, partners=60, seed=0)
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(len(pairs), min(n_pairs, len(pairs)), replace=False))
    ia = np.array([position[pairs[i][0]] for i in chosen], dtype=np.int64)
    ib = np.array([position[pairs[i][1]] for i in chosen], dtype=np.int64)
    train = rng.choice(len(ia), 6000, replace=False)
    labels = np.array([_rule_label(items[ia[i]], items[ib[i]]) for i in train], dtype=object)
    labelled = PairSet(items, ia[train], ib[train], [int(i) for i in train], labels)
    acquired, pool = None, None
    if domain_gate:
        acquired = np.arange(len(train)) >= len(train) - 1000
        pool = PairSet(items, ia, ib, list(range(len(ia))))
    model = RelationModel.train(labelled, make_featuriser("tfidf"), RelationCommittee(n_members=10),
                                acquired, pool)
    if domain_gate and model.committee.domain_ is None:
        raise RuntimeError("the committee learned no domain gate")
    joblib.dump(model, workdir / "model.joblib")
    np.savez(workdir / "pairs.npz", ia=ia, ib=ib, train=train)  # train: the labelled pairs
    return {"pairs": len(ia), "items": len(items), "train_pairs": len(train)}


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: str, workdir: Path, top: int) -> dict:
    """One path, in this (fresh) process: item encoding, then scoring and selection."""
    import joblib

    model = joblib.load(workdir / "model.joblib")
    pairs = np.load(workdir / "pairs.npz")
    ia, ib = pairs["ia"], pairs["ib"]
    items = _items()
    warm_start = time.perf_counter()
    if path == "pairloop":  # numba compiles the scoring kernel on first use (cached on disk after)
        from active_learning.scoring import top_by_margin

        top_by_margin(model, model.featuriser.encode(items[:2]), np.array([0]), np.array([1]), 1)
    warmup = time.perf_counter() - warm_start
    start, cpu_start = time.perf_counter(), time.process_time()
    vectors = model.featuriser.encode(items)
    encoded, cpu_encoded = time.perf_counter(), time.process_time()
    if path == "pairloop":
        selected, _margin = top_by_margin(model, vectors, ia, ib, top)
    else:
        from modAL.uncertainty import margin_sampling

        X = model.featuriser.features(vectors, ia, ib)
        selected, _margin = margin_sampling(model.committee, X, n_instances=top)
    done, cpu_done = time.perf_counter(), time.process_time()
    return {"warmup_s": warmup, "encode_s": encoded - start, "score_s": done - encoded,
            "encode_cpu_s": cpu_encoded - cpu_start, "score_cpu_s": cpu_done - cpu_encoded, "peak_mb": _peak_mb(),
            "selected": sorted(int(i) for i in selected)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--top", type=int, default=1000)
    parser.add_argument("--domain-gate", action="store_true",
                        help="Train with round labels and a pool (a gated committee).")
    parser.add_argument("--measure", choices=["pairloop", "modal"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv or [])
    if args.measure:
        print(json.dumps(measure(args.measure, args.workdir, args.top)))
        return
    if not (DATASETS / "instacart" / "products.csv").exists():
        print(f"skipped: {DATASETS / 'instacart'} is absent")
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        setup = prepare(workdir, args.pairs, args.domain_gate)
        results = {}
        for path in ("pairloop", "modal"):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.pool_scoring", "--measure", path, "--workdir", tmp,
                 "--top", str(args.top)],
                check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
            )
            results[path] = json.loads(out.stdout.strip().splitlines()[-1])
    n = setup["pairs"]
    ours, base = results["pairloop"], results["modal"]
    same = len(set(ours["selected"]) & set(base["selected"]))
    report = {
        **setup,
        "top": args.top,
        "domain_gate": args.domain_gate,
        "cores": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "items_encode_s": round(ours["encode_s"], 2),
        "items_encode_cpu_s": round(ours["encode_cpu_s"], 2),
        "same_selection": same,
        "kernel_compile_or_load_s": round(ours["warmup_s"], 2),
    }
    for name, result in (("pairloop", ours), ("modal_margin_sampling", base)):
        report[name] = {
            "score_s": round(result["score_s"], 2),
            "pairs_per_s": round(n / result["score_s"]),
            "pairs_per_cpu_s": round(n / result["score_cpu_s"]),
            "pairs_per_s_with_encoding": round(n / (result["score_s"] + result["encode_s"])),
            "peak_mb": round(result["peak_mb"]),
        }
    report["speed_ratio"] = round(base["score_s"] / ours["score_s"], 2)
    gated = ", committee with a domain gate" if args.domain_gate else ""
    print(f"{n:,} pairs of {setup['items']:,} Instacart items, top {args.top:,} by margin{gated}, "
          f"{report['cores']} cores, load average {report['load_average']}")
    print(f"items encoded once: {report['items_encode_s']:.1f} s ({report['items_encode_cpu_s']:.1f} s CPU); "
          f"scoring kernel compiled or loaded once: {report['kernel_compile_or_load_s']:.1f} s")
    print(f"{'path':<30} {'pairs/s':>9} {'pairs/CPU-s':>12} {'incl. encoding':>15} {'peak MB':>8}")
    for label, key in (("pairloop (chunked)", "pairloop"), ("modAL margin_sampling (full)", "modal_margin_sampling")):
        r = report[key]
        print(f"{label:<30} {r['pairs_per_s']:>9,} {r['pairs_per_cpu_s']:>12,} "
              f"{r['pairs_per_s_with_encoding']:>15,} {r['peak_mb']:>8,}")
    print(f"speed ratio pairloop/modAL (wall): {report['speed_ratio']:.2f}; "
          f"same top-{args.top:,}: {same:,}/{args.top:,}")
    RESULTS.parent.mkdir(exist_ok=True)
    results = RESULTS.with_name("pool_scoring_domain_gate.json") if args.domain_gate else RESULTS
    results.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])

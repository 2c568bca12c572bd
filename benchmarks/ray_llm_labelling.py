"""LLM proposals for the same FBL2023 pairs: one process vs an actor pool on Ray (2 actors, 2 nodes × 1 CPU).

The embedded SmolLM2-135M-Instruct, the same prompt and votes (``--votes``, default 1), the
same batches of ``--batch-pairs`` pairs, one run:

- one process: :func:`annotator.llm.factory.make_labeller` (torch on every core, or
  ``--threads``), batch after batch;
- Ray: :class:`annotator.llm.distributed.RayLabeller` on a local two-node cluster
  (``ray.cluster_utils.Cluster``, two nodes × 1 CPU): ``--actors`` actors, each loading the
  model once and labelling with one torch thread per CPU it holds.

Pairs/s are from wall-clock time. The one-process figure counts labelling only (its model load
is timed apart); the Ray time is end to end (actors started, model loaded in each, batches
labelled and sent back), and a one-pair job before it measures that fixed cost per job. The
steady-state rate adds up the time the actors spent labelling (each proposal's latency) and
assumes the actors busy side by side: what a long job tends to. Both
paths' proposals are compared as stored (relation, status and fine code per pair, and the
largest difference of any vote's probability: the store keeps them to 6 decimals).

    .venv/bin/python -m benchmarks.ray_llm_labelling [--pairs 96] [--votes 1] [--batch-pairs 16] [--actors 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from annotator.llm.base import PairText, Proposal
from benchmarks.llm_throughput import DATASETS, MODEL_CACHE, fbl_pairs

RESULTS = Path(__file__).resolve().parent / "results" / "ray_llm_labelling.json"


def as_stored(proposal: Proposal) -> Proposal:
    """The proposal as the store (and a Ray actor's reply) keeps it."""
    from annotator.llm.cache import proposal_row, row_proposal

    return row_proposal(json.loads(json.dumps(proposal_row(proposal))))


def compare(one: Sequence[Proposal], other: Sequence[Proposal]) -> dict:
    """Same answer per pair (relation, status, fine code), and the largest vote-probability gap."""
    theirs = {p.key: p for p in other}
    same, gap, missing = 0, 0.0, 0
    for p in one:
        q = theirs.get(p.key)
        if q is None:
            missing += 1
            continue
        same += (p.relation, p.status, p.fine_code) == (q.relation, q.status, q.fine_code)
        for a, b in zip(p.votes, q.votes, strict=True):
            gap = max([gap, *(abs(a.probs[c] - b.probs.get(c, 0.0)) for c in a.probs or {})])
    return {"same_proposals": same, "pairs": len(one), "missing": missing, "max_probability_difference": gap}


def one_process(spec: dict, batches: list[list[PairText]]) -> tuple[list[Proposal], dict]:
    """Every batch through one labeller in this process; model load and labelling timed apart."""
    import torch

    from annotator.llm.factory import make_labeller

    start = time.perf_counter()
    labeller = make_labeller(**spec)
    labeller.propose(batches[0][:1])  # warm-up: the shared prompt prefixes, once per process
    load_s = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    proposals = [as_stored(p) for batch in batches for p in labeller.propose(batch)]
    return proposals, {"load_s": load_s, "label_s": time.perf_counter() - start,
                       "cpu_s": time.process_time() - cpu, "torch_threads": torch.get_num_threads()}


def on_ray(spec: dict, batches: list[list[PairText]], actors: int) -> tuple[list[Proposal], dict]:
    """The same batches through the actor pool: a one-pair job (fixed cost), then the whole job."""
    from annotator.llm.distributed import RayLabeller

    labeller = RayLabeller(spec, actors)
    start = time.perf_counter()
    with warnings.catch_warnings():  # Ray Data notes that one block cannot keep two actors busy: that is the point
        warnings.simplefilter("ignore", UserWarning)
        list(labeller.propose_batches([batches[0][:1]]))
    fixed_s = time.perf_counter() - start
    started, start = time.time(), time.perf_counter()  # workers seen from now on are the job's
    proposals = [p for batch in labeller.propose_batches(batches) for p in batch]
    return proposals, {"job_s": time.perf_counter() - start, "fixed_s": fixed_s, "job_started": started}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=96, help="FBL2023 pairs to label (the first N).")
    parser.add_argument("--votes", type=int, default=1)
    parser.add_argument("--batch-pairs", type=int, default=16, help="Pairs per batch (per Ray block).")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the one-process path (default: torch's own choice, one per core).")
    parser.add_argument("--object-store-mb", type=int, default=512, help="Ray object store per node.")
    args = parser.parse_args(argv or [])
    if not (DATASETS / "fbl" / "FBL2023.tsv").is_file():
        print(f"skipped: {DATASETS / 'fbl' / 'FBL2023.tsv'} is absent")
        return
    import ray

    from benchmarks.ray_pool_scoring import WorkerWatch, quiet_ray_data, raylet_pids, start_cluster

    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    pairs = fbl_pairs(args.pairs)
    batches = [pairs[i : i + args.batch_pairs] for i in range(0, len(pairs), args.batch_pairs)]
    spec = {"backend": "local", "votes": args.votes, "batch_size": args.batch_pairs, "cache_dir": MODEL_CACHE}
    report: dict = {"pairs": len(pairs), "votes": args.votes, "batch_pairs": args.batch_pairs,
                    "actors": args.actors, "cores": os.cpu_count(), "load_average_start": round(os.getloadavg()[0], 2)}
    print(f"{len(pairs)} FBL2023 pairs in batches of {args.batch_pairs}, {args.votes} vote(s), "
          f"{os.cpu_count()} cores, load average {report['load_average_start']}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    local, timing = one_process(spec, batches)
    cluster = start_cluster(args.object_store_mb)
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        quiet_ray_data()
        with WorkerWatch(raylet_pids(cluster)) as watch:
            remote, ray_timing = on_ray(spec, batches, args.actors)
    finally:
        ray.shutdown()
        cluster.shutdown()
    n = len(pairs)
    report["one_process"] = {"pairs_per_s": round(n / timing["label_s"], 3), "label_s": round(timing["label_s"], 1),
                             "model_load_s": round(timing["load_s"], 1), "torch_threads": timing["torch_threads"],
                             "pairs_per_cpu_s": round(n / timing["cpu_s"], 3)}
    actor_s = sum(p.latency_s for p in remote)  # time the actors spent labelling, model loads left out
    report["ray"] = {"pairs_per_s": round(n / ray_timing["job_s"], 3), "job_s": round(ray_timing["job_s"], 1),
                     "pairs_per_actor_s": round(n / actor_s, 3),
                     "steady_pairs_per_s": round(args.actors * n / actor_s, 3),
                     "fixed_cost_per_job_s": round(ray_timing["fixed_s"], 1),
                     "workers": watch.summary(ray_timing["job_started"])}
    report["ratio_ray_to_one_process"] = round(timing["label_s"] / ray_timing["job_s"], 3)
    report["ratio_steady"] = round(report["ray"]["steady_pairs_per_s"] / report["one_process"]["pairs_per_s"], 3)
    report["ratio_with_model_load"] = round((timing["label_s"] + timing["load_s"]) / ray_timing["job_s"], 3)
    report["proposals"] = compare(local, remote)
    report["load_average_end"] = round(os.getloadavg()[0], 2)
    one, far, same = report["one_process"], report["ray"], report["proposals"]
    print(f"one process ({one['torch_threads']} torch threads): {one['pairs_per_s']:.2f} pairs/s "
          f"({one['label_s']} s; model loaded once in {one['model_load_s']} s)")
    print(f"Ray, {args.actors} actors on 2 nodes x 1 CPU: {far['pairs_per_s']:.2f} pairs/s "
          f"({far['job_s']} s end to end; a one-pair job takes {far['fixed_cost_per_job_s']} s); "
          f"peak memory per worker {far['workers'].get('peak_mb')} MB")
    print(f"ratio Ray / one process (wall): {report['ratio_ray_to_one_process']:.2f} labelling only, "
          f"{report['ratio_with_model_load']:.2f} with the one process's model load, "
          f"{report['ratio_steady']:.2f} steady state ({far['pairs_per_actor_s']:.2f} pairs/s per actor "
          f"while labelling, x {args.actors} actors)")
    print(f"same proposals (relation, status, fine code): {same['same_proposals']}/{same['pairs']}, "
          f"max vote-probability difference {same['max_probability_difference']:.2g}")
    print(f"load average {report['load_average_start']} at the start, {report['load_average_end']} at the end")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])

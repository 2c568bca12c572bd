"""Score a 10M-pair pool of Instacart products (Parquet shards), top 1,000 by margin: one process vs Ray.

The pool: every pair within each Instacart aisle (``LazyPool`` scope "category", the first
``--pairs``), written once as Parquet shards (``write_shards``). The committee is the one
``benchmarks.pool_scoring`` trains (10 members on 6,000 pairs labelled by a category rule:
only speed and memory are measured here, not quality). Then, in one run, on the same shards:

- one process: ``score_pool_source`` (the in-process shard scan, numba on every core);
- Ray: ``top_by_margin_on_ray`` on a local two-node cluster (``ray.cluster_utils.Cluster``,
  two nodes × 1 CPU, ``--object-store-mb`` each), the committee and item vectors put in
  the object store once, one actor per CPU.

Each path's driver runs in a fresh process, so its peak memory (VmHWM) is its own; the Ray
workers' peaks are read from ``/proc/<pid>/status`` of every ``ray::`` process while they
run. Both paths encode the items once first (timed apart); the Ray time is end to end
(actors started, model shipped, blocks read, scored and merged), and a one-block call before
it measures Ray's fixed cost per job. Goals: Ray ≥ 0.8× one process (same 2 cores), the same
top-1,000, peak ≤ 2 GB per worker (set by ``--block-pairs``, not by the pool size).

``--lazy-pairs N`` adds a run through Ray on a lazily generated pool (every pair among all
items, the first N; blocks computed in the workers, nothing written): wall time, pairs/s,
peak memory per worker. ``--pairs 0`` skips the shard comparison.

    .venv/bin/python -m benchmarks.ray_pool_scoring [--pairs 10000000] [--top 1000] \\
        [--block-pairs 1000000] [--lazy-pairs 100000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.pool_scoring import DATASETS, _items, _peak_mb, prepare

if TYPE_CHECKING:
    from ray.cluster_utils import Cluster

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "ray_pool_scoring.json"
TRAIN_POOL = 100_000  # pairs pool_scoring.prepare draws its 6,000 training pairs from
OVERHEAD_PAIRS = 1_000  # the one-block call that measures Ray's fixed cost per job
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Worker:
    """What was seen of one worker process: its title, peak memory (MB) and CPU time (s)."""

    name: str = ""
    first_seen: float = 0.0  # time.time()
    peak_mb: float = 0.0
    anon_mb: float = 0.0
    cpu_s: float = 0.0


class WorkerWatch:
    """Peak memory and CPU time of the workers of one cluster, sampled from /proc while a job
    runs: the processes whose parent is one of its raylets (other Ray clusters are left out)."""

    def __init__(self, raylets: set[int], interval_s: float = 0.2):
        self.raylets = raylets
        self.interval_s = interval_s
        self.workers: dict[int, Worker] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines())
                if int(fields["PPid"]) not in self.raylets:
                    continue
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace").split()
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, ValueError, KeyError):
                continue  # the process ended while being read
            worker = self.workers.setdefault(int(entry.name), Worker(first_seen=time.time()))
            name = title[0] if title else fields.get("Name", "?").strip()  # no cmdline while starting
            worker.name = max(worker.name, name, key=len)  # the full title, not one caught while Ray sets it
            worker.peak_mb = max(worker.peak_mb, int(fields.get("VmHWM", "0").split()[0]) / 1024)
            worker.anon_mb = max(worker.anon_mb, int(fields.get("RssAnon", "0").split()[0]) / 1024)
            worker.cpu_s = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS  # utime + stime

    def summary(self, since: float = 0.0) -> dict:
        """Peaks over every worker; CPU time of all, and of those started at ``since`` (time.time()) or later."""
        if not self.workers:
            return {"workers_seen": 0}
        top = max(self.workers.values(), key=lambda w: w.peak_mb)
        return {"workers_seen": len(self.workers), "peak_mb": round(top.peak_mb), "peak_process": top.name,
                "peak_anon_mb": round(max(w.anon_mb for w in self.workers.values())),
                "cpu_s": round(sum(w.cpu_s for w in self.workers.values()), 1),
                "job_cpu_s": round(sum(w.cpu_s for w in self.workers.values() if w.first_seen >= since), 1)}


def build_pool(workdir: Path, n_pairs: int, block_pairs: int) -> dict:
    """The model (pool_scoring's committee) and the pool's shards, on disk for both paths."""
    from active_learning.shards import LazyPool, write_shards

    setup = prepare(workdir, TRAIN_POOL)
    items = _items()
    lazy = LazyPool(items, "category", n_pairs)
    start = time.perf_counter()
    blocks = (lazy.block(i, block_pairs) for i in range(lazy.n_blocks(block_pairs)))
    shards = write_shards(workdir / "pool", items, blocks,
                          description=f"benchmarks.ray_pool_scoring: Instacart pairs within aisles, first {n_pairs:,}")
    size = sum(p.stat().st_size for p in shards.shard_paths)
    return {"pairs": shards.pairs, "items": setup["items"], "train_pairs": setup["train_pairs"],
            "shards": len(shards.shard_paths), "shards_mb": round(size / 2**20),
            "build_s": round(time.perf_counter() - start, 1)}


def measure(path: str, workdir: Path, top: int, block_pairs: int, address: str | None, lazy_pairs: int) -> dict:
    """One path, in this (fresh) process: item encoding, then scoring and selection."""
    import joblib

    from active_learning.shards import LazyPool, open_shards

    model = joblib.load(workdir / "model.joblib")
    items = _items()
    source = LazyPool(items, "all", lazy_pairs) if path == "lazy" else open_shards(workdir / "pool")
    start, cpu_start = time.perf_counter(), time.process_time()
    vectors = model.featuriser.encode(items)
    encode_s, encode_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    report: dict = {"encode_s": encode_s, "encode_cpu_s": encode_cpu_s}
    if path == "one-process":
        from active_learning.scoring import top_by_margin
        from active_learning.shards import score_pool_source

        warm = time.perf_counter()  # numba compiles the kernel on first use (cached on disk after)
        top_by_margin(model, vectors, np.array([0]), np.array([1]), 1)
        report["warmup_s"] = time.perf_counter() - warm
        start, cpu_start = time.perf_counter(), time.process_time()
        best = score_pool_source(model, vectors, source, top, block_pairs, None)
    else:
        import ray

        from active_learning.distributed import top_by_margin_on_ray

        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        quiet_ray_data()
        tiny = (np.zeros(OVERHEAD_PAIRS, dtype=np.int64), np.ones(OVERHEAD_PAIRS, dtype=np.int64))
        start = time.perf_counter()
        top_by_margin_on_ray(model, vectors, tiny, 1, OVERHEAD_PAIRS)
        report["job_overhead_s"] = time.perf_counter() - start
        report["job_started"] = time.time()  # workers seen from now on are the job's
        start, cpu_start = time.perf_counter(), time.process_time()
        best = top_by_margin_on_ray(model, vectors, source, top, block_pairs)
    report.update(score_s=time.perf_counter() - start, score_cpu_s=time.process_time() - cpu_start,
                  peak_mb=_peak_mb(), pairs=source.pairs, position=best.position.tolist(),
                  margin=best.margin.tolist())
    return report


def run_path(path: str, workdir: Path, args: argparse.Namespace,
             cluster: Cluster | None = None) -> tuple[dict, dict]:
    """``measure`` in a fresh process, ``cluster``'s workers watched meanwhile."""
    command = [sys.executable, "-m", "benchmarks.ray_pool_scoring", "--measure", path, "--workdir", str(workdir),
               "--top", str(args.top), "--block-pairs", str(args.block_pairs), "--lazy-pairs", str(args.lazy_pairs)]
    if cluster is not None:
        command += ["--address", cluster.address]
    with WorkerWatch(raylet_pids(cluster) if cluster else set()) as watch:
        out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO, timeout=args.timeout_s)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result, watch.summary(result.get("job_started", 0.0))


def quiet_ray_data() -> None:
    """No progress bars or execution plans from Ray Data between the benchmark's lines."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False


def raylet_pids(cluster: Cluster) -> set[int]:
    """The cluster's raylets: its worker processes are their children."""
    return {p.process.pid for node in cluster.list_all_nodes() for p in node.all_processes["raylet"]}


def start_cluster(object_store_mb: int) -> Cluster:
    """Two Ray nodes on this machine, one CPU each (as the tests' cluster)."""
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": object_store_mb * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    return cluster


def _rates(result: dict, pairs: int) -> dict:
    return {"score_s": round(result["score_s"], 2), "pairs_per_s": round(pairs / result["score_s"]),
            "driver_cpu_s": round(result["score_cpu_s"], 2), "driver_peak_mb": round(result["peak_mb"])}


def _ray_rates(result: dict, workers: dict, pairs: int) -> dict:
    return {**_rates(result, pairs), "job_overhead_s": round(result["job_overhead_s"], 2),
            "pairs_per_worker_cpu_s": round(pairs / max(workers.get("job_cpu_s", 0), 1e-9)), "workers": workers}


def compare(one: dict, ray_result: dict, top: int) -> dict:
    """How far Ray's top-k is the one process's: same positions (in order, as a set), margin gap."""
    a, b = one["position"], ray_result["position"]
    gap = float(np.max(np.abs(np.array(one["margin"]) - np.array(ray_result["margin"])))) if len(a) == len(b) else None
    return {"same_top_in_order": sum(x == y for x, y in zip(a, b, strict=False)),
            "same_top_as_set": len(set(a) & set(b)), "top": top, "max_margin_difference": gap}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000_000, help="Pool size in pairs (0: skip the comparison).")
    parser.add_argument("--top", type=int, default=1000)
    parser.add_argument("--block-pairs", type=int, default=1_000_000, help="Pairs per block (and per Ray task).")
    parser.add_argument("--lazy-pairs", type=int, default=0, help="Also score a lazy pool of this many pairs on Ray.")
    parser.add_argument("--object-store-mb", type=int, default=1024, help="Ray object store per node.")
    parser.add_argument("--timeout-s", type=float, default=3600, help="Give up on a path after this long.")
    parser.add_argument("--measure", choices=["one-process", "ray", "lazy"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args(argv or [])
    if args.measure:
        print(json.dumps(measure(args.measure, args.workdir, args.top, args.block_pairs, args.address,
                                 args.lazy_pairs)))
        return
    if not (DATASETS / "instacart" / "products.csv").exists():
        print(f"skipped: {DATASETS / 'instacart'} is absent")
        return
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    report: dict = {"cores": os.cpu_count(), "load_average_start": round(os.getloadavg()[0], 2),
                    "block_pairs": args.block_pairs, "top": args.top, "object_store_mb_per_node": args.object_store_mb}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        setup = build_pool(workdir, args.pairs, args.block_pairs) if args.pairs else prepare(workdir, TRAIN_POOL)
        report["setup"] = setup
        print(f"{setup['items']:,} Instacart items; committee trained on {setup['train_pairs']:,} pairs; "
              f"{os.cpu_count()} cores, load average {report['load_average_start']}")
        if args.pairs:
            print(f"pool: {setup['pairs']:,} pairs in {setup['shards']} shards ({setup['shards_mb']} MB), "
                  f"written in {setup['build_s']} s")
            one, _ = run_path("one-process", workdir, args)
        cluster = start_cluster(args.object_store_mb)
        try:
            if args.pairs:
                on_ray, workers = run_path("ray", workdir, args, cluster)
                report["one_process"] = {**_rates(one, setup["pairs"]), "warmup_s": round(one["warmup_s"], 2),
                                         "pairs_per_cpu_s": round(setup["pairs"] / one["score_cpu_s"]),
                                         "encode_s": round(one["encode_s"], 2)}
                report["ray"] = _ray_rates(on_ray, workers, setup["pairs"])
                report["ratio_ray_to_one_process"] = round(one["score_s"] / on_ray["score_s"], 3)
                report["ratio_without_fixed_cost"] = round(
                    one["score_s"] / max(on_ray["score_s"] - on_ray["job_overhead_s"], 1e-9), 3)
                report["selection"] = compare(one, on_ray, args.top)
            if args.lazy_pairs:
                lazy, workers = run_path("lazy", workdir, args, cluster)
                report["lazy"] = {**_ray_rates(lazy, workers, lazy["pairs"]), "pairs": lazy["pairs"]}
        finally:
            cluster.shutdown()
    report["load_average_end"] = round(os.getloadavg()[0], 2)
    print_report(report)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def print_report(report: dict) -> None:
    rows = [(label, report[key]) for label, key in (("one process", "one_process"), ("Ray, 2 nodes x 1 CPU", "ray"),
                                                    ("Ray, lazy pool", "lazy")) if key in report]
    print(f"{'path':<22} {'pairs':>12} {'seconds':>8} {'pairs/s':>9} {'pairs/CPU-s':>12} {'driver MB':>10} "
          f"{'worker MB':>10}")
    for label, r in rows:
        pairs = r.get("pairs", report["setup"].get("pairs", 0))
        worker = r.get("workers", {}).get("peak_mb", "-")
        per_cpu = r.get("pairs_per_cpu_s", r.get("pairs_per_worker_cpu_s"))
        print(f"{label:<22} {pairs:>12,} {r['score_s']:>8.1f} {r['pairs_per_s']:>9,} {per_cpu:>12,} "
              f"{r['driver_peak_mb']:>10,} {worker:>10}")
    if "ray" in report:
        s = report["selection"]
        print(f"ratio Ray / one process (wall): {report['ratio_ray_to_one_process']:.2f} (goal ≥ 0.8); "
              f"Ray's fixed cost per job {report['ray']['job_overhead_s']:.1f} s, without it "
              f"{report['ratio_without_fixed_cost']:.2f}; "
              f"same top-{s['top']:,}: {s['same_top_in_order']:,} in order, {s['same_top_as_set']:,} as a set, "
              f"max margin difference {s['max_margin_difference']}")
    print(f"load average {report['load_average_start']} at the start, {report['load_average_end']} at the end, "
          f"on {report['cores']} cores (pairs/CPU-s: the one process's CPU time; on Ray, the CPU time of the "
          f"workers the job started, their start-up included)")


if __name__ == "__main__":
    main(sys.argv[1:])

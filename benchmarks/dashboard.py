"""Dashboard: the time of every page and chart-data request on a PostgreSQL store of 100 rounds,
50,000 pairs and 1,000,000 labels, next to ``GET /health`` in the same run. Goal: p99 ≤ 300 ms.

The store is written with COPY: a catalogue, the pairs, 1,000 seed-labelled pairs outside
the rounds, and the rounds (the last ``--open-rounds`` still verifying, their pairs partly
answered), each pair with three annotators' answer histories, an LLM proposal and label,
adjudications; closed rounds record figures as a close does. Four real classifiers are
trained on the seed labels (the newest closed rounds name them, so the stopping hint loads and
runs them) and two real graph snapshots are taken. A ``pairloop serve`` process answers;
each request is timed from send to last byte, one at a time after a login: the first request
of each (cold: the stopping hint trains nothing but loads four models) apart, then
``--repeats`` more give p50 / p99.

    .venv/bin/python -m benchmarks.dashboard [--rounds 100] [--pairs 50000] [--labels 1000000]
                                             [--open-rounds 2] [--repeats 50] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

import migrations
from benchmarks._postgres import create_database, drop_database
from benchmarks._serve import free_port, start_serve

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TOKEN = "bench-token"
SEED_PAIRS = 1000
ANNOTATORS = 30
PER_PAIR = 3  # annotators who answer each round pair (its overlap)
RELATIONS = ("complementary", "substitute", "unrelated")
MODELS = (("bench-llm-7b", "fbl9-v2"), ("bench-llm-7b", "fbl9-v1"), ("smollm2-135m", "fbl9-v2"))
NOUNS = ("tent", "sleeping bag", "stove", "lantern", "backpack", "kettle", "mug", "frying pan", "spatula", "knife",
         "toothbrush", "toothpaste", "phone", "phone case", "charger", "cable", "printer", "ink cartridge", "mouse",
         "keyboard", "monitor", "desk lamp", "coffee maker", "coffee beans", "grinder", "filter", "blender", "bowl",
         "plate", "glass", "bottle", "yoga mat", "dumbbell", "water bottle", "running shoe", "sock", "jacket",
         "umbrella", "notebook", "pen")
BRANDS = ("Northpeak", "Orbis", "Vanta", "Keel", "Lumo", "Sable", "Tundra", "Quill", "Brisk", "Halden")
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
# What is timed: each dashboard page and data request (query strings fill in the store's rounds).
ENDPOINTS = (
    ("rounds page", "/"),
    ("an open round's row (fragment)", "/dashboard/fragments/rounds/{open}"),
    ("learning curve page", "/dashboard/curve"),
    ("learning curve data (JSON)", "/dashboard/data/curve"),
    ("stopping hint (fragment)", "/dashboard/fragments/stopping"),
    ("annotators, newest round (open)", "/dashboard/annotators"),
    ("annotators, a closed round", "/dashboard/annotators?round={closed}"),
    ("LLM page", "/dashboard/llm"),
    ("LLM disagreements, newest round", "/dashboard/llm/disagreements"),
    ("LLM disagreements, a closed round", "/dashboard/llm/disagreements?round={closed}"),
    ("queue page", "/dashboard/queue"),
    ("snapshots page", "/dashboard/snapshots"),
    ("snapshot page (files verified)", "/dashboard/snapshots/v0002"),
    ("snapshot diff", "/dashboard/snapshots/diff?old=v0001&new=v0002"),
    ("GET /health (baseline)", "/health"),
)


def _copy(conn, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """COPY ``rows`` into ``table`` (text format; None is NULL); how many."""
    n = 0
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _json(value: object) -> str:
    return json.dumps(value)


class Store:
    """The synthetic store's shape, drawn once from a seed."""

    def __init__(self, rounds: int, pairs: int, labels: int, open_rounds: int, seed: int = 0):
        if pairs <= SEED_PAIRS + rounds or open_rounds >= rounds:
            raise SystemExit("need more pairs than seed pairs plus rounds, and fewer open rounds than rounds")
        self.rng = random.Random(seed)
        self.rounds, self.pairs, self.labels, self.open_rounds = rounds, pairs, labels, open_rounds
        self.items = max(2000, int(pairs / 2.5))
        self.per_round = (pairs - SEED_PAIRS) // rounds
        self.round_pairs = self.per_round * rounds

    def closed(self, round_id: int) -> bool:
        return round_id <= self.rounds - self.open_rounds

    def item_rows(self) -> Iterator[tuple]:
        for i in range(self.items):
            noun = NOUNS[i % len(NOUNS)]
            yield ("bench", f"i{i}", f"{BRANDS[i // len(NOUNS) % len(BRANDS)]} {noun} {i}",
                   f"Home > Department {i % 7} > {noun}", START)

    def pair_rows(self) -> Iterator[tuple]:
        seen: set[tuple[int, int]] = set()
        while len(seen) < self.pairs:
            a, b = sorted(self.rng.sample(range(1, self.items + 1), 2))
            if (a, b) not in seen:
                seen.add((a, b))
                yield a, b, START


def _seed_labels(store: Store, first: int, count: int) -> Iterator[tuple]:
    """Three agreeing imported answers on seed pairs ``first`` .. ``first + count - 1`` (after the round pairs)."""
    for pair_id in range(store.round_pairs + first + 1, store.round_pairs + first + count + 1):
        relation = RELATIONS[pair_id % 3]
        for k in range(3):
            yield (pair_id, "label", relation, "import", f"seed-{k}", False, False, False, None, START)


def _closed_metrics(store: Store, round_id: int, version: str, n_labels: int, rng: random.Random) -> dict:
    f1 = 0.52 + 0.33 * (1 - math.exp(-round_id / 30)) + rng.uniform(-0.015, 0.015)
    people = rng.sample(range(1, ANNOTATORS + 1), 6)
    return {
        "pairs": store.per_round, "verified": store.per_round - 3, "auto_accepted": store.per_round // 20,
        "pending": 0, "partly_answered": 0, "without_majority": 12, "disputed": 0, "in_adjudication": 0,
        "adjudicated": store.per_round * 3 // 100, "unsure": 4, "inter_annotator_alpha": round(rng.uniform(.55, .8), 3),
        "llm_vs_human": {"pairs": store.per_round - 30, "accuracy": round(rng.uniform(.6, .8), 3),
                         "kappa": round(rng.uniform(.4, .65), 3)},
        "annotators": [{"actor": f"label-studio:{p}", "name": f"annotator{p}@bench.example",
                        "answers": store.per_round // 2, "accuracy": round(rng.uniform(.7, .95), 3),
                        "adjudicated": 4, "accuracy_adjudicated": 0.5} for p in people],
        "classifier": {"version": version, "n_labels": n_labels, "test_macro_f1": round(f1, 4),
                       "test_accuracy": round(f1 + 0.05, 4), "test_report": None},
        "forced": False,
    }


def _round_rows(store: Store, versions: list[str]) -> Iterator[tuple]:
    """Rounds: closed ones name classifier versions (the newest four closed rounds the real ones)."""
    rng = random.Random(1)
    closed = store.rounds - store.open_rounds
    for r in range(1, store.rounds + 1):
        created = START + timedelta(hours=r)
        version = versions[r - 1] if r <= closed else None
        selected_by = versions[r - 2] if 1 < r <= closed + 1 else None
        strategy = ("margin", "entropy", "committee")[r % 3]
        if store.closed(r):
            metrics = _closed_metrics(store, r, version, SEED_PAIRS + r * store.per_round, rng)
            yield (r, "closed", strategy, _json({"overlap": PER_PAIR, "adjudication_project": 2 * r}), r,
                   selected_by, 2 * r - 1, created + timedelta(minutes=40), _json(metrics), created,
                   created + timedelta(minutes=50), created + timedelta(minutes=50), version)
        else:
            metrics = {"pool": store.pairs, "candidates": store.per_round * 4, "selected": store.per_round}
            yield (r, "verifying", strategy, _json({"overlap": PER_PAIR}), r, selected_by, 2 * r - 1, None,
                   _json(metrics), created, created, None, None)


def _round_pair_rows(store: Store) -> Iterator[tuple]:
    for r in range(1, store.rounds + 1):
        for rank in range(store.per_round):
            pair_id = (r - 1) * store.per_round + rank + 1
            status = "auto_accepted" if rank % 20 == 7 else "adjudicating" if rank % 33 == 5 else "pushed"
            # (an open round's adjudicating pairs wait for a ruling: none is written for them)
            yield r, pair_id, rank, round(1 - rank / store.per_round, 4), status, pair_id


def _answering(store: Store, pair_id: int) -> int:
    """Annotators who answered a round pair: all three in a closed round (none where the trust
    gate accepted the LLM's label); in an open round none, one or all (pending, partly answered, in)."""
    round_id, rank = (pair_id - 1) // store.per_round + 1, (pair_id - 1) % store.per_round
    if rank % 20 == 7:
        return 0
    return PER_PAIR if store.closed(round_id) else (0, 1, 1, PER_PAIR)[rank % 4]


def _adjudicated(store: Store, pair_id: int) -> bool:
    rank = (pair_id - 1) % store.per_round
    return rank % 33 == 5 and rank % 20 != 7 and store.closed((pair_id - 1) // store.per_round + 1)


EVENTS = 6  # answers per annotator and pair: changes of mind, "unsure" on the way; the last one counts


def _round_labels(store: Store) -> Iterator[tuple]:
    """Each round pair's label history: an LLM label, its annotators' answers and their changes
    (the latest one counts), an adjudication where the pair went to one. Earlier answers are
    spread over the closed rounds' pairs to make the requested total."""
    rng = random.Random(2)
    model, prompt = MODELS[0]
    ids = range(1, store.round_pairs + 1)
    planned = 3 * SEED_PAIRS + store.round_pairs + sum(
        _answering(store, p) * EVENTS + _adjudicated(store, p) for p in ids)
    padded = [p for p in ids if store.closed((p - 1) // store.per_round + 1) and _answering(store, p)]
    extra = store.labels - planned
    if extra < 0:
        raise SystemExit(f"--labels must be at least {planned:,} for this many rounds and pairs")
    more = {p: extra // len(padded) + (i < extra % len(padded)) for i, p in enumerate(padded)}
    for pair_id in ids:
        round_id, rank = (pair_id - 1) // store.per_round + 1, (pair_id - 1) % store.per_round
        when = START + timedelta(hours=round_id, seconds=rank)
        truth = RELATIONS[pair_id % 3]
        yield (pair_id, "label", truth if rng.random() < .75 else rng.choice(RELATIONS), "llm", f"llm:{model}",
               rank % 20 == 7, False, False, prompt, when)
        people = rng.sample(range(1, ANNOTATORS + 1), PER_PAIR)[:_answering(store, pair_id)]
        for n, person in enumerate(people):
            events = EVENTS + (more.get(pair_id, 0) if n == 0 else 0)
            for k in range(events):
                final = k == events - 1
                relation = truth if final and rng.random() < .85 else rng.choice(RELATIONS)
                unsure = not final and rng.random() < .1
                yield (pair_id, "unsure" if unsure else "label", None if unsure else relation, "human",
                       f"label-studio:{person}", False, False, False, None, when + timedelta(minutes=k + 1))
        if _adjudicated(store, pair_id):
            yield (pair_id, "label", truth, "human", "label-studio:99", False, True, False, None,
                   when + timedelta(minutes=30))


LABEL_COLUMNS = ("pair_id", "verdict", "relation", "source", "actor", "auto_accepted", "adjudication",
                 "presented_reversed", "prompt_version", "created_at")


def _with_round(store: Store, rows: Iterator[tuple]) -> Iterator[tuple]:
    """Label rows with their round id (a round pair's labels belong to its round)."""
    for row in rows:
        yield (*row, (row[0] - 1) // store.per_round + 1 if row[0] <= store.round_pairs else None)


def _proposal_rows(store: Store) -> Iterator[tuple]:
    rng = random.Random(3)
    model, prompt = MODELS[0]
    for pair_id in range(1, store.round_pairs + 1):
        status = "agreed" if rng.random() < .8 else "disputed"
        relation = RELATIONS[pair_id % 3] if rng.random() < .75 else rng.choice(RELATIONS)
        yield (pair_id, model, prompt, status, relation, round(rng.uniform(.4, .99), 3),
               f"A {relation} pair: the items are used {'together' if relation == 'complementary' else 'apart'}.",
               START)


def _agreement_rows() -> Iterator[tuple]:
    rng = random.Random(4)
    for n, (model, prompt) in enumerate(MODELS * 2):
        accuracy = round(rng.uniform(.55, .8), 3)
        metrics = {"model": model, "prompt_version": prompt, "pairs": 2000, "accuracy": accuracy,
                   "kappa": round(accuracy - .2, 3), "consistency": .82, "coverage": .97, "gate_coverage": .31,
                   "gate_precision": .962, "gate": {"threshold": .91, "target_precision": .95}}
        yield model, prompt, 2000, _json(metrics), START + timedelta(days=n)


def build(url: str, data_dir: Path, store: Store) -> dict[str, float]:
    """Write the whole store; seconds per part."""
    import psycopg
    from sqlalchemy import text

    from pairloop.settings import Settings
    from pairloop.usecases import graph
    from pairloop.usecases.context import Context
    from pairloop.usecases.training import TrainParams, train_on_store
    from store.db import make_engine

    timings: dict[str, float] = {}
    migrations.upgrade(url)
    dsn = url.replace("+psycopg", "")
    started = time.monotonic()
    with psycopg.connect(dsn) as conn:
        _copy(conn, "items", ("source", "external_id", "title", "category_path", "created_at"), store.item_rows())
        _copy(conn, "pairs", ("item_a_id", "item_b_id", "created_at"), store.pair_rows())
        _copy(conn, "labels", LABEL_COLUMNS, _seed_labels(store, 0, SEED_PAIRS // 2))
    timings["catalogue, pairs, first seed labels"] = time.monotonic() - started

    started = time.monotonic()
    settings = Settings(database_url=url, data_dir=data_dir, api_token=TOKEN)
    engine = make_engine(url)
    with Context(settings, engine_given=engine) as ctx:
        graph.extract_entities(ctx)
        graph.take_snapshot(ctx)
        with psycopg.connect(dsn) as conn:
            _copy(conn, "labels", LABEL_COLUMNS, _seed_labels(store, SEED_PAIRS // 2, SEED_PAIRS - SEED_PAIRS // 2))
        graph.take_snapshot(ctx)
        real = [train_on_store(ctx, TrainParams(seed=k)).version for k in range(4)]
    timings["entities, 2 snapshots, 4 classifiers"] = time.monotonic() - started

    started = time.monotonic()
    closed = store.rounds - store.open_rounds
    versions = [f"c{n + 5:04d}-bench" for n in range(closed - 4)] + real
    with psycopg.connect(dsn) as conn:
        _copy(conn, "classifier_versions", ("version", "created_at", "path", "featuriser", "params", "labels_hash",
                                            "n_labels"),
              ((v, START, f"/absent/{v}/model.joblib", "{}", "{}", "0" * 64, SEED_PAIRS) for v in versions[:-4]))
        _copy(conn, "rounds", ("id", "state", "strategy", "params", "seed", "classifier_version", "ls_project_id",
                               "last_synced_at", "metrics", "created_at", "updated_at", "closed_at",
                               "closed_classifier_version"), _round_rows(store, versions))
        conn.execute("SELECT setval('rounds_id_seq', %s)", (store.rounds,))
        _copy(conn, "round_pairs", ("round_id", "pair_id", "rank", "score", "status", "ls_task_id"),
              _round_pair_rows(store))
        _copy(conn, "labels", (*LABEL_COLUMNS, "round_id"), _with_round(store, _round_labels(store)))
        _copy(conn, "llm_proposals", ("pair_id", "model", "prompt_version", "status", "relation", "confidence",
                                      "rationale", "created_at"), _proposal_rows(store))
        _copy(conn, "agreement_reports", ("model", "prompt_version", "n_pairs", "metrics", "created_at"),
              _agreement_rows())
        _copy(conn, "annotator_names", ("actor", "email", "updated_at"),
              ((f"label-studio:{p}", f"annotator{p}@bench.example", START) for p in range(1, ANNOTATORS + 1)))
        conn.execute("ANALYZE")
    timings["rounds, round pairs, labels, proposals (COPY)"] = time.monotonic() - started
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("rounds", "pairs", "labels", "llm_proposals")}
    engine.dispose()
    print("store: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()), flush=True)
    return timings


def serve(url: str, data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAIRLOOP_")}
    env.update(PAIRLOOP_DATABASE_URL=url, PAIRLOOP_DATA_DIR=str(data_dir), PAIRLOOP_SERVICE_PORT=str(port),
               PAIRLOOP_API_TOKEN=TOKEN)
    return start_serve(env, port)


def login(client: httpx.Client) -> None:
    form = client.get("/dashboard/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    response = client.post("/dashboard/login", data={"csrf_token": csrf, "token": TOKEN, "next": "/"})
    if response.status_code != 303:
        raise RuntimeError(f"login failed: {response.status_code}")


def time_requests(client: httpx.Client, path: str, repeats: int) -> dict[str, float]:
    """The first request's time, then p50 / p99 / max over ``repeats`` more (ms)."""
    def once() -> float:
        started = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
        return elapsed

    cold = once()
    times = sorted(once() for _ in range(repeats))
    return {"cold_ms": round(cold, 1), "p50_ms": round(statistics.median(times), 1),
            "p99_ms": round(times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)], 1),
            "max_ms": round(times[-1], 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--open-rounds", type=int, default=2, help="Rounds still verifying (computed live).")
    parser.add_argument("--repeats", type=int, default=50, help="Timed requests per page after the first.")
    parser.add_argument("--keep", action="store_true", help="Keep the database and print its URL.")
    args = parser.parse_args(argv if argv is not None else [])
    created = create_database()
    if created is None:
        return
    name, url = created
    store = Store(args.rounds, args.pairs, args.labels, args.open_rounds)
    results: dict[str, object] = {"rounds": args.rounds, "pairs": args.pairs, "labels": args.labels,
                                  "open_rounds": args.open_rounds, "repeats": args.repeats}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results["build_s"] = {k: round(v, 1) for k, v in build(url, Path(tmp), store).items()}
            port = free_port()
            process = serve(url, Path(tmp), port)
            load_before = os.getloadavg()[0]
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                    login(client)
                    closed = max(1, store.rounds - store.open_rounds - 10)  # a closed round, not the newest
                    timed = {label: time_requests(client, path.format(closed=closed, open=store.rounds),
                                                  args.repeats)
                             for label, path in ENDPOINTS}
            finally:
                process.terminate()
                process.wait(timeout=30)
            results["requests"] = timed
            results["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    finally:
        if args.keep:
            print(f"kept: {url}")
        else:
            drop_database(name)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dashboard.json").write_text(json.dumps(results, indent=2))
    _report(results)


def _report(results: dict) -> None:
    print(f"PostgreSQL, {results['rounds']} rounds ({results['open_rounds']} open), {results['pairs']:,} pairs, "
          f"{results['labels']:,} labels; {results['repeats']} requests per row after the first, one at a time; "
          f"load average before/after {results['load_average'][0]} / {results['load_average'][1]} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'request':<36} {'first ms':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, t in results["requests"].items():
        print(f"{label:<36} {t['cold_ms']:>9} {t['p50_ms']:>8} {t['p99_ms']:>8} {t['max_ms']:>8}")
    slow = [label for label, t in results["requests"].items() if t["p99_ms"] > 300]
    print("goal p99 ≤ 300 ms: " + ("met by every request" if not slow else "missed by " + ", ".join(slow)))


if __name__ == "__main__":
    main(sys.argv[1:])

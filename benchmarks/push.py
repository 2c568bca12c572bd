"""Push 5,000 tasks with predictions to a real Label Studio: pairloop versus one raw SDK import.

pairloop's push (``annotator.push.push_round_pairs``: reads the pairs' items from the store,
builds tasks and predictions, imports in chunks, records every task id) against the same
task payload sent by a single ``projects.import_tasks`` SDK call, each into a fresh project,
interleaved, in the same run. Goal: pairloop / raw ≤ 1.2.

Starts a local Label Studio in a temporary data directory (the install under
``PAIRLOOP_LABEL_STUDIO_HOME``, default ``<repo>/.pairloop/label-studio``, is reused).

    .venv/bin/python -m benchmarks.push [--tasks 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import migrations
from annotator.label_studio import LabelStudio, Proposal
from annotator.push import model_version, pair_tasks, push_round_pairs
from benchmarks._serve import free_port
from pairloop import studio
from pairloop.settings import Settings
from store.db import make_engine
from store.models import Round, RoundPair
from store.repository import ensure_pairs, item_ids, upsert_items

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
VERSION = model_version("smollm2-135m", "bench-v1")


def _seed(url: str, n: int) -> tuple[int, list[int], dict[int, Proposal]]:
    """``n`` pairs of catalogue-like items, in one round, each with an LLM proposal."""
    engine = make_engine(url)
    with engine.begin() as conn:
        upsert_items(conn, [
            {"source": "bench", "external_id": f"item-{i}", "title": f"Camping item number {i}",
             "category_path": "Sports & Outdoors > Camping & Hiking > Tents",
             "description": "Lightweight, waterproof, two-person. " * 3, "image_url": None}
            for i in range(2 * n)
        ])
        ids = item_ids(conn, "bench", (f"item-{i}" for i in range(2 * n)))
        pairs = ensure_pairs(conn, [(ids[f"item-{2 * i}"], ids[f"item-{2 * i + 1}"]) for i in range(n)])
        round_id = conn.execute(Round.__table__.insert().returning(Round.id),
                                {"strategy": "bench", "params": {}, "seed": 0}).scalar_one()
        pair_ids = list(pairs.values())
        conn.execute(RoundPair.__table__.insert(), [
            {"round_id": round_id, "pair_id": p, "rank": r, "score": 0.5} for r, p in enumerate(pair_ids)
        ])
    engine.dispose()
    proposals = {p: Proposal("complementary", 4, 0.83, "A tent is used with its footprint.") for p in pair_ids}
    return round_id, pair_ids, proposals


def _reset_round(url: str, round_id: int) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(RoundPair.__table__.update().where(RoundPair.round_id == round_id).values(ls_task_id=None))
    engine.dispose()


def _pairloop_push(ls: LabelStudio, url: str, round_id: int, pair_ids, proposals) -> float:
    _reset_round(url, round_id)
    project = ls.create_project("bench pairloop", VERSION)
    engine = make_engine(url)
    start = time.perf_counter()
    report = push_round_pairs(engine, ls, round_id, project, pair_ids, VERSION, proposals)
    elapsed = time.perf_counter() - start
    engine.dispose()
    assert report.pushed == len(pair_ids) and ls.project(project)["task_number"] == len(pair_ids)
    ls.delete_project(project)
    return elapsed


def _raw_import(ls: LabelStudio, client, payload: list[dict]) -> float:
    """The baseline: the already-built payload in one raw SDK call (no store, no chunks)."""
    project = ls.create_project("bench raw", VERSION)
    start = time.perf_counter()
    response = client.projects.import_tasks(id=project, request=payload, return_task_ids=True)
    elapsed = time.perf_counter() - start
    assert len(response.task_ids) == len(payload)
    ls.delete_project(project)
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv if argv is not None else [])
    from label_studio_sdk import LabelStudio as RawClient

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(os.environ.get("PAIRLOOP_LABEL_STUDIO_HOME", REPO / ".pairloop" / "label-studio"))
        settings = Settings(data_dir=Path(tmp), label_studio_home=home, label_studio_url=None,
                            label_studio_port=free_port())
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrations.upgrade(url)
        round_id, pair_ids, proposals = _seed(url, args.tasks)
        print(f"starting Label Studio (install under {home} reused when present) ...", flush=True)
        state = studio.up(settings, die_with_caller=True)
        try:
            ls = LabelStudio(state.url, state.token)
            raw = RawClient(base_url=state.url, api_key=state.token, timeout=600)
            engine = make_engine(url)
            with engine.connect() as conn:
                payload = [t.payload(VERSION) for t in pair_tasks(conn, pair_ids, round_id, proposals)]
            engine.dispose()
            ours, base = [], []
            for _ in range(args.repeats):
                base.append(_raw_import(ls, raw, payload))
                ours.append(_pairloop_push(ls, url, round_id, pair_ids, proposals))
        finally:
            studio.down(settings, purge=True)
    ratio = statistics.median(ours) / statistics.median(base)
    result = {"tasks": args.tasks, "repeats": args.repeats, "pairloop_s": ours, "raw_sdk_s": base,
              "ratio_of_medians": ratio, "goal": "<= 1.2"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "push.json").write_text(json.dumps(result, indent=2))
    print(f"{'tasks':>6} {'pairloop s (median)':>20} {'raw SDK s (median)':>19} {'ratio':>6}")
    print(f"{args.tasks:>6} {statistics.median(ours):>20.2f} {statistics.median(base):>19.2f} {ratio:>6.2f}"
          f"   runs: pairloop {[round(x, 2) for x in ours]}, raw {[round(x, 2) for x in base]}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

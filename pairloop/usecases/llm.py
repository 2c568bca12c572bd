"""LLM proposals for the pairs of a file (`pairloop llm label`), and how far they agree with the
humans' labels in it (`pairloop llm agreement`).

The file's pairs are registered in the store (items and pairs, never its labels) so that the
proposals are cached per pair, model and prompt version: a run that fails half-way resumes.
A prompt version with demonstrations is given, for each pair, the most similar pairs among the
store's human-verified labels (pair features as the classifier computes them), never one of the
file's own pairs.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from annotator.agreement import Judged, accuracy_and_kappa, store_report
from annotator.agreement import agreement as agreement_metrics
from annotator.llm import Labeller, Proposal, propose_cached
from annotator.llm.cache import pair_texts
from annotator.llm.demonstrations import Demonstration, neighbours_vote, retrieve
from annotator.llm.pairs import register_pairs
from annotator.llm.prompts import get_template
from annotator.push import PreannotationPolicy
from annotator.trust_gate import TrustGate, latest_gate
from pairloop.usecases.context import Context
from store.errors import BadInput
from store.files import atomic_open, write_together
from store.formats import read_pairs
from store.formats.records import PairRow
from store.formats.truth import labelled_rows
from store.taxonomy import mirror_fine
from store.verified import MajorityRule, verified_labels

HUMAN_BASES = ("majority", "adjudication")  # verified by people, not auto-accepted from an LLM

OUTPUT_SUFFIXES = (".csv", ".jsonl")
OUTPUT_COLUMNS = ("item_a", "item_b", "item_source", "title_a", "title_b", "status", "proposed_relation",
                  "proposed_fine_code", "confidence", "auto_accept", "rationale", "model", "prompt_version")


class LabelFileResult(BaseModel):
    """What `pairloop llm label` wrote."""

    input: str = Field(description="The pair file.")
    out: str = Field(description="The proposals file (.csv or .jsonl), every pair in file order.")
    pairs: int = Field(description="Pairs labelled (rows of the output).")
    model: str
    prompt_version: str
    status: dict[str, int] = Field(description="Proposals by status: agreed / disputed / unlabelled.")
    auto_accept: int = Field(description="Proposals the trust gate accepts.")
    gate_threshold: float | None = Field(description="The gate's confidence threshold (null: no gate, or closed).")
    gate: TrustGate | None = Field(description="The newest trust gate of this model + prompt version "
                                               "(`pairloop llm agreement` fits one); null: none yet.")


class Confusion(BaseModel):
    labels: list[str] = Field(description="The coarse relations, in row and column order.")
    rows: str = Field(description="Who the rows are (human).")
    columns: str = Field(description="Who the columns are (llm).")
    matrix: list[list[int]]


class ReliabilityBin(BaseModel):
    low: float
    high: float
    n: int
    confidence: float = Field(description="Mean confidence in the bin.")
    accuracy: float = Field(description="Share of correct proposals in the bin.")


class Reliability(BaseModel):
    bins: list[ReliabilityBin]
    ece: float | None = Field(description="Expected calibration error.")


class GateSplit(BaseModel):
    calibration: int = Field(description="Pairs the trust gate was fitted on.")
    held_out: int = Field(description="Pairs it was measured on.")


class AgreementResult(BaseModel):
    """The LLM against the humans' majority labels of a file (see :mod:`annotator.agreement`)."""

    model: str
    prompt_version: str
    pairs: int = Field(description="Pairs with a human majority label.")
    answered: int = Field(description="Pairs whose proposal has a relation.")
    coverage: float = Field(description="answered / pairs.")
    status: dict[str, int] = Field(description="Proposals by status: agreed / disputed / unlabelled.")
    consistency: float = Field(description="Share of pairs whose votes all agreed.")
    accuracy: float | None = Field(description="On the answered pairs.")
    kappa: float | None = Field(description="Cohen's kappa on the answered pairs (null: undefined).")
    accuracy_agreed: float | None = Field(description="Accuracy of the agreed proposals only.")
    majority_baseline: float = Field(description="Accuracy of always answering the humans' most frequent relation.")
    fine_accuracy: float | None = Field(description="Fine FBL code accuracy where humans agreed on one.")
    fine_pairs: int
    human_relations: dict[str, int]
    confusion: Confusion
    calibration: Reliability
    gate: TrustGate = Field(description="The trust gate fitted on the calibration half (threshold null: closed).")
    gate_split: GateSplit
    gate_coverage: float | None = Field(description="Auto-accepted share of the held-out pairs.")
    gate_precision: float | None = Field(description="Precision of the auto-accepted held-out pairs.")
    answer_positions: dict[str, int] = Field(description="Option letters the votes chose (position bias).")
    latency_s_per_pair: float
    prompt_tokens_per_pair: float
    demonstration_pool: int | None = Field(None, description="Human-verified pairs the demonstrations were "
                                           "retrieved from (null: the prompt version shows none).")
    neighbours_accuracy: float | None = Field(None, description="Accuracy of the demonstrations alone: each pair "
                                              "answered with the relation most of its demonstrations carry.")
    neighbours_kappa: float | None = Field(None, description="Cohen's kappa of the demonstrations alone.")
    trained_pairs_left_out: int = Field(0, description="Labelled pairs of the file left out because the adapted "
                                        "proposer was trained on them (`pairloop llm adapt`).")
    preannotation: PreannotationPolicy | None = Field(
        None, description="Whether rounds would now pre-select this model + prompt version's answers in Label "
        "Studio (preselect) or show them as suggestions (suggest), and why: judged on the larger of this report "
        "and the store's verified labels.")
    input: str = Field(description="The pair file.")
    limit: int | None
    rule: MajorityRule = Field(description="The majority rule of the human label.")
    report_id: int = Field(description="The stored agreement report.")
    files: list[str] = Field(description="agreement.json and confusion.png.")


def label_file(ctx: Context, input_path: Path, out: Path, fmt: str | None = None,
               limit: int | None = None) -> LabelFileResult:
    """Propose labels for the (first ``limit``) pairs of a file and write them to ``out``;
    cached proposals are reused, never paid twice. The output's columns are named
    ``proposed_*`` so it is never mistaken for labels."""
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise BadInput("the output file must end in .csv or .jsonl", out)
    rows = list(islice(read_pairs(input_path, fmt), limit))
    labeller, ids, proposals, _ = _propose(ctx, rows)
    with ctx.engine.connect() as conn:
        gate = latest_gate(conn, labeller.model_name, labeller.prompt_version)
    records = [_record(row, proposals[pid], reversed_, gate) for row, (pid, reversed_) in zip(rows, ids, strict=True)]
    _write_records(out, records)
    return LabelFileResult(
        input=str(input_path), out=str(out), pairs=len(records),
        model=labeller.model_name, prompt_version=labeller.prompt_version,
        status=dict(Counter(r["status"] for r in records)),
        auto_accept=sum(r["auto_accept"] for r in records),
        gate_threshold=gate.threshold if gate else None,
        gate=gate,
    )


def agreement(ctx: Context, input_path: Path, fmt: str | None = None, limit: int | None = None,
              rule: MajorityRule | None = None, target_precision: float | None = None,
              out: Path | None = None) -> AgreementResult:
    """Accuracy, Cohen's kappa, confusion matrix and trust gate of the configured LLM against
    the human majority label of each (of the first ``limit`` labelled) pairs of a file.

    The file's labels are not imported. The report is stored per model + prompt version (the
    newest one's gate decides auto-accepts) and written to ``out`` (default:
    DATA_DIR/reports/agreement-<id>) as agreement.json and confusion.png.
    """
    settings = ctx.settings
    rule = rule or settings.majority_rule
    labelled = ((row, truth) for row, truth in labelled_rows(input_path, fmt, rule, settings.min_agreeing)
                if truth is not None)
    pairs = list(islice(labelled, limit))
    if not pairs:
        raise BadInput("no pair in the file has a human majority label", input_path)
    labeller, ids, proposals, pool = _propose(ctx, [row for row, _ in pairs])
    from pairloop.usecases.round_steps import preannotation, trained_pairs

    trained = trained_pairs(ctx, labeller.model_name)
    judged = [
        Judged(proposals[pid], truth.relation.value, _in_file_order(truth.fine_code, reversed_))
        for (_, truth), (pid, reversed_) in zip(pairs, ids, strict=True) if pid not in trained
    ]
    if not judged:
        raise BadInput(f"every pair with a human label is one {labeller.model_name} was trained on: measure it on "
                       "pairs it never saw", input_path)
    metrics = agreement_metrics(judged, target_precision or settings.llm_target_precision)
    metrics.update(input=str(input_path), limit=limit, rule=rule.value, trained_pairs_left_out=len(pairs) - len(judged))
    neighbours = _neighbours_alone(labeller, [pid for pid, _ in ids if pid not in trained],
                                   [t.relation.value for (_, t), (pid, _r) in zip(pairs, ids, strict=True)
                                    if pid not in trained])
    with ctx.engine.begin() as conn:
        report_id = store_report(conn, metrics)
    folder = out or settings.data_path / "reports" / f"agreement-{report_id}"
    json_path, png_path = folder / "agreement.json", folder / "confusion.png"
    policy = preannotation(ctx, metrics["model"], metrics["prompt_version"])
    result = AgreementResult(**metrics, demonstration_pool=pool, neighbours_accuracy=neighbours[0],
                             neighbours_kappa=neighbours[1], preannotation=policy, report_id=report_id,
                             files=[str(json_path), str(png_path)])
    document = json.dumps(result.model_dump(mode="json", exclude={"files"}), indent=2, ensure_ascii=False) + "\n"
    write_together({
        json_path: lambda staging: staging.write_text(document, encoding="utf-8"),
        png_path: lambda staging: _plot(result, staging),
    })
    return result


def _propose(ctx: Context, rows: Sequence[PairRow]
             ) -> tuple[Labeller, list[tuple[int, bool]], dict[int, Proposal], int | None]:
    """Register the rows' pairs and ask the configured LLM about each distinct one (cached); the
    last value is the size of the demonstration pool (None: the prompt version shows none)."""
    with ctx.engine.begin() as conn:
        ids = register_pairs(conn, rows)
    labeller = ctx.labeller()
    unique = list(dict.fromkeys(pid for pid, _ in ids))
    pool = give_demonstrations(ctx, labeller, unique)
    with ctx.progress.task(f"LLM labelling ({labeller.model_name})", len(unique)) as advance:
        proposals = propose_cached(ctx.engine, labeller, unique, advance)
    return labeller, ids, proposals, pool


def give_demonstrations(ctx: Context, labeller: Labeller, asked: Sequence[int]) -> int | None:
    """For a prompt version with k demonstrations, hand the labeller the k store pairs with
    human-verified labels most similar to each asked pair; the asked pairs are never among them.
    Returns the pool size."""
    shots = get_template(labeller.prompt_version).shots
    if not shots:
        return None
    if not hasattr(labeller, "demonstrations"):
        raise BadInput(f"prompt version {labeller.prompt_version} shows demonstrations: only the local "
                       "backend in this process has them (unset PAIRLOOP_RAY_ADDRESS)")
    from classifier.data import store_pairs
    from classifier.encoders import make_encoder
    from classifier.features import PARTS, PairFeaturiser

    settings, excluded = ctx.settings, set(asked)
    with ctx.engine.connect() as conn:
        verified, _ = verified_labels(conn, settings.majority_rule, min_agreeing=settings.min_agreeing)
        pool_ids = [pid for pid, label in verified.items() if label.basis in HUMAN_BASES and pid not in excluded]
        texts = pair_texts(conn, pool_ids)
        pairs = store_pairs(conn, [*pool_ids, *asked])
    if not pool_ids:
        raise BadInput(f"prompt version {labeller.prompt_version} shows demonstrations, and the store has no "
                       "human-verified label outside the pairs asked about (import labels first)")
    featuriser = PairFeaturiser(make_encoder(), PARTS).fit(pairs.items)
    vectors = featuriser.features(featuriser.encode(pairs.items), pairs.ia, pairs.ib)
    pool = [Demonstration.of(texts[pid], verified[pid].relation, verified[pid].fine_code) for pid in pool_ids]
    n = len(pool)
    labeller.demonstrations = retrieve([str(pid) for pid in asked], vectors[n:], pool, vectors[:n], shots)
    return n


def _neighbours_alone(labeller: Labeller, pair_ids: list[int], truth: list[str]) -> tuple[float | None, float | None]:
    """Accuracy and kappa of answering each pair with its demonstrations' majority relation
    (None, None: the prompt version shows none)."""
    shots = get_template(labeller.prompt_version).shots
    if not shots:
        return None, None
    shown = labeller.demonstrations  # type: ignore[attr-defined]  (set by give_demonstrations)
    return accuracy_and_kappa(truth, [neighbours_vote(shown[str(pid)][:shots]).value for pid in pair_ids])


def _in_file_order(fine_code: int | None, reversed_: bool) -> int | None:
    return mirror_fine(fine_code) if fine_code and reversed_ else fine_code


def _record(row: PairRow, p: Proposal, reversed_: bool, gate: TrustGate | None) -> dict[str, Any]:
    """One output row: the file's items in the file's order, the proposal read the same way."""
    return {
        "item_a": row.item_a.external_id, "item_b": row.item_b.external_id,
        "item_source": row.item_a.source, "title_a": row.item_a.title, "title_b": row.item_b.title,
        "status": p.status.value, "proposed_relation": p.relation.value if p.relation else None,
        "proposed_fine_code": _in_file_order(p.fine_code, reversed_), "confidence": p.confidence,
        "auto_accept": bool(gate and gate.accepts(p)), "rationale": p.rationale,
        "model": p.model, "prompt_version": p.prompt_version,
    }


def _write_records(path: Path, records: list[dict[str, Any]]) -> None:
    with atomic_open(path, "w", newline="") as stream:
        if path.suffix.lower() == ".jsonl":
            stream.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        else:
            writer = csv.DictWriter(stream, fieldnames=OUTPUT_COLUMNS)
            writer.writeheader()
            writer.writerows(records)


def _plot(result: AgreementResult, path: Path) -> None:
    """The confusion matrix as a PNG (counts; rows human, columns LLM)."""
    from classifier.evaluation import plot_confusion

    title = f"{result.model} · {result.prompt_version}"
    if result.accuracy is not None:
        title += f"\naccuracy {result.accuracy:.3f}"
        title += f" · kappa {result.kappa:.3f}" if result.kappa is not None else ""
    plot_confusion(result.confusion.matrix, result.confusion.labels, title, path,
                   rows="human majority", columns="LLM")

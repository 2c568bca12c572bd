"""`pairloop llm adapt`: the local model learns from the humans' verdicts (a probe on its hidden
states, :mod:`annotator.llm.probe`), and how far that helps on pairs it never saw.

Training reads the store's human-verified labels (majority or adjudication, never an
auto-accepted LLM label), or the majority labels of labelled pair files. The adapter is saved
under DATA_DIR/models/llm-adapters/<version>/ with the record of what it was trained on.

With a test file, the adapter is measured on the test pairs it was not trained on (a share of
them may be moved into training first: the labels a round would have bought in that domain):
accuracy, Cohen's kappa and the trust gate against the human majority (the figures of
`pairloop llm agreement`), and how its errors go with those of the relation classifier's
committee trained on the same pairs — a proposer that only echoes the classifier adds nothing.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from annotator.llm.base import PairText, Proposal
from pairloop.usecases.context import Context
from store.errors import BadInput

if TYPE_CHECKING:
    from annotator.llm.probe import Adapter, HiddenStates, ProbeRecipe
    from classifier.data import PairSet


class AdaptResult(BaseModel):
    """The adapter `pairloop llm adapt` trained, and what it was trained on."""

    version: str = Field(description="The adapted model's name, which its proposals carry "
                                     "(<base model>+probe-<8 hex of the training set hash>).")
    folder: str = Field(description="Where adapter.json and probe.joblib are.")
    base_model: str
    prompt_version: str = Field(description="The prompt the model reads each pair with.")
    layer: int
    pooling: str
    source: str = Field(description="What it was trained on: `store` or the labelled files.")
    pairs: int = Field(description="Labelled pairs it was trained on.")
    classes: dict[str, int] = Field(description="Its training pairs by relation.")
    training_hash: str = Field(description="Hash of the training pairs, their relations and the recipe.")
    created: str
    seconds: float = Field(description="Wall time, hidden states included (cached ones cost nothing).")
    measurement: Measurement | None = Field(None, description="Present with --test: the held-out figures.")


class ErrorOverlap(BaseModel):
    """Whether the probe fails where the relation classifier fails (both scored on the same pairs)."""

    classifier_accuracy: float
    classifier_kappa: float | None
    probe_error_rate: float
    classifier_error_rate: float
    both_wrong: float = Field(description="Share of pairs both get wrong.")
    both_wrong_if_independent: float = Field(description="probe error rate × classifier error rate.")
    phi: float | None = Field(description="Correlation of the two error indicators (null: one never errs).")
    probe_right_classifier_wrong: float = Field(description="Share of pairs only the probe gets right.")


class Measurement(BaseModel):
    """The adapter against the human majority on test pairs it never saw."""

    test: str
    test_pairs: int = Field(description="Held-out pairs scored.")
    moved_to_training: int = Field(description="Test-file pairs moved into training (--test-train-share).")
    excluded_trained: int = Field(description="Held-out candidates dropped because the training set has them.")
    human_relations: dict[str, int]
    accuracy: float | None
    kappa: float | None
    majority_baseline: float
    confusion: list[list[int]] = Field(description="Rows human, columns probe, in relation order.")
    gate_threshold: float | None = Field(description="Trust gate confidence threshold (null: closed).")
    gate_target_precision: float
    gate_coverage: float | None = Field(description="Auto-accepted share of the gate's held-out half.")
    gate_precision: float | None
    gate_split: dict[str, int]
    precision_at_coverage: dict[str, float] = Field(description="Precision of the most confident 10 / 25 / 50 % of "
                                                    "the held-out proposals: how near the gate's target they come.")
    errors: ErrorOverlap
    report: str = Field(description="The JSON report written.")


AdaptResult.model_rebuild()


def adapt(ctx: Context, inputs: list[Path] | None = None, fmt: str | None = None, limit: int | None = None,
          layer: int | None = None, pooling: str | None = None, max_seconds: float | None = None,
          seed: int = 0, test: Path | None = None, test_limit: int | None = None,
          test_train_share: float = 0.0, out: Path | None = None) -> AdaptResult:
    """Train a probe on the store's human-verified labels (or the labelled ``inputs``), at most
    ``limit`` pairs (a seeded sample) and ``max_seconds`` of model time; save it; with ``test``,
    measure it there on pairs it was not trained on."""
    from annotator.llm.probe import DEFAULT_LAYER, DEFAULT_POOLING, ProbeRecipe

    started = time.monotonic()
    try:
        recipe = ProbeRecipe(layer or DEFAULT_LAYER, pooling or DEFAULT_POOLING)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if not 0.0 <= test_train_share < 1.0:
        raise BadInput("--test-train-share must be at least 0 and below 1")
    if inputs:
        keys, texts, relations, pairset = _file_training(ctx, inputs, fmt, limit, seed)
        source = ", ".join(str(p) for p in inputs)
    else:
        if test is not None:
            raise BadInput("a measurement (--test) trains on labelled files: give them with --input")
        keys, texts, relations = _store_training(ctx, limit, seed)
        pairset, source = None, "store"
    held_out: PairSet | None = None
    moved = excluded = 0
    if test is not None:
        assert pairset is not None
        moved_set, held_out, excluded = _test_split(ctx, test, fmt, test_limit, test_train_share, seed, pairset)
        moved = len(moved_set)
        if moved:
            pairset = _concat(pairset, moved_set)
            keys, texts, relations = keys + moved_set.keys, texts + _texts(moved_set), relations + _labels(moved_set)
    states = _hidden_states(ctx)
    budget = None if max_seconds is None else max(0.0, max_seconds - (time.monotonic() - started))
    adapter = _fit(ctx, states, texts, keys, relations, recipe, source, seed, budget)
    from annotator.llm.probe import ADAPTERS_DIR

    folder = adapter.save(ctx.settings.data_path / ADAPTERS_DIR)
    measurement = None
    if held_out is not None:
        assert pairset is not None and test is not None
        measurement = _measure(ctx, adapter, states, pairset, held_out, test, moved, excluded, seed, out)
    record = adapter.trained_on
    return AdaptResult(
        version=adapter.version, folder=str(folder), base_model=adapter.base_model,
        prompt_version=adapter.prompt_version, layer=recipe.layer, pooling=recipe.pooling, source=source,
        pairs=record["count"], classes=record["classes"], training_hash=record["hash"], created=adapter.created,
        seconds=round(time.monotonic() - started, 1), measurement=measurement,
    )


def _hidden_states(ctx: Context) -> HiddenStates:
    from annotator.llm.probe import HIDDEN_DIR, HiddenStates, is_adapter_version

    settings = ctx.settings
    if settings.llm_backend != "local":
        raise BadInput("the probe reads a local model's hidden states: set PAIRLOOP_LLM_BACKEND=local")
    if is_adapter_version(settings.llm_model):
        raise BadInput(f"PAIRLOOP_LLM_MODEL names an adapter ({settings.llm_model}): an adapter is trained on a "
                       "base model; set PAIRLOOP_LLM_MODEL to the base model (or unset it for SmolLM2)")
    model_cache = (settings.llm_model_cache or settings.data_path / "models").expanduser()
    return HiddenStates(settings.llm_model, settings.data_path / HIDDEN_DIR, model_cache, settings.llm_batch_size)


def _fit(ctx: Context, states: HiddenStates, texts: list[PairText], keys: list[Any], relations: list[str],
         recipe: ProbeRecipe, source: str, seed: int, budget: float | None) -> Adapter:
    from annotator.llm.probe import fit_probe

    with ctx.progress.task("hidden states (training pairs)", len(texts)) as advance:
        try:
            matrix = states.states(texts, advance, budget)
        except TimeoutError as exc:
            raise BadInput(f"{exc}: raise --max-seconds or lower --limit (computed states are cached)") from None
    with ctx.progress.status("fitting the probe"):
        try:
            return fit_probe(matrix, keys, relations, ctx.settings.llm_model, recipe, source, seed)
        except ValueError as exc:
            raise BadInput(str(exc)) from None


def _sample(pairs: PairSet, limit: int | None, seed: int) -> PairSet:
    """A seeded shuffle of the pairs, cut to ``limit``."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    return pairs.subset(order[:limit] if limit else order)


def _read_labelled(ctx: Context, path: Path, fmt: str | None) -> PairSet:
    from classifier.data import read_pair_file

    settings = ctx.settings
    return read_pair_file(path, fmt, settings.majority_rule, settings.min_agreeing).labelled()


def _file_training(ctx: Context, inputs: list[Path], fmt: str | None, limit: int | None, seed: int
                   ) -> tuple[list[Any], list[PairText], list[str], PairSet]:
    pairs = _read_labelled(ctx, inputs[0], fmt)
    for path in inputs[1:]:
        pairs = _concat(pairs, _read_labelled(ctx, path, fmt), dedupe=True)
    if not len(pairs):
        raise BadInput("no pair in the input has a human majority label", inputs[0])
    pairs = _sample(pairs, limit, seed)
    return list(pairs.keys), _texts(pairs), _labels(pairs), pairs


def _store_training(ctx: Context, limit: int | None, seed: int) -> tuple[list[Any], list[PairText], list[str]]:
    """The store's human-verified pairs, each as the local labeller would be shown it."""
    from annotator.llm.cache import pair_texts
    from pairloop.usecases.llm import HUMAN_BASES
    from store.verified import verified_labels

    settings = ctx.settings
    with ctx.engine.connect() as conn:
        verified, _ = verified_labels(conn, settings.majority_rule, min_agreeing=settings.min_agreeing)
        ids = sorted(pid for pid, label in verified.items() if label.basis in HUMAN_BASES)
        if limit:
            ids = sorted(np.random.default_rng(seed).permutation(ids)[:limit].tolist())
        texts = pair_texts(conn, ids)
    if not ids:
        raise BadInput("the store has no human-verified labels to adapt to (import labels or close a round)")
    return ids, [texts[pid] for pid in ids], [verified[pid].relation.value for pid in ids]


def _test_split(ctx: Context, test: Path, fmt: str | None, limit: int | None, share: float, seed: int,
                training: PairSet) -> tuple[PairSet, PairSet, int]:
    """(pairs moved into training, held-out pairs, candidates dropped as already trained on)."""
    pairs = _sample(_read_labelled(ctx, test, fmt), limit, seed)
    trained = set(training.keys)
    fresh = np.array([key not in trained for key in pairs.keys], dtype=bool)
    pairs, excluded = pairs.subset(np.flatnonzero(fresh)), int((~fresh).sum())
    cut = int(round(share * len(pairs)))
    held_out = pairs.subset(np.arange(cut, len(pairs)))
    if not len(held_out):
        raise BadInput("no test pair is left to measure on (every one is trained on)", test)
    return pairs.subset(np.arange(cut)), held_out, excluded


def _concat(a: PairSet, b: PairSet, dedupe: bool = False) -> PairSet:
    """Both sets' pairs (``b``'s item indices shifted onto the joined item list); ``dedupe``
    drops ``b``'s pairs that ``a`` already has."""
    from classifier.data import PairSet

    known = set(a.keys) if dedupe else set()
    keep = np.array([key not in known for key in b.keys], dtype=bool)
    b = b.subset(np.flatnonzero(keep))
    shift = len(a.items)
    return PairSet(a.items + b.items, np.concatenate([a.ia, b.ia + shift]), np.concatenate([a.ib, b.ib + shift]),
                   list(a.keys) + list(b.keys), np.concatenate([a.labels, b.labels]))


def _texts(pairs: PairSet) -> list[PairText]:
    """What the local model is shown about each pair of a file (titles and categories)."""
    texts = []
    for key, ia, ib in zip(pairs.keys, pairs.ia, pairs.ib, strict=True):
        a, b = pairs.items[ia], pairs.items[ib]
        texts.append(PairText(str(key), a.title, b.title, a.category_path, b.category_path))
    return texts


def _labels(pairs: PairSet) -> list[str]:
    return pairs.labels.astype(str).tolist()


def _measure(ctx: Context, adapter: Adapter, states: HiddenStates, training: PairSet, held_out: PairSet,
             test: Path, moved: int, excluded: int, seed: int, out: Path | None) -> Measurement:
    from annotator.agreement import Judged
    from annotator.agreement import agreement as agreement_metrics
    from annotator.llm.probe import ProbeLabeller

    texts, truth = _texts(held_out), _labels(held_out)
    with ctx.progress.task("hidden states (held-out pairs)", len(texts)) as advance:
        states.states(texts, advance)
    proposals = ProbeLabeller(adapter, states).propose(texts)
    metrics = agreement_metrics([Judged(p, t) for p, t in zip(proposals, truth, strict=True)],
                                ctx.settings.llm_target_precision)
    probe_says = [p.relation.value if p.relation else "" for p in proposals]
    with ctx.progress.status("training the relation classifier on the same pairs"):
        committee_says = _committee_predictions(ctx, training, held_out, seed)
    folder = out or ctx.settings.data_path / "reports" / f"llm-adapt-{adapter.version}-{test.stem}"
    measurement = Measurement(
        test=str(test), test_pairs=len(truth), moved_to_training=moved, excluded_trained=excluded,
        human_relations=metrics["human_relations"], accuracy=metrics["accuracy"], kappa=metrics["kappa"],
        majority_baseline=metrics["majority_baseline"], confusion=metrics["confusion"]["matrix"],
        gate_threshold=metrics["gate"]["threshold"], gate_target_precision=metrics["gate"]["target_precision"],
        gate_coverage=metrics["gate_coverage"], gate_precision=metrics["gate_precision"],
        gate_split=metrics["gate_split"], precision_at_coverage=precision_at_coverage(proposals, truth),
        errors=error_overlap(truth, probe_says, committee_says),
        report=str(folder / "measurement.json"),
    )
    _write_report(folder / "measurement.json", adapter, measurement, list(held_out.keys), truth, probe_says,
                  committee_says)
    return measurement


def precision_at_coverage(proposals: list[Proposal], truth: list[str],
                          shares: tuple[float, ...] = (0.1, 0.25, 0.5)) -> dict[str, float]:
    """Share of correct proposals among the most confident ``share`` of them, per share."""
    ranked = sorted(zip(proposals, truth, strict=True), key=lambda pt: -(pt[0].confidence or 0.0))
    correct = np.array([p.relation is not None and p.relation.value == t for p, t in ranked], dtype=bool)
    return {f"{share:.0%}": float(correct[: max(1, round(share * len(ranked)))].mean()) for share in shares}


def _committee_predictions(ctx: Context, training: PairSet, held_out: PairSet, seed: int) -> list[str]:
    """The project's relation classifier (the committee, configured features) fitted on the
    probe's training pairs, predicting the held-out ones."""
    from classifier.committee import RelationCommittee
    from classifier.model import RelationModel, make_featuriser

    model = RelationModel.train(training, make_featuriser(ctx.settings.features), RelationCommittee(random_state=seed))
    return model.predict(held_out).astype(str).tolist()


def error_overlap(truth: list[str], probe: list[str], classifier: list[str]) -> ErrorOverlap:
    """How the probe's errors go with the classifier's on the same pairs."""
    from annotator.agreement import accuracy_and_kappa

    t = np.asarray(truth)
    e_p, e_c = np.asarray(probe) != t, np.asarray(classifier) != t
    accuracy, kappa = accuracy_and_kappa(truth, classifier)
    phi = None
    if 0 < e_p.mean() < 1 and 0 < e_c.mean() < 1:
        phi = float(np.corrcoef(e_p.astype(float), e_c.astype(float))[0, 1])
    return ErrorOverlap(
        classifier_accuracy=float(accuracy or 0.0), classifier_kappa=kappa,
        probe_error_rate=float(e_p.mean()), classifier_error_rate=float(e_c.mean()),
        both_wrong=float((e_p & e_c).mean()), both_wrong_if_independent=float(e_p.mean() * e_c.mean()),
        phi=None if phi is None or math.isnan(phi) else phi,
        probe_right_classifier_wrong=float((~e_p & e_c).mean()),
    )


def _write_report(path: Path, adapter: Adapter, m: Measurement, keys: list[Any], truth: list[str],
                  probe: list[str], classifier: list[str]) -> None:
    from annotator.llm.probe import plain_key
    from store.files import atomic_open

    record = {k: v for k, v in adapter.record().items() if k != "trained_on"}
    record["trained_on"] = {k: v for k, v in adapter.trained_on.items() if k != "pairs"}
    document = {"adapter": record, "measurement": m.model_dump(mode="json"),
                "pairs": [{"key": plain_key(k), "human": h, "probe": p, "classifier": c}
                          for k, h, p, c in zip(keys, truth, probe, classifier, strict=True)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as stream:
        json.dump(document, stream, indent=1, ensure_ascii=False)

"""Verified labels that are likely wrong (`pairloop labels suspects`, and the flags `pairloop round
status` shows), and how well they are found when the wrong labels are known (`pairloop labels
noise-experiment`).

Flagging reads the store and changes nothing in it: a flagged pair keeps every label it has,
and only an adjudicator's ruling can change its verified label (see :mod:`store.verified`);
``labels suspects --send`` routes flagged pairs to a round's adjudication project
(:func:`pairloop.usecases.rounds.adjudicate_suspects`). A flagging is kept in
``$DATA_DIR/reports/label-flags/``, keyed by the verified labels, folds, seed and encoder, so that
asking again before a verified label changes trains no committee.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from pairloop.usecases.context import Context
from store.errors import BadInput

if TYPE_CHECKING:
    from classifier.data import PairSet


class SuspectPair(BaseModel):
    pair_id: int
    given: str = Field(description="Its verified label.")
    suggested: str = Field(description="The committee's most probable relation, out of fold.")
    quality: float = Field(description="Label-quality score under the ranking (0..1, lower: more likely wrong).")


class AnnotatorFlags(BaseModel):
    """What the flags say of one annotator's answers (``labels suspects --by-annotator``)."""

    actor: str = Field(description="The store's actor id, e.g. label-studio:7.")
    name: str = Field(description="Its Label Studio e-mail (cached in the store by the rounds), else its actor id.")
    answers: int = Field(description="Its current answers (relations) on the verified pairs examined.")
    against_verified: int = Field(description="Of those, answers other than the pair's verified label "
                                               "(outvoted or overruled).")
    on_flagged: int = Field(description="Its answers on flagged pairs.")
    same_as_flagged: int = Field(description="Answers on flagged pairs equal to the flagged (likely wrong) label.")
    against_suggestion: int = Field(description="Answers on flagged pairs other than the committee's suggestion.")
    doubted_share: float = Field(description="against_suggestion / answers: the share of its answers the flags "
                                             "doubt.")


class SuspectsResult(BaseModel):
    """Verified labels confident learning finds likely wrong, most suspect first."""

    verified: int = Field(description="Verified labels examined.")
    classes: dict[str, int] = Field(description="Verified labels per relation.")
    folds: int
    seed: int
    features: str = Field(description="The item encoder of the committees.")
    ranked_by: str = Field(description="The label-quality score that ranks and selects the flags.")
    flagged: int = Field(description="Pairs flagged.")
    suspects: list[SuspectPair]
    annotators: list[AnnotatorFlags] | None = Field(
        None, description="Per annotator, most doubted first (asked with --by-annotator; never kept with the "
                          "flagging, as answers can change without changing a verified label).")


def _check_folds(labelled: PairSet, folds: int, what: str) -> None:
    """BadInput unless every class can be split over ``folds`` folds."""
    if folds < 2:
        raise BadInput(f"--folds must be at least 2, got {folds}")
    small = {name: n for name, n in labelled.classes().items() if n < folds}
    if small:
        few = ", ".join(f"{name} ({n})" for name, n in small.items())
        raise BadInput(f"{what}: {folds} folds need at least {folds} labels per relation; {few} have fewer",
                       labelled.source)


def _verified(ctx: Context) -> PairSet:
    from classifier.data import store_labelled_pairs

    with ctx.engine.connect() as conn:
        return store_labelled_pairs(conn, ctx.settings.majority_rule, ctx.settings.min_agreeing).labelled()


def label_suspects(ctx: Context, folds: int = 5, seed: int = 0, by_annotator: bool = False) -> SuspectsResult:
    """Score every verified pair with committees that never saw it and flag the likely wrong labels;
    ``by_annotator``: say, per annotator, how often the flags doubt its answers."""
    from classifier.data import require_labelled

    labelled = require_labelled(_verified(ctx), "the store's verified labels")
    _check_folds(labelled, folds, "the store's verified labels")
    result = _suspects(ctx, labelled, folds, seed)
    if by_annotator:
        result = result.model_copy(update={"annotators": _by_annotator(ctx, labelled, result.suspects)})
    return result


def _by_annotator(ctx: Context, labelled: PairSet, suspects: list[SuspectPair]) -> list[AnnotatorFlags]:
    """Each annotator's current answers on the verified pairs against their verified labels and the
    flags, most doubted first. Adjudications are left out: a ruling is the verified label."""
    from store.repository import cached_names
    from store.verified import human_answers

    verified = dict(zip(labelled.keys, labelled.labels, strict=True))
    flagged = {s.pair_id: s for s in suspects}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    with ctx.engine.connect() as conn:
        answers = human_answers(conn)
        names = cached_names(conn, sorted({a.actor for pair in answers.values() for a in pair}))
    for pair_id, given in verified.items():
        for answer in answers.get(pair_id, ()):
            if answer.relation is None:  # "unsure": no relation to weigh
                continue
            said, tally = answer.relation.value, counts[answer.actor]
            tally["answers"] += 1
            tally["against_verified"] += said != given
            if (suspect := flagged.get(pair_id)) is not None:
                tally["on_flagged"] += 1
                tally["same_as_flagged"] += said == suspect.given
                tally["against_suggestion"] += said != suspect.suggested
    counted = ("answers", "against_verified", "on_flagged", "same_as_flagged", "against_suggestion")
    rows = [AnnotatorFlags(actor=actor, name=names.get(actor, actor), **{field: t[field] for field in counted},
                           doubted_share=round(t["against_suggestion"] / t["answers"], 4))
            for actor, t in counts.items()]
    return sorted(rows, key=lambda row: (-row.doubted_share, -row.answers, row.actor))


def _suspects(ctx: Context, labelled: PairSet, folds: int, seed: int) -> SuspectsResult:
    """The flags of these verified labels: the kept ones when this set was flagged before."""
    from classifier.data import labels_hash
    from classifier.label_errors import DEFAULT_RANKING, find_suspects, out_of_fold_proba
    from store.files import atomic_open

    features = ctx.settings.features
    kept = (ctx.settings.data_path / "reports" / "label-flags"
            / f"{labels_hash(labelled)[:20]}-{features}-folds{folds}-seed{seed}.json")
    if kept.exists():
        return SuspectsResult.model_validate_json(kept.read_text(encoding="utf-8"))
    with ctx.progress.task(f"{folds}-fold committees", folds) as on_fold:
        proba, classes = out_of_fold_proba(labelled, folds, features, seed, on_fold=on_fold)
    with ctx.progress.status("finding label issues"):
        suspects = find_suspects(labelled, proba, classes, DEFAULT_RANKING)
    result = SuspectsResult(
        verified=len(labelled), classes=labelled.classes(), folds=folds, seed=seed, features=features,
        ranked_by=DEFAULT_RANKING, flagged=len(suspects),
        suspects=[SuspectPair(pair_id=int(s.key), given=s.given, suggested=s.suggested, quality=round(s.quality, 4))
                  for s in suspects])
    kept.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(kept, "w", encoding="utf-8") as stream:
        stream.write(result.model_dump_json())
    return result


MIN_FLAG_LABELS = 50  # verified labels below which flags are not computed (too few to learn a committee)


class LabelFlags(BaseModel):
    """Label-error flags over the store's verified labels, as a round's status shows them."""

    verified: int = Field(description="Verified labels in the store.")
    computed: bool = Field(description="False: too few verified labels to flag any (see note).")
    note: str | None = Field(None, description="Why no flags were computed.")
    flagged: int | None = Field(None, description="Verified labels flagged as likely wrong.")
    suspects: list[SuspectPair] = Field(default_factory=list, description="The flagged pairs, most suspect first.")


def label_flags(ctx: Context, folds: int = 5, seed: int = 0) -> LabelFlags:
    """The flags of :func:`label_suspects` when the verified labels are enough (at least
    ``MIN_FLAG_LABELS``, two relations, ``folds`` of each); otherwise a note saying so, never an error."""
    labelled = _verified(ctx)
    classes = labelled.classes()
    if len(labelled) < MIN_FLAG_LABELS or len(classes) < 2 or min(classes.values()) < folds:
        return LabelFlags(verified=len(labelled), computed=False,
                          note=f"not enough verified labels: {len(labelled)} ({_inline(classes) or 'none'}); flags "
                               f"need {MIN_FLAG_LABELS}, of two relations or more, {folds} of each")
    result = _suspects(ctx, labelled, folds, seed)
    return LabelFlags(verified=result.verified, computed=True, flagged=result.flagged, suspects=result.suspects)


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))


class NoiseRunResult(BaseModel):
    share: float = Field(description="Share of the file's majority labels flipped.")
    seed: int = Field(description="Which labels were flipped, and the folds.")
    ranked_by: str
    wrong: int = Field(description="Labels flipped.")
    flagged: int
    found: int = Field(description="Flagged labels that were flipped.")
    precision: float
    recall: float
    average_precision: float = Field(description="Of the whole ranking at finding the flipped labels.")


class NoiseExperiment(BaseModel):
    """Precision and recall of the flags on a labelled file with labels flipped on purpose (also results.json)."""

    input: str
    labelled: int = Field(description="Pairs of the file with a majority label.")
    folds: int
    features: str
    runs: list[NoiseRunResult]
    json_path: str = Field(alias="json", description="The written results.json.")
    png_path: str = Field(alias="png", description="The written results.png.")

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)  # "json" is a BaseModel method


def noise_experiment(ctx: Context, input: Path, shares: list[float], seeds: list[int], out: Path,
                     folds: int = 5) -> NoiseExperiment:
    """Flip each share of the file's majority labels under each seed, flag, and measure precision
    and recall against the flipped labels; write results.json and results.png in ``out``."""
    from classifier.data import read_pair_file, require_labelled
    from classifier.label_errors import noise_runs, plot_noise_runs
    from store.files import write_together

    if not shares or any(not 0.0 < s < 1.0 for s in shares):
        raise BadInput(f"--shares must each lie strictly between 0 and 1, got {shares}")
    if not seeds:
        raise BadInput("--seeds names no seed")
    settings = ctx.settings
    with ctx.progress.status(f"reading {input.name}"):
        labelled = require_labelled(read_pair_file(input, None, settings.majority_rule, settings.min_agreeing),
                                    str(input))
    _check_folds(labelled, folds, str(input))
    runs = []
    with ctx.progress.task("noise runs (folds)", len(shares) * len(seeds) * folds) as on_fold:
        for share in shares:
            for seed in seeds:
                runs += noise_runs(labelled, share, seed, folds, settings.features, on_fold=on_fold)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "results.json", out / "results.png"
    result = NoiseExperiment(
        input=str(input), labelled=len(labelled), folds=folds, features=settings.features, json=str(json_path),
        png=str(png_path),
        runs=[NoiseRunResult(share=r.share, seed=r.seed, ranked_by=r.ranked_by, wrong=r.detection.wrong,
                             flagged=r.detection.flagged, found=r.detection.found,
                             precision=round(r.detection.precision, 4), recall=round(r.detection.recall, 4),
                             average_precision=round(r.average_precision, 4)) for r in runs])
    write_together({
        json_path: lambda staging: staging.write_text(result.model_dump_json(indent=2), encoding="utf-8"),
        png_path: lambda staging: plot_noise_runs(runs, staging, f"label-error flags on {input.name} "
                                                  f"({len(labelled):,} labels, {folds} folds)"),
    })
    return result
